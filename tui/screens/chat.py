"""The chat playground: talk to the optimized ONNX model, with or without its LoRA adapter.

The model loads and answers in thread workers (the engine's `ChatSession`); tokens reach the widgets only
as `ChatTokens` messages, batched about 20 times a second, and `MarkdownStream` coalesces them further.
Esc stops an answer after the current token.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input, Select, Static

from engine.chat import (
    BASE_ADAPTER,
    AnswerStream,
    ChatError,
    ChatModel,
    ChatSession,
    Conversation,
    default_model,
    list_conversations,
    load_conversation,
    resolve_model,
    save_conversation,
)
from engine.paths import LabPaths
from engine.runs import models
from tui import keymap
from tui.messages import (
    ChatAnswerDone,
    ChatAnswerFailed,
    ChatIdle,
    ChatModelLoaded,
    ChatModelMissing,
    ChatTokens,
)
from tui.screens.chat_actions import ChatActions
from tui.widgets.chat_input import PromptInput
from tui.widgets.chat_view import AnswerBox, ChatLog, CompareRow, UserPrompt
from tui.widgets.field_input import FieldInput
from tui.widgets.mode_bar import ModeBar

if TYPE_CHECKING:
    from engine.chat import Device

DEMO_NOTE = (
    "This is the demo model: a tiny model trained for seconds on the bundled set, so its answers are "
    "gibberish. That is expected: it shows the pipeline works end to end. The phi35 profile gives real answers."
)
HISTORY_CHATS = 20  # ↑ walks the questions of this many newest saved chats
EMPTY_STATE = "No optimized model yet: run the pipeline first (press 1 for the Checklist, then r)"
BATCH_S = 0.05
MODEL_CHECK_S = 2.0  # how often the screen looks whether its model's folder is still there
Mode = Literal["ask", "edit", "regenerate", "compare"]


class ChatScreen(ChatActions, Screen[None]):
    """Prompt, streamed answers with timings, adapter switch, system prompt, compare, save and export."""

    SCOPE = "chat"
    BINDINGS = keymap.bindings("chat")
    AUTO_FOCUS = "#chat-input"
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
        self.session: ChatSession | None = None
        """The conversation with the loaded model; None until it is loaded."""
        self.busy = False
        """True while an answer is being generated."""
        self.compare = False
        """When on, a prompt is answered by the base model and the adapter side by side."""
        self._cancel: threading.Event | None = None
        self._editing = False
        self.reading = False
        """True while a saved chat is shown to read, with no model loaded to continue it."""
        self._turns: list[tuple[UserPrompt, AnswerBox]] = []
        self._boxes = 0
        self._replaced: str | None = None
        """The label of a model whose folder was removed, while the screen loads another in its place."""

    @property
    def lab(self) -> LabPaths:
        lab = getattr(self.app, "lab", None)
        return lab if isinstance(lab, LabPaths) else LabPaths.at()

    def compose(self) -> ComposeResult:
        yield ModeBar("chat")
        with Horizontal(id="chat-bar"):
            yield Select([(BASE_ADAPTER, BASE_ADAPTER)], allow_blank=False, id="chat-adapter", disabled=True)
            yield FieldInput(placeholder="System prompt (optional)", id="chat-system")
        yield ChatLog(id="chat-log")
        yield Static(EMPTY_STATE, id="chat-empty")
        yield PromptInput(
            placeholder="Ask something · Enter sends · ↑/↓ history · alt+1–6 (or Esc, 1–6): screens",
            id="chat-input",
        )
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(ChatLog).border_title = "Loading the model…"
        self.query_one("#chat-adapter", Select).tooltip = "Answer with this adapter (base: without adapter)"
        self.query_one(PromptInput).focus()
        self.load_model()
        self.load_history()
        self.set_interval(MODEL_CHECK_S, self.check_model)

    def on_screen_resume(self) -> None:
        self.check_model()
        if not self.has_class("-empty"):
            self.query_one(PromptInput).focus()
        if self.session is None and self.has_class("-empty"):
            self.load_model()  # a run may have finished meanwhile

    @work(thread=True, exclusive=True, group="chat-history", exit_on_error=False, name="read chat history")
    def load_history(self) -> None:
        """The questions of the newest saved chats, so ↑ finds them after a restart."""

        prompts: list[str] = []
        for path in reversed(list_conversations(self.lab)[:HISTORY_CHATS]):
            try:
                chat = load_conversation(path)
            except ChatError:
                continue
            prompts += [t.user for t in chat.turns] + [c.prompt for c in chat.comparisons]
        self.app.call_from_thread(self._add_history, prompts)

    def _add_history(self, prompts: list[str]) -> None:
        prompt = self.query_one(PromptInput)
        prompt.history = [*prompts, *(p for p in prompt.history if p not in prompts)]
        prompt.remember("")

    # --- loading -----------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="chat-load", exit_on_error=False, name="load chat model")
    def load_model(self) -> None:
        lab = self.lab
        wanted = self._model_dir or getattr(models.default_model(lab), "model_dir", None)  # a sweep: its best branch
        try:
            info = resolve_model(lab, wanted) if wanted else default_model(lab)
        except ChatError as exc:
            self.post_message(ChatModelMissing(EMPTY_STATE if self._model_dir is None else str(exc)))
            return
        try:
            model = ChatModel(info, lab=lab, device=self._device)
        except ChatError as exc:
            self.post_message(ChatModelMissing(str(exc)))
            return
        self.post_message(ChatModelLoaded(model, model.notice))

    def on_chat_model_missing(self, message: ChatModelMissing) -> None:
        if self._replaced is not None:
            self._replaced = None
            return  # the screen keeps saying which model was removed
        self.query_one("#chat-empty", Static).update(message.reason)
        if not self.reading:  # a saved chat being read stays on screen
            self.add_class("-empty")

    async def on_chat_model_loaded(self, message: ChatModelLoaded) -> None:
        model: ChatModel = message.model
        if self._model_dir is not None and model.info.path != self._model_dir:
            return  # loaded before another model was chosen (F3): that one comes next
        self.session = ChatSession(model, self._initial)
        if self.reading:  # the saved chat shown to read is drawn again below, now to continue
            self.reading = False
            self._turns.clear()
            await self.query_one(ChatLog).remove_children()
        self.remove_class("-empty")
        select = self.query_one("#chat-adapter", Select)
        select.set_options([(name, name) for name in model.adapter_names])
        select.value = self.session.adapter
        select.disabled = False
        self.query_one("#chat-system", Input).value = self.session.conversation.system_prompt
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
        log = self.query_one(ChatLog)
        widgets = []
        for turn in conversation.turns:
            user = UserPrompt(turn.user)
            box = AnswerBox(turn.answer.adapter if turn.answer else conversation.adapter, turn.answer)
            self._turns.append((user, box))
            widgets += [user, box]
        for comparison in conversation.comparisons:
            widgets += [
                UserPrompt(comparison.prompt),
                CompareRow(
                    AnswerBox(comparison.left.adapter, comparison.left),
                    AnswerBox(comparison.right.adapter, comparison.right),
                ),
            ]
        if widgets:
            await log.mount_all(widgets)
        self._add_history([w.text for w in widgets if isinstance(w, UserPrompt)])

    def _update_titles(self) -> None:
        if self.session is None:
            return
        model = self.session.model
        log = self.query_one(ChatLog)
        log.border_title = f"{model.info.label} · {model.device}"
        mode = (
            f"compare: base | {self._compare_adapter()}"
            if self.compare
            else f"adapter: {self.session.adapter}"
        )
        options = self.session.options
        sampling = (
            "greedy" if not options.sampling
            else f"temp {options.temperature:g} · top-p {options.top_p:g} · top-k {options.top_k}"
        )  # fmt: skip
        sampling += f" · max {options.max_length} tokens ({keymap.key_label(self.app, 'chat.sampling')})"
        log.border_subtitle = mode + " · " + sampling + (" · answering… (Esc stops)" if self.busy else "")

    # --- settings ------------------------------------------------------------------------------------

    @on(Select.Changed, "#chat-adapter")
    def _adapter_changed(self, event: Select.Changed) -> None:
        if self.session is None or not isinstance(event.value, str) or event.value == self.session.adapter:
            return
        try:
            self.session.set_adapter(event.value)
        except ChatError as exc:
            self.notify(str(exc), severity="error")
        self._update_titles()

    @on(Input.Changed, "#chat-system")
    def _system_changed(self, event: Input.Changed) -> None:
        if self.session is not None:
            self.session.set_system_prompt(event.value)

    # --- sending -------------------------------------------------------------------------------------

    @on(Input.Submitted, "#chat-input")
    async def _submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if self.check_model():
            return
        if self.session is None:
            self.notify("The model is not loaded yet", severity="warning")
            return
        if self.busy:
            self.notify("Still answering: Esc stops it", severity="warning")
            return
        if not text:
            return
        prompt = self.query_one(PromptInput)
        prompt.remember(text)
        prompt.value = ""
        if self.compare:
            await self._start_compare(text)
        elif self._editing:
            self._editing = False
            user, box = self._turns.pop()
            await user.remove()
            await box.remove()
            await self._start_turn(text, "edit")
        else:
            await self._start_turn(text, "ask")

    def _new_box(self, adapter: str) -> AnswerBox:
        self._boxes += 1
        return AnswerBox(adapter, id=f"answer-{self._boxes}")

    async def _start_turn(self, text: str, mode: Mode) -> None:
        assert self.session is not None
        user, box = UserPrompt(text), self._new_box(self.session.adapter)
        self._turns.append((user, box))
        await self.query_one(ChatLog).mount_all([user, box])
        self._generate(mode, text, [box.id or ""])

    def _compare_adapter(self) -> str:
        assert self.session is not None
        if self.session.adapter != BASE_ADAPTER:
            return self.session.adapter
        others = [n for n in self.session.model.adapter_names if n != BASE_ADAPTER]
        return others[0] if others else BASE_ADAPTER

    async def _start_compare(self, text: str) -> None:
        right = self._compare_adapter()
        left_box, right_box = self._new_box(BASE_ADAPTER), self._new_box(right)
        await self.query_one(ChatLog).mount_all([UserPrompt(text), CompareRow(left_box, right_box)])
        self._generate("compare", text, [left_box.id or "", right_box.id or ""], right)

    def _generate(self, mode: Mode, text: str, boxes: list[str], right: str = BASE_ADAPTER) -> None:
        self.busy = True
        self._cancel = threading.Event()
        self._update_titles()
        self._answer_worker(mode, text, boxes, right, self._cancel)

    @work(thread=True, exclusive=True, group="chat", exit_on_error=False, name="chat answer")
    def _answer_worker(
        self, mode: Mode, text: str, boxes: list[str], right: str, cancel: threading.Event
    ) -> None:
        session = self.session
        assert session is not None
        try:
            if mode == "compare":
                streams = list(session.compare_streams(text, BASE_ADAPTER, right, cancel))
            elif mode == "edit":
                streams = [session.edit_last(text, cancel)]
            elif mode == "regenerate":
                streams = [session.regenerate(cancel)]
            else:
                streams = [session.ask(text, cancel)]
            for box, stream in zip(boxes, streams, strict=True):
                self._pump(box, stream)
        except ChatError as exc:
            for box in boxes:
                self.post_message(ChatAnswerFailed(box, str(exc)))
        finally:
            self.post_message(ChatIdle())

    def _pump(self, box: str, stream: AnswerStream) -> None:
        """Forward the stream's text in batches (one message per BATCH_S at most), then the answer."""
        pending: list[str] = []
        last = time.monotonic()
        for text in stream:
            pending.append(text)
            now = time.monotonic()
            if now - last >= BATCH_S:
                self.post_message(ChatTokens(box, "".join(pending)))
                pending.clear()
                last = now
        if pending:
            self.post_message(ChatTokens(box, "".join(pending)))
        if stream.answer is not None:
            self.post_message(ChatAnswerDone(box, stream.answer))

    def _box(self, box_id: str) -> AnswerBox | None:
        found = self.query(f"#{box_id}").results(AnswerBox)
        return next(iter(found), None)

    async def on_chat_tokens(self, message: ChatTokens) -> None:
        box = self._box(message.box)
        if box is not None:
            await box.append(message.text)

    async def on_chat_answer_done(self, message: ChatAnswerDone) -> None:
        box = self._box(message.box)
        if box is not None:
            await box.finish(message.answer)

    async def on_chat_answer_failed(self, message: ChatAnswerFailed) -> None:
        box = self._box(message.box)
        if box is None:
            return
        await box.fail(message.reason)
        if self._turns and self._turns[-1][1] is box:
            self._turns.pop()  # the session did not record this turn

    def on_chat_idle(self, message: ChatIdle) -> None:
        self.busy = False
        self._cancel = None
        self._update_titles()
        if self.session is not None and (
            self.session.conversation.turns or self.session.conversation.comparisons
        ):
            try:  # every answered chat is kept in the lab; Ctrl+S also exports it
                save_conversation(self.session.conversation, self.lab)
            except OSError as exc:
                self.notify(
                    f"The chat could not be saved in {self.lab.chats}: {exc.strerror}", severity="warning"
                )
