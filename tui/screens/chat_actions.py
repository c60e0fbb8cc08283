# (a mixin: the screen that inherits it provides the widgets, messages and the attributes used here)
"""The chat screen's actions: stop, regenerate, edit, copy, compare, save, golden check, new chat, sampling
settings and saved chats.

A mixin of `ChatScreen`, kept apart so the screen file stays about loading the model and streaming answers.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from textual.widgets import Static

from engine.chat import (
    BASE_ADAPTER,
    ChatError,
    ChatSession,
    export_conversation,
    is_model_dir,
    load_conversation,
    save_conversation,
)
from tui import keymap
from tui.widgets.chat_input import PromptInput
from tui.widgets.chat_view import AnswerBox, ChatLog

if TYPE_CHECKING:
    from pathlib import Path

    from textual.screen import Screen

    from engine.chat import ChatSession, Conversation
    from engine.paths import LabPaths
    from tui.widgets.chat_view import UserPrompt

    _Screen = Screen[None]
else:
    _Screen = object  # a mixin of the chat screen; typed as the screen it is part of


class ChatActions(_Screen):
    """Actions for a screen with `session`, `busy`, `compare`, `_turns` and the chat widgets."""

    if TYPE_CHECKING:  # provided by the chat screen

        @property
        def lab(self) -> LabPaths: ...
        def _new_box(self, adapter: str) -> AnswerBox: ...
        def _generate(self, mode: Any, text: str, boxes: list[str], right: str = ...) -> None: ...
        def _compare_adapter(self) -> str: ...
        def _update_titles(self) -> None: ...
        async def _start_compare(self, text: str) -> None: ...
        async def _show_conversation(self, conversation: Conversation) -> None: ...
        def load_model(self) -> Any: ...

    session: ChatSession | None
    _initial: Conversation | None
    reading: bool
    busy: bool
    compare: bool
    _cancel: threading.Event | None
    _editing: bool
    _turns: list[tuple[UserPrompt, AnswerBox]]
    _model_dir: Path | None
    _replaced: str | None

    def check_model(self) -> bool:
        """Whether the loaded model's folder was removed (its run pruned or deleted). Then the chat stops
        answering from it, says so, and (unless a model was named) loads the newest model left in the lab."""
        if self.session is None or is_model_dir(self.session.model.info.path):
            return False
        info = self.session.model.info
        if self._cancel is not None:
            self._cancel.set()
        self.session, self._initial = None, None
        self._turns.clear()
        self.query_one(ChatLog).remove_children()
        gone = f"The model of {info.label} was removed ({info.path} is gone): this chat no longer answers from it."
        self.query_one("#chat-empty", Static).update(gone)
        self.add_class("-empty")
        if self._model_dir is None:
            self._replaced = info.label
            self.load_model()
        self.notify(gone, severity="warning", timeout=20)
        return True

    def action_stop(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
        elif self._editing:
            self._editing = False
            self.query_one(PromptInput).value = ""
        elif self.focused is not None:
            self.set_focus(None)  # out of the prompt, so 1-6 and the other keys reach the app again
            prompt_key = keymap.key_label(self.app, "chat.prompt")
            self.notify(f"Left the prompt: {prompt_key} goes back to it", timeout=4)

    def action_focus_prompt(self) -> None:
        self.query_one(PromptInput).focus()

    def action_scroll_log(self, pages: int) -> None:
        log = self.query_one(ChatLog)
        if pages > 0:
            log.scroll_page_down()
        else:
            log.scroll_page_up()

    def _ready(self, what: str) -> bool:
        if self.session is None:
            self.notify("The model is not loaded yet", severity="warning")
        elif self.busy:
            self.notify(f"Still answering: Esc stops it, then {what}", severity="warning")
        elif not self._turns:
            self.notify("Nothing asked yet", severity="warning")
        else:
            return True
        return False

    async def action_regenerate(self) -> None:
        if not self._ready("regenerate") or self.session is None:
            return
        user, old = self._turns[-1]
        box = self._new_box(self.session.adapter)
        await self.query_one(ChatLog).mount(box, after=old)
        old.mark_earlier()  # kept on screen as an alternative; the conversation goes on from the new one
        self._turns[-1] = (user, box)
        self._generate("regenerate", user.text, [box.id or ""])

    def action_edit_last(self) -> None:
        if not self._ready("edit"):
            return
        prompt = self.query_one(PromptInput)
        prompt.value = self._turns[-1][0].text
        prompt.cursor_position = len(prompt.value)
        prompt.focus()
        self._editing = True
        self.notify("Editing the last prompt: Enter sends it again, Esc leaves it as it was")

    def action_copy_answer(self) -> None:
        boxes = [b for b in self.query(AnswerBox) if b.text.strip()]
        if not boxes:
            self.notify("No answer to copy yet", severity="warning")
            return
        self.app.copy_to_clipboard(boxes[-1].text.strip())
        self.notify("Answer copied to the clipboard")

    async def action_toggle_compare(self) -> None:
        if self.session is None:
            return
        self.compare = not self.compare
        if self.compare and self._compare_adapter() == BASE_ADAPTER:
            self.compare = False
            self.notify("This model has no adapter to compare with the base model", severity="warning")
        self._update_titles()
        if self.compare and self._turns and not self.busy:
            await self._start_compare(self._turns[-1][0].text)  # the last question, asked of both

    def action_sampling(self) -> None:
        """Temperature, top-p, top-k and answer length in a small form; kept with the conversation."""
        if self.session is None:
            self.notify("The model is not loaded yet", severity="warning")
            return
        from tui.screens.sampling import SamplingScreen

        def chosen(options: Any) -> None:
            if options is not None and self.session is not None:
                self.session.set_options(options)
                self._update_titles()

        self.app.push_screen(SamplingScreen(self.session.options), chosen)

    def action_saved_chats(self) -> None:
        """The saved conversations: Enter reopens one, r renames, d deletes."""
        from tui.screens.saved_chats import SavedChatsScreen

        def chosen(path: Any) -> None:
            if path is not None:
                self.run_worker(self._reopen(path), exclusive=True, group="chat-reopen")

        self.app.push_screen(SavedChatsScreen(self.lab), chosen)

    async def _reopen(self, path: Any) -> None:

        if self.busy:
            self.notify("Let the answer finish first (Esc stops it)", severity="warning")
            return
        try:
            conversation = load_conversation(path)
        except ChatError as exc:
            self.notify(str(exc), severity="error")
            return
        self._turns.clear()
        log = self.query_one(ChatLog)
        await log.remove_children()
        if self.session is None:  # no model: the saved chat is shown to read, and continues once one loads
            self._initial, self.reading = conversation, True
            self.remove_class("-empty")
            await self._show_conversation(conversation)
            log.border_title = f"{conversation.title} · read-only: no model loaded"
            self.notify(f"Reopened to read: {conversation.title} (no model is loaded to answer)")
            return
        self.session = ChatSession(self.session.model, conversation)
        await self._show_conversation(conversation)
        self._update_titles()
        self.notify(f"Reopened: {conversation.title}")

    def action_save(self) -> None:
        if self.session is None:
            return
        conversation = self.session.conversation
        try:
            saved = save_conversation(conversation, self.lab)
            export_conversation(conversation, saved.with_suffix(".md"), "md")
            export_conversation(conversation, saved.with_suffix(".jsonl"), "jsonl")
        except (ChatError, OSError) as exc:
            self.notify(str(exc), title="Not saved", severity="error")
            return
        self.notify(f"Saved {saved} (and .md, .jsonl beside it)", title="Chat saved and exported")

    def action_golden_check(self) -> None:
        """Base model vs adapter on the shown run's held-back examples (ROUGE-L), in a modal."""
        if self.session is None:
            self.notify("The model is not loaded yet", severity="warning")
            return
        if self.busy:
            self.notify("Still answering: Esc stops it, then run the golden check", severity="warning")
            return
        run_dir = self.session.model.info.run_dir
        if run_dir is None:
            self.notify("The golden check needs a run's held-back data; this model is not from a run",
                        severity="warning")  # fmt: skip
            return
        from tui.screens.golden import GoldenScreen

        self.app.push_screen(GoldenScreen(self.session.model, run_dir))

    async def action_new_chat(self) -> None:
        if self.session is None or self.busy:
            return
        self.session.reset()
        self._turns.clear()
        await self.query_one(ChatLog).remove_children()
        self._update_titles()

    def action_pick_model(self) -> None:
        """Any finished model of the lab: a run's, or one branch's of a sweep (the best marked)."""
        from tui.widgets.model_picker import ModelPicker

        def chosen(model: Any) -> None:
            if model is not None:
                self.use_model(model.model_dir)

        current = self.session.model.info.path if self.session is not None else self._model_dir
        self.app.push_screen(ModelPicker(self.lab, title="Talk to which model?", current=current), chosen)

    def use_model(self, model_dir: Path) -> None:
        """Answer from `model_dir` from now on: the conversation shown ends, the model loads."""
        if self.session is not None and self.session.model.info.path == model_dir:
            return
        if self._cancel is not None:
            self._cancel.set()
        self._model_dir, self.session, self._initial = model_dir, None, None
        self._turns.clear()
        self.query_one(ChatLog).remove_children()
        self.query_one(ChatLog).border_title = "Loading the model…"
        self.notify(f"Loading {model_dir.relative_to(self.lab.root) if model_dir.is_relative_to(self.lab.root) else model_dir}…")
        self.load_model()

    def action_export_model(self) -> None:
        """The model being talked to, exported with its model card."""
        from engine.runs.models import finished_models
        from tui.screens.export import ExportScreen

        path = self.session.model.info.path if self.session is not None else None
        model = next((m for m in finished_models(self.lab) if m.model_dir == path), None)
        if model is None:
            self.notify("No finished run's model is loaded to export (F3 picks one)", severity="warning")
            return
        self.app.push_screen(ExportScreen(self.lab, model))
