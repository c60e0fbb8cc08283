"""The chat's settings bar: which adapter answers (or, in compare mode, the base model and which adapter side
by side), and the system prompt, kept in the session shown."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Select

from engine.chat import BASE_ADAPTER, ChatError, ChatSession
from tui.widgets.field_input import FieldInput


def compare_adapter(session: ChatSession) -> str:
    """The adapter a compare puts beside the base model: the one chosen, else the model's first."""
    if session.adapter != BASE_ADAPTER:
        return session.adapter
    others = [n for n in session.model.adapter_names if n != BASE_ADAPTER]
    return others[0] if others else BASE_ADAPTER


class ChatBar(Horizontal):
    """The adapter switch and the system prompt; disabled until a session is shown."""

    class AdapterChanged(Message):
        """The session now answers with another adapter."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.session: ChatSession | None = None
        self.compare = False
        """When on, a prompt is answered by the base model and the adapter side by side."""

    def compose(self) -> ComposeResult:
        yield Select([(BASE_ADAPTER, BASE_ADAPTER)], allow_blank=False, id="chat-adapter", disabled=True)
        yield FieldInput(placeholder="System prompt (optional)", id="chat-system")

    def on_mount(self) -> None:
        self.query_one("#chat-adapter", Select).tooltip = "Answer with this adapter (base: without adapter)"

    def compared(self) -> str | None:
        """The adapter answering beside the base model while compare is on, else None."""
        return compare_adapter(self.session) if self.compare and self.session is not None else None

    def toggle_compare(self) -> bool:
        """Compare on or off; it stays off for a model with no adapter. Returns whether it is on."""
        self.compare = not self.compare and self.session is not None
        if self.session is not None and self.compare and compare_adapter(self.session) == BASE_ADAPTER:
            self.compare = False
            self.notify("This model has no adapter to compare with the base model", severity="warning")
        return self.compare

    def show(self, session: ChatSession) -> None:
        self.session = session
        select = self.query_one("#chat-adapter", Select)
        select.set_options([(name, name) for name in session.model.adapter_names])
        select.value = session.adapter
        select.disabled = False
        self.query_one("#chat-system", Input).value = session.conversation.system_prompt

    @on(Select.Changed, "#chat-adapter")
    def _adapter_changed(self, event: Select.Changed) -> None:
        if self.session is None or not isinstance(event.value, str) or event.value == self.session.adapter:
            return
        try:
            self.session.set_adapter(event.value)
        except ChatError as exc:
            self.notify(str(exc), severity="error")
        self.post_message(self.AdapterChanged())

    @on(Input.Changed, "#chat-system")
    def _system_changed(self, event: Input.Changed) -> None:
        if self.session is not None:
            self.session.set_system_prompt(event.value)
