"""The chat screen driven with keys on the real demo model, and its looks at two terminal sizes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.app import App
from textual.message import Message
from textual.widgets import Input, OptionList, Select, Static

from engine.chat import Answer, AnswerStats, ChatSession, Conversation, SamplingOptions, Turn
from engine.paths import LabPaths
from tui.messages import ChatTokens
from tui.screens.chat import ChatScreen
from tui.screens.chat_offers import EMPTY_STATE
from tui.widgets.chat_view import AnswerBox, CompareRow

pytestmark = pytest.mark.pipeline

RUN_ID = "20260101-000000"
LONG = SamplingOptions(greedy=True, max_length=400, min_length=400)
SHORT = SamplingOptions(greedy=True, max_length=16)


class ChatApp(App[None]):
    """The chat screen alone, with the `lab` attribute the real app gives its screens."""

    TITLE = "olive-lab"

    def __init__(self, lab: LabPaths, screen: ChatScreen | None = None) -> None:
        super().__init__()
        self.lab = lab
        self._chat = screen or ChatScreen(device="cpu")

    def on_mount(self) -> None:
        self.push_screen(self._chat)


@pytest.fixture
def chat_lab(demo_run: Path, tmp_path: Path) -> LabPaths:
    """A lab holding a copy of the demo run under a fixed id (its model, data and state)."""
    run = tmp_path / "lab" / "runs" / RUN_ID
    shutil.copytree(demo_run / "optimize" / "output", run / "optimize" / "output")
    shutil.copy(demo_run / "state.json", run / "state.json")
    return LabPaths.at(tmp_path / "lab")


async def until(pilot, condition, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("the chat screen did not get there in time")


def session_of(screen: ChatScreen) -> ChatSession:
    assert screen.session is not None, "no model loaded"
    return screen.session


def answers(screen: ChatScreen) -> list[AnswerBox]:
    return list(screen.query(AnswerBox))


def footer(screen: ChatScreen) -> set[str]:
    from textual.widgets._footer import FooterKey

    return {key.action for key in screen.query(FooterKey)}


MODEL_KEYS = {"stop", "regenerate", "save"}  # offered in the footer only while a model is loaded (Esc: the
# prompt's "leave field" while it has the focus)


async def test_a_prompt_gets_a_streamed_answer_with_its_stats_and_esc_stops_one(chat_lab: LabPaths) -> None:
    messages: list[Message] = []
    app = ChatApp(chat_lab)
    async with app.run_test(size=(100, 30), message_hook=messages.append) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await until(pilot, lambda: screen.session is not None)
        assert screen.session is not None
        screen.session.set_options(LONG)
        await pilot.press(*"Rome?", "enter")
        await until(pilot, lambda: not screen.busy)
        [box] = answers(screen)
        assert box.answer is not None and box.answer.finish == "length"
        assert box.text.strip() and box.answer.stats.answer_tokens == 400
        stats = str(box.query_one(".answer-stats", Static).render())
        assert "first token" in stats and "tok/s" in stats and "answer 400 tokens" in stats
        batches = [m for m in messages if isinstance(m, ChatTokens)]
        assert 1 <= len(batches) < 400  # batched, not one message per token

        with screen.session.model.lock:  # the model is busy elsewhere (a golden check), so the answer waits
            await pilot.press(*"Oslo?", "enter")
            assert screen.busy
            await pilot.press("escape")
        await until(pilot, lambda: not screen.busy)
        last = answers(screen)[-1]
        assert last.answer is not None and last.answer.finish == "cancelled"
        assert last.answer.stats.answer_tokens < 400
        assert "stopped" in str(last.query_one(".answer-stats", Static).render())
        assert [t.answer.finish for t in screen.session.conversation.turns if t.answer] == [
            "length",
            "cancelled",
        ]


async def test_history_regenerate_edit_copy_compare_and_save(chat_lab: LabPaths) -> None:
    app = ChatApp(chat_lab)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await until(pilot, lambda: screen.session is not None)
        session = screen.session
        assert session is not None
        session.set_options(SHORT)
        await pilot.press(*"Rome?", "enter")
        await until(pilot, lambda: not screen.busy)

        prompt = screen.query_one("#chat-input", Input)
        await pilot.press("up")
        assert prompt.value == "Rome?"
        await pilot.press("down")
        assert prompt.value == ""

        await pilot.press("ctrl+r")
        await until(pilot, lambda: not screen.busy)
        assert len(answers(screen)) == 2 and len(session.conversation.turns) == 1
        assert answers(screen)[0].has_class("-earlier")  # regenerate keeps the earlier answer

        await pilot.press("ctrl+o")
        assert prompt.value == "Rome?"
        await pilot.press("backspace", *" in May", "enter")
        await until(pilot, lambda: not screen.busy)
        assert [t.user for t in session.conversation.turns] == ["Rome in May"]

        await pilot.press("ctrl+y")
        assert app.clipboard == answers(screen)[-1].text.strip()

        screen.query_one("#chat-adapter", Select).value = "base"
        await pilot.pause()
        assert session.adapter == "base"
        await pilot.press("f6")  # compare re-asks the last question of both
        await until(pilot, lambda: bool(screen.query(CompareRow)) and not screen.busy)
        await pilot.press(*"Lima?", "enter")
        await until(pilot, lambda: len(session.conversation.comparisons) == 2 and not screen.busy)
        row = list(screen.query(CompareRow))[-1]
        assert row.left.adapter == "base"
        assert row.right.adapter in session.model.adapter_names and row.right.adapter != "base"
        assert row.left.answer is not None and row.right.answer is not None
        assert [c.prompt for c in session.conversation.comparisons] == ["Rome in May", "Lima?"]

        await pilot.press("ctrl+s")
        saved = sorted(p.suffix for p in chat_lab.chats.iterdir())
        assert saved == [".json", ".jsonl", ".md"]


async def test_without_a_model_the_screen_says_how_to_get_one(tmp_path: Path) -> None:
    app = ChatApp(LabPaths.at(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        empty = app.screen.query_one("#chat-empty", Static)
        await until(pilot, lambda: empty.display)
        assert str(empty.render()) == EMPTY_STATE


def fixed_conversation() -> Conversation:
    def answer(text: str, adapter: str, tokens: int, ttft: float, rate: float) -> Answer:
        stats = AnswerStats(
            prompt_tokens=14,
            answer_tokens=tokens,
            ttft_s=ttft,
            total_s=1.0,
            tokens_per_s=rate,
            trimmed_turns=0,
        )
        return Answer(text=text, adapter=adapter, finish="stop", stats=stats)

    return Conversation(
        id="20260101-000000-000",
        adapter="adapter",
        system_prompt="You are a travel guide.",
        turns=[
            Turn(
                user="What should I see in Lisbon?",
                answer=answer("Start with the **old town**, then walk to the river.", "adapter", 12, 0.012, 41.5),
            ),
            Turn(
                user="And in the evening?",
                answer=answer("Try the *street food* markets.", "base", 7, 0.009, 38.0),
            ),
        ],
    )


def snapshot_app(chat_lab: LabPaths) -> ChatApp:
    return ChatApp(chat_lab, ChatScreen(conversation=fixed_conversation(), device="cpu"))


async def settle(pilot) -> None:
    screen = pilot.app.screen
    await until(pilot, lambda: screen.session is not None and len(answers(screen)) == 2)
    for widget in screen.query(Input):
        widget.cursor_blink = False
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_chat_screen_looks(snap_compare, chat_lab: LabPaths, size: tuple[int, int]) -> None:
    assert snap_compare(snapshot_app(chat_lab), terminal_size=size, run_before=settle)


async def test_alternatives_compare_sampling_saved_chats_and_history_after_a_restart(chat_lab: LabPaths) -> None:
    from types import SimpleNamespace

    from tui.screens.sampling import SamplingScreen
    from tui.screens.saved_chats import SavedChatsScreen
    from tui.widgets.chat_input import PromptInput

    app = ChatApp(chat_lab)
    app.config = SimpleNamespace(model="demo")  # type: ignore[attr-defined]
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await until(pilot, lambda: screen.session is not None)
        assert isinstance(screen.focused, PromptInput)  # a typed question lands in the prompt
        assert "gibberish" in str(screen.query_one("#chat-note", Static).render())
        session_of(screen).set_options(SHORT)
        await pilot.press(*"Rome?", "enter")
        await until(pilot, lambda: not screen.busy)
        await pilot.press("f6")  # compare asks the last question of both at once
        await until(pilot, lambda: bool(screen.query(CompareRow)) and not screen.busy)
        assert screen.query_one(CompareRow).left.answer is not None
        await pilot.press("f6", "ctrl+t")
        await pilot.pause()
        assert isinstance(app.screen, SamplingScreen)
        await pilot.press("ctrl+u", *"0.2", "enter")
        await pilot.pause()
        assert session_of(screen).options.temperature == 0.2
        assert "temp 0.2" in str(screen.query_one("#chat-log").border_subtitle)
        await pilot.press("ctrl+s")
        await pilot.press("escape", "ctrl+l")
        await pilot.pause(0.3)
        assert isinstance(app.screen, SavedChatsScreen)
        await pilot.press("r", *"Trip to Rome", "enter")
        await pilot.pause(0.2)
        assert "Trip to Rome" in str(app.screen.query_one("#saved-list", OptionList).get_option_at_index(0).prompt)
        await pilot.press("enter")
        await until(pilot, lambda: app.screen is screen and session_of(screen).conversation.name == "Trip to Rome")
        assert session_of(screen).conversation.options.temperature == 0.2  # saved with the chat

    again = ChatApp(chat_lab)
    async with again.run_test(size=(100, 30)) as pilot:
        screen = again.screen
        assert isinstance(screen, ChatScreen)
        await until(pilot, lambda: screen.session is not None)
        await pilot.pause(0.3)
        await pilot.press("up")
        assert screen.query_one("#chat-input", Input).value == "Rome?"  # ↑ history survives a restart


async def test_a_removed_runs_model_is_not_answered_from(chat_lab: LabPaths) -> None:
    """The run whose model the chat uses is removed (pruned): the chat says so instead of answering from the
    deleted model, and moves to the newest model left; with none left it keeps saying the model was removed."""
    older = chat_lab.run_dir("20251231-000000")
    shutil.copytree(chat_lab.run_dir(RUN_ID), older)
    app = ChatApp(chat_lab)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await until(pilot, lambda: screen.session is not None)
        assert screen.session is not None and session_of(screen).model.info.run_id == RUN_ID
        await until(pilot, lambda: {"regenerate", "save"} <= footer(screen))
        await pilot.press(*"Rome?")
        shutil.rmtree(chat_lab.run_dir(RUN_ID))
        await pilot.press("enter")
        await pilot.pause()
        assert not answers(screen)
        said = lambda: "\n".join(n.message for n in app._notifications)  # noqa: E731
        assert f"The model of run {RUN_ID} was removed" in said()
        await until(pilot, lambda: screen.session is not None)
        assert screen.session is not None and session_of(screen).model.info.run_id == older.name
        assert f"the chat now answers from run {older.name}" in said()
        shutil.rmtree(older)
        await until(pilot, lambda: screen.has_class("-empty"))
        assert f"The model of run {older.name} was removed" in str(screen.query_one("#chat-empty", Static).render())
        assert screen.session is None
        await until(pilot, lambda: not MODEL_KEYS & footer(screen))  # the keys went with the model


async def test_a_removed_chosen_model_moves_to_the_newest_left_and_with_none_left_the_prompt_is_left(
    chat_lab: LabPaths,
) -> None:
    """A model chosen by name (F3, a sweep's `c`) is removed: the chat moves to the newest model left in the lab
    and says so; with none left it says how to get one, and the hidden prompt does not keep the focus."""
    from tui.widgets.chat_input import PromptInput

    older = chat_lab.run_dir("20251231-000000")
    shutil.copytree(chat_lab.run_dir(RUN_ID), older)
    chosen = chat_lab.run_dir(RUN_ID) / "optimize" / "output"
    app = ChatApp(chat_lab, ChatScreen(model_dir=chosen, device="cpu"))
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await until(pilot, lambda: screen.session is not None)
        assert session_of(screen).model.info.path == chosen
        shutil.rmtree(chat_lab.run_dir(RUN_ID))
        await until(pilot, lambda: screen.session is not None and session_of(screen).model.info.run_id == older.name)
        said = lambda: "\n".join(n.message for n in app._notifications)  # noqa: E731
        await until(pilot, lambda: f"the chat now answers from run {older.name}" in said())
        assert isinstance(screen.focused, PromptInput)
        shutil.rmtree(older)
        await until(pilot, lambda: screen.has_class("-empty") and "no model left" in said())
        empty = str(screen.query_one("#chat-empty", Static).render())
        assert f"The model of run {older.name} was removed" in empty and "no model left: run the pipeline" in empty
        assert screen.focused is None  # the prompt is hidden: keys reach the app again
        await pilot.resize_terminal(90, 28)
        await pilot.pause(0.5)
        assert "no such folder" not in str(screen.query_one("#chat-empty", Static).render())


async def test_closing_a_dialog_leaves_the_focus_where_it_was_not_in_a_prompt_that_was_left(
    chat_lab: LabPaths,
) -> None:
    """Esc leaves the prompt; F2 (the message history) opens and closes: a digit then switches screens, it is not
    typed into the prompt. From inside the prompt, a dialog closed gives the focus back to it."""
    from tui.app import OliveLabApp
    from tui.widgets.chat_input import PromptInput

    app = OliveLabApp(chat_lab, checks=lambda lab, config: [])
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("6")
        await until(pilot, lambda: isinstance(app.screen, ChatScreen) and app.screen.session is not None)
        screen = app.screen
        assert isinstance(screen, ChatScreen) and isinstance(screen.focused, PromptInput)
        await pilot.press("f2", "escape")
        await until(pilot, lambda: app.screen is screen)
        assert isinstance(screen.focused, PromptInput)  # it was in the prompt: it goes back there
        await pilot.press("escape", "escape")
        assert screen.focused is None
        await pilot.press("f2")
        await until(pilot, lambda: app.screen is not screen)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        assert screen.focused is None
        await pilot.press("1")
        await until(pilot, lambda: app.current_mode != "chat")
        assert screen.query_one(PromptInput).value == ""
        await pilot.press("6")  # back from another screen, the prompt takes the typing at once
        await until(pilot, lambda: app.screen is screen)
        await pilot.pause()
        assert isinstance(screen.focused, PromptInput)


async def test_a_pasted_multi_line_text_is_joined_into_the_prompt_not_cut(chat_lab: LabPaths) -> None:
    """The prompt is one line: pasted lines are joined with spaces (blank lines dropped), and it says so."""
    from textual import events

    from tui.widgets.chat_input import PromptInput

    app = ChatApp(chat_lab)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        screen = app.screen
        assert isinstance(screen, ChatScreen)
        await until(pilot, lambda: screen.session is not None)
        prompt = screen.query_one(PromptInput)
        await pilot.press(*"Plan: ")
        prompt.post_message(events.Paste("Rome in May,\n\n  three days\r\non foot.\n"))
        await pilot.pause()
        assert prompt.value == "Plan: Rome in May, three days on foot."
        assert prompt.cursor_position == len(prompt.value)
        assert any("3 lines" in n.message for n in app._notifications)
        prompt.post_message(events.Paste("Lisbon"))
        await pilot.pause()
        assert prompt.value.endswith("foot.Lisbon")


async def test_the_model_picker_starts_on_the_current_model_and_shows_its_own_keys(chat_lab: LabPaths) -> None:
    from textual.widgets._footer import FooterKey

    from tui.widgets.model_picker import ModelPicker

    older = chat_lab.run_dir("20251231-000000")
    shutil.copytree(chat_lab.run_dir(RUN_ID), older)
    app = ChatApp(chat_lab, ChatScreen(model_dir=older / "optimize" / "output", device="cpu"))
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        await until(pilot, lambda: isinstance(screen, ChatScreen) and screen.session is not None)
        await pilot.press("f3")
        await until(pilot, lambda: isinstance(app.screen, ModelPicker))
        await pilot.pause()
        picker = app.screen
        options = picker.query_one(OptionList)
        assert options.highlighted == 1 and str(options.options[1].prompt).startswith("▶")
        keys = [key.description for key in picker.query(FooterKey)]
        assert "Choose" in keys and "Close" in keys and "Stop" not in keys
        await pilot.press("up", "enter")
        await until(pilot, lambda: app.screen is screen)
        assert isinstance(screen, ChatScreen)
        await until(pilot, lambda: screen.session is not None and session_of(screen).model.info.run_id == RUN_ID)
