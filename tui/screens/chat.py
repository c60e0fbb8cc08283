"""The chat playground: talk to the optimized ONNX model, with or without its LoRA adapter.

The screen holds the session with the loaded model and wires the widgets that own the rest: the settings bar
(adapter, system prompt), the transcript and its turns, the prompt line with its history, the answerer (a
worker whose tokens come back as `ChatTokens` messages, which `MarkdownStream` coalesces further; Esc stops an
answer after the current token) and the chat's dialogs and files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.reactive import var
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, Static

from engine.chat import (
    BASE_ADAPTER,
    ChatModel,
    ChatSession,
    Conversation,
    is_model_dir,
    save_conversation,
)
from engine.paths import LabPaths
from tui import keymap
from tui.messages import (
    ChatAnswerDone,
    ChatAnswerFailed,
    ChatIdle,
    ChatModelLoaded,
    ChatModelMissing,
    ChatTokens,
)
from tui.screens.chat_offers import DEMO_NOTE, EMPTY_STATE, NONE_LEFT, not_ready, offered
from tui.widgets.chat_answer import Answerer, Mode
from tui.widgets.chat_bar import ChatBar
from tui.widgets.chat_dialogs import NOT_LOADED, ChatDialogs
from tui.widgets.chat_input import PromptInput
from tui.widgets.chat_model import ModelLoader
from tui.widgets.chat_view import AnswerBox, ChatLog
from tui.widgets.mode_bar import ModeBar

if TYPE_CHECKING:
    from engine.chat import Device

MODEL_CHECK_S = 2.0  # how often the screen looks whether its model's folder is still there


class ChatScreen(Screen[None]):
    """Prompt, streamed answers with timings, adapter switch, system prompt, compare, save and export."""

    SCOPE = "chat"
    BINDINGS = keymap.bindings("chat")
    AUTO_FOCUS = ""  # the screen focuses the prompt itself, not when a dialog closes over a prompt that was left
    session: var[ChatSession | None] = var(None, bindings=True)
    """The conversation with the loaded model; None until it is loaded (the footer offers its keys then)."""
    DEFAULT_CSS = """
    #chat-bar { height: 3; }
    #chat-adapter { width: 28; }
    #chat-system { width: 1fr; }
    #chat-log { height: 1fr; border: round $primary 50%; padding: 0 1; }
    #chat-empty { height: 1fr; content-align: center middle; color: $text-muted; display: none; }
    ChatScreen.-empty #chat-empty { display: block; }
    ChatScreen.-empty #chat-log, ChatScreen.-empty #chat-bar, ChatScreen.-empty #chat-input { display: none; }
    UserPrompt { margin: 1 0 0 0; color: $accent; }
    AnswerBox { height: auto; margin: 0 0 0 2; }
    AnswerBox .answer-title { color: $primary; }
    AnswerBox Markdown { margin: 0; padding: 0; }
    AnswerBox .answer-stats { color: $text-muted; }
    AnswerBox.-failed .answer-title { color: $error; }
    AnswerBox.-earlier { opacity: 60%; }
    #chat-note { height: auto; color: $text-muted; padding: 0 1; }
    CompareRow { height: auto; }
    CompareRow AnswerBox { width: 1fr; margin: 0 1 0 0; }
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        conversation: Conversation | None = None,
        device: Device = "auto",
    ) -> None:
        """Args:
        model_dir: a model or run folder (default: the lab's newest finished run).
        conversation: a saved chat to continue.
        device: where to run the model.
        """
        super().__init__()
        self._model_dir = model_dir
        self._initial = conversation
        self._device: Device = device
        self.reading = False
        """True while a saved chat is shown to read, with no model loaded to continue it."""
        self._replaced: str | None = None
        """The label of a model whose folder was removed, while the screen loads another in its place."""
        self._under_dialog = False
        """A dialog (F2, F3, sampling...) opened over the screen: when it closes, the focus stays where it was."""

    @property
    def lab(self) -> LabPaths:
        lab = getattr(self.app, "lab", None)
        return lab if isinstance(lab, LabPaths) else LabPaths.at()

    @property
    def busy(self) -> bool:
        """True while an answer is being generated."""
        return self.query_one(Answerer).busy

    def compose(self) -> ComposeResult:
        yield ModeBar("chat")
        yield ChatBar(id="chat-bar")
        yield ChatLog(id="chat-log")
        yield Static(EMPTY_STATE, id="chat-empty")
        yield PromptInput(
            placeholder="Ask something · Enter sends · ↑/↓ history · alt+1–6 (or Esc, 1–6): screens",
            id="chat-input",
        )
        yield Answerer()
        yield ModelLoader()
        yield ChatDialogs(self.lab)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(ChatLog).border_title = "Loading the model…"
        prompt = self.query_one(PromptInput)
        prompt.focus()
        self.load_model()
        prompt.load_history(self.lab)
        self.set_interval(MODEL_CHECK_S, self.check_model)

    def on_screen_suspend(self) -> None:
        self._under_dialog = isinstance(self.app.screen, ModalScreen)

    def on_screen_resume(self) -> None:
        self.check_model()
        if not self.has_class("-empty") and not self._under_dialog:  # back from another screen: type at once
            self.query_one(PromptInput).focus()
        if self.session is None and self.has_class("-empty"):
            self.load_model()  # a run may have finished meanwhile

    # --- loading -----------------------------------------------------------------------------------

    def load_model(self) -> None:
        self.query_one(ModelLoader).load(self.lab, self._model_dir, self._device, EMPTY_STATE)

    def on_chat_model_missing(self, message: ChatModelMissing) -> None:
        reason = message.reason
        if self._replaced is not None:  # the removed model was the last one
            reason, self._replaced = f"The model of {self._replaced} was removed: {NONE_LEFT}", None
            self.notify(reason, severity="warning", timeout=20)
        self.query_one("#chat-empty", Static).update(reason)
        if not self.reading:  # a saved chat being read stays on screen
            self._show_empty()

    def _show_empty(self) -> None:
        """No model to talk to: the prompt is hidden, so it lets the focus go (keys reach the app again)."""
        self.add_class("-empty")
        if isinstance(self.focused, PromptInput):
            self.set_focus(None)

    async def on_chat_model_loaded(self, message: ChatModelLoaded) -> None:
        model: ChatModel = message.model
        if self._model_dir is not None and model.info.path != self._model_dir:
            return  # loaded before another model was chosen (F3): that one comes next
        self.session = ChatSession(model, self._initial)
        if self.reading:  # the saved chat shown to read is drawn again below, now to continue
            self.reading = False
            await self.query_one(ChatLog).clear()
        self.remove_class("-empty")
        self.query_one(ChatBar).show(self.session)
        self._update_titles()
        self.query_one(PromptInput).focus()  # typing goes to the question, never to the system prompt
        if self._replaced is not None:
            self.notify(f"The model of {self._replaced} was removed: the chat now answers from {model.info.label}")
            self._replaced = None
        for note in [message.notice, *model.problems.values()]:
            if note:
                self.notify(note, severity="warning", timeout=15)
        if getattr(getattr(self.app, "config", None), "model", None) == "demo" and model.info.run_dir is not None:
            await self.query_one(ChatLog).mount(Static(DEMO_NOTE, id="chat-note"))
        await self._show_conversation(self.session.conversation)

    async def _show_conversation(self, conversation: Conversation) -> None:
        prompts = await self.query_one(ChatLog).show_conversation(conversation)
        self.query_one(PromptInput).add_history(prompts)

    def check_model(self) -> bool:
        """Whether the loaded model's folder was removed (its run pruned or deleted). Then the chat stops
        answering from it, says so, and loads the newest model left in the lab (`engine.runs.models`), even when
        the removed one had been chosen by name."""
        if self.session is None or is_model_dir(self.session.model.info.path):
            return False
        info = self.session.model.info
        self._end_session()
        gone = f"The model of {info.label} was removed ({info.path} is gone): this chat no longer answers from it."
        self.query_one("#chat-empty", Static).update(gone)
        self._show_empty()
        self._model_dir, self._replaced = None, info.label
        self.load_model()
        self.notify(gone, severity="warning", timeout=20)
        return True

    def use_model(self, model_dir: Path) -> None:
        """Answer from `model_dir` from now on: the conversation shown ends, the model loads."""
        if self.session is not None and self.session.model.info.path == model_dir:
            return
        self._model_dir = model_dir
        self._end_session()
        self.query_one(ChatLog).border_title = "Loading the model…"
        shown = model_dir.relative_to(self.lab.root) if model_dir.is_relative_to(self.lab.root) else model_dir
        self.notify(f"Loading {shown}…")
        self.load_model()

    def _end_session(self) -> None:
        """The conversation shown ends: its answer stops, the transcript empties, no model answers."""
        self.query_one(Answerer).stop()
        self.session, self._initial = None, None
        self.query_one(ChatBar).session = None
        log = self.query_one(ChatLog)
        log.turns.clear()
        log.remove_children()

    def _update_titles(self) -> None:
        if self.session is not None:
            compare, key = self.query_one(ChatBar).compared(), keymap.key_label(self.app, "chat.sampling")
            self.query_one(ChatLog).show_titles(self.session, compare, busy=self.busy, sampling_key=key)

    def on_chat_bar_adapter_changed(self, message: ChatBar.AdapterChanged) -> None:
        self._update_titles()

    def on_chat_dialogs_sampling_chosen(self, message: ChatDialogs.SamplingChosen) -> None:
        self._update_titles()

    def on_chat_dialogs_model_chosen(self, message: ChatDialogs.ModelChosen) -> None:
        self.use_model(message.model_dir)

    # --- sending -------------------------------------------------------------------------------------

    @on(Input.Submitted, "#chat-input")
    async def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if self.check_model():
            return
        if self.session is None:
            self.notify(NOT_LOADED, severity="warning")
            return
        if self.busy:
            self.notify("Still answering: Esc stops it", severity="warning")
            return
        if not text:
            return
        prompt = self.query_one(PromptInput)
        prompt.remember(text)
        prompt.value = ""
        log = self.query_one(ChatLog)
        if (right := self.query_one(ChatBar).compared()) is not None:
            await self._start_compare(text, right)
        elif prompt.editing:
            prompt.editing = False
            await log.drop_last_turn()
            self._generate("edit", text, [await log.add_turn(text, self.session.adapter)])
        else:
            self._generate("ask", text, [await log.add_turn(text, self.session.adapter)])

    async def _start_compare(self, text: str, right: str) -> None:
        boxes = await self.query_one(ChatLog).add_compare(text, BASE_ADAPTER, right)
        self._generate("compare", text, boxes, right)

    def _generate(self, mode: Mode, text: str, boxes: list[AnswerBox], right: str = BASE_ADAPTER) -> None:
        assert self.session is not None
        self.query_one(Answerer).start(self.session, mode, text, [box.id or "" for box in boxes], right)
        self._update_titles()

    @on(ChatTokens)
    @on(ChatAnswerDone)
    @on(ChatAnswerFailed)
    async def _answer_arrived(self, message: ChatTokens | ChatAnswerDone | ChatAnswerFailed) -> None:
        await self.query_one(ChatLog).receive(message)

    def on_chat_idle(self, message: ChatIdle) -> None:
        self._update_titles()
        if self.session is not None and (self.session.conversation.turns or self.session.conversation.comparisons):
            try:  # every answered chat is kept in the lab; Ctrl+S also exports it
                save_conversation(self.session.conversation, self.lab)
            except OSError as exc:
                self.notify(f"The chat could not be saved in {self.lab.chats}: {exc.strerror}", severity="warning")

    # --- key actions ---------------------------------------------------------------------------------

    def action_stop(self) -> None:
        if self.query_one(Answerer).stop() or self.query_one(PromptInput).stop_editing():
            return
        if self.focused is not None:
            self.set_focus(None)  # out of the prompt, so 1-6 and the other keys reach the app again
            prompt_key = keymap.key_label(self.app, "chat.prompt")
            self.notify(f"Left the prompt: {prompt_key} goes back to it", timeout=4)

    def action_focus_prompt(self) -> None:
        self.query_one(PromptInput).focus()

    def action_scroll_log(self, pages: int) -> None:
        log = self.query_one(ChatLog)
        (log.scroll_page_down if pages > 0 else log.scroll_page_up)()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return offered(action, loaded=self.session is not None, in_prompt=isinstance(self.focused, PromptInput))

    def _ready(self, what: str) -> bool:
        asked = bool(self.query_one(ChatLog).turns)
        if reason := not_ready(self.session, busy=self.busy, asked=asked, what=what):
            self.notify(reason, severity="warning")
        return reason is None

    async def action_regenerate(self) -> None:
        if not self._ready("regenerate") or self.session is None:
            return
        log = self.query_one(ChatLog)
        box = await log.answer_again(self.session.adapter)  # the conversation goes on from the new answer
        self._generate("regenerate", log.last_prompt or "", [box])

    def action_edit_last(self) -> None:
        if not self._ready("edit"):
            return
        self.query_one(PromptInput).edit(self.query_one(ChatLog).last_prompt or "")
        self.notify("Editing the last prompt: Enter sends it again, Esc leaves it as it was")

    def action_copy_answer(self) -> None:
        text = self.query_one(ChatLog).last_answer()
        if not text:
            self.notify("No answer to copy yet", severity="warning")
            return
        self.app.copy_to_clipboard(text)
        self.notify("Answer copied to the clipboard")

    async def action_toggle_compare(self) -> None:
        if self.session is None:
            return
        right = self.query_one(ChatBar).compared() if self.query_one(ChatBar).toggle_compare() else None
        self._update_titles()
        last = self.query_one(ChatLog).last_prompt
        if right is not None and last is not None and not self.busy:
            await self._start_compare(last, right)  # the last question, asked of both

    async def action_new_chat(self) -> None:
        if self.session is None or self.busy:
            return
        self.session.reset()
        await self.query_one(ChatLog).clear()
        self._update_titles()

    def action_sampling(self) -> None:
        self.query_one(ChatDialogs).sampling(self.session)

    def action_saved_chats(self) -> None:
        self.query_one(ChatDialogs).saved_chats()

    def action_pick_model(self) -> None:
        current = self.session.model.info.path if self.session is not None else self._model_dir
        self.query_one(ChatDialogs).pick_model(current)

    def action_save(self) -> None:
        self.query_one(ChatDialogs).save(self.session)

    def action_golden_check(self) -> None:
        self.query_one(ChatDialogs).golden_check(self.session, self.busy)

    def action_export_model(self) -> None:
        self.query_one(ChatDialogs).export_model(self.session)

    def on_chat_dialogs_saved_chat_chosen(self, message: ChatDialogs.SavedChatChosen) -> None:
        self.run_worker(self._reopen(message.conversation), exclusive=True, group="chat-reopen")

    async def _reopen(self, conversation: Conversation) -> None:
        if self.busy:
            self.notify("Let the answer finish first (Esc stops it)", severity="warning")
            return
        log = self.query_one(ChatLog)
        await log.clear()
        if self.session is None:  # no model: the saved chat is shown to read, and continues once one loads
            self._initial, self.reading = conversation, True
            self.remove_class("-empty")
            await self._show_conversation(conversation)
            log.border_title = f"{conversation.title} · read-only: no model loaded"
            self.notify(f"Reopened to read: {conversation.title} (no model is loaded to answer)")
            return
        self.session = ChatSession(self.session.model, conversation)
        self.query_one(ChatBar).session = self.session
        await self._show_conversation(conversation)
        self._update_titles()
        self.notify(f"Reopened: {conversation.title}")
