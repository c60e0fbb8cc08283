"""The prompt line: an Input that remembers what was sent (up/down walk the history, like a shell), the
questions of the lab's newest saved chats included, and whether it holds the last prompt being edited.

It is one line, as in most chat TUIs' default prompt: a pasted text of several lines is joined with spaces
(blank lines dropped) and the message line says so (`FieldInput`'s paste).
"""

from __future__ import annotations

from textual import work
from textual.binding import Binding

from engine.chat import ChatError, list_conversations, load_conversation
from engine.paths import LabPaths
from tui.widgets.field_input import FieldInput

HISTORY_CHATS = 20  # up walks the questions of this many newest saved chats


class PromptInput(FieldInput):
    BINDINGS = [
        Binding("up", "history(-1)", "Previous prompt", show=False),
        Binding("down", "history(1)", "Next prompt", show=False),
    ]

    PASTE_NOTE = "joined into one: the prompt is a single line"

    def __init__(self, history: list[str] | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.history: list[str] = list(history or [])
        self._position = len(self.history)
        self._draft = ""
        self.editing = False
        """The line holds the last prompt, to send again in its place."""

    @work(thread=True, exclusive=True, group="chat-history", exit_on_error=False, name="read chat history")
    def load_history(self, lab: LabPaths) -> None:
        """The questions of the newest saved chats, so up finds them after a restart."""

        prompts: list[str] = []
        for path in reversed(list_conversations(lab)[:HISTORY_CHATS]):
            try:
                chat = load_conversation(path)
            except ChatError:
                continue
            prompts += [t.user for t in chat.turns] + [c.prompt for c in chat.comparisons]
        self.app.call_from_thread(self.add_history, prompts)

    def add_history(self, prompts: list[str]) -> None:
        """Older prompts under the ones sent here."""
        self.history = [*prompts, *(p for p in self.history if p not in prompts)]
        self.remember("")

    def edit(self, text: str) -> None:
        """Hold the last prompt, `text`, to send again in its place."""
        self.value = text
        self.cursor_position = len(text)
        self.focus()
        self.editing = True

    def stop_editing(self) -> bool:
        """Leave the last prompt as it was; False when it was not being edited."""
        if not self.editing:
            return False
        self.editing = False
        self.value = ""
        return True

    def remember(self, text: str) -> None:
        """Add a sent prompt to the history (not twice in a row) and go back to an empty line."""
        if text and (not self.history or self.history[-1] != text):
            self.history.append(text)
        self._position = len(self.history)
        self._draft = ""

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        if self._position == len(self.history):
            self._draft = self.value
        position = max(0, min(len(self.history), self._position + step))
        if position == self._position:
            return
        self._position = position
        self.value = self._draft if position == len(self.history) else self.history[position]
        self.cursor_position = len(self.value)
