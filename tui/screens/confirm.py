"""A yes/no question in a modal, for actions that cannot be undone (cancelling a run)."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool | None]):
    """Dismisses with True (y / Enter on Yes) or False (n / Escape / No). Given `cancel`, it has a third
    button for not doing either, which Escape presses: it dismisses with None.

    Nothing is drawn over the question: messages show on the message line of the screen below (f2 lists them).
    Keys typed before it was asked (typed ahead, a paste) never answer it: `y` meant for the screen below must
    not save or cancel anything."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: auto; max-width: 70; min-width: 40; height: auto;
        border: thick $warning; background: $surface; padding: 1 2;
    }
    ConfirmScreen #confirm-question { width: auto; max-width: 66; margin: 0 0 1 0; }
    ConfirmScreen Horizontal { height: auto; width: auto; }
    ConfirmScreen Button { margin: 0 1 0 0; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n", "answer(False)", "No", id="confirm.no"),
        Binding("escape", "escape", "Cancel", id="confirm.cancel"),
    ]

    def __init__(self, question: str, *, yes: str = "Yes", no: str = "No", cancel: str | None = None) -> None:
        super().__init__()
        self.question = question
        self.yes_label, self.no_label, self.cancel_label = yes, no, cancel
        self._asked_at = Message().time  # on the clock of the keys' own times

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="confirm-question", markup=False)
            with Horizontal():
                yield Button(f"{self.yes_label} (y)", variant="error", id="confirm-yes")
                yield Button(f"{self.no_label} (n)", variant="primary", id="confirm-no")
                if self.cancel_label is not None:
                    yield Button(f"{self.cancel_label} (esc)", id="confirm-cancel")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def on_key(self, event: events.Key) -> None:
        if event.time < self._asked_at:  # typed before the question was asked: not an answer to it
            event.stop()
            event.prevent_default()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm-cancel":
            self.dismiss(None)
        else:
            self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    def action_escape(self) -> None:
        self.dismiss(None if self.cancel_label is not None else False)
