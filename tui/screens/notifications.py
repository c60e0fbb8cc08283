"""Every message of this session, newest first: the message line shows one for a few seconds, all stay here."""

from __future__ import annotations

import time

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.widgets.message_line import split_icon

MARKS = {"error": ("✘", "bold red"), "warning": ("!", "yellow")}


class NotificationsScreen(ModalScreen[None]):
    """A scrollable list of (time, severity, text); Esc, q or f2 closes it."""

    DEFAULT_CSS = """
    NotificationsScreen { align: center middle; }
    NotificationsScreen > VerticalScroll {
        width: 90%; max-width: 110; height: 80%; border: round $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,q,f2", "dismiss", "Close", id="notifications.close")]

    def __init__(self, history: list[tuple[float, str, str]]) -> None:
        super().__init__()
        self.history = history

    def compose(self) -> ComposeResult:
        text = Text()
        for when, severity, message in reversed(self.history):
            own, message = split_icon(message)  # the one icon: the severity's, else the message's own, else ·
            mark, style = MARKS.get(severity, (own or "·", ""))
            text.append(f"{time.strftime('%H:%M:%S', time.localtime(when))} {mark} ", style=style)
            text.append(message + "\n")
        with VerticalScroll(id="notifications-body"):
            yield Static(text if self.history else "No notifications yet.", id="notifications-text")

    def on_mount(self) -> None:
        body = self.query_one("#notifications-body")
        body.border_title = "Notifications"
        body.border_subtitle = "Esc to close"
        body.focus()
