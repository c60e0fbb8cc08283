"""Where the app's messages go: every `notify` is kept for f2 and shown on the screen's message line above the
footer (tui/widgets/message_line.py), never as a toast over the content."""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

from textual.screen import ModalScreen

from tui.screens.notifications import NotificationsScreen
from tui.widgets.message_line import one_icon, show_on

if TYPE_CHECKING:
    from textual.app import App
    from textual.timer import Timer

    _App = App[int]  # the olive-lab app's return code
else:
    _App = object  # a mixin of the olive-lab app; typed as the app it is part of


LAB_TOML_NOT_USED = "lab.toml not used"
"""The title of the error said while lab.toml cannot be read; withdrawn once it reads again."""


class MessageRouting(_App):
    notification_history: deque[tuple[float, str, str]]
    """Every message shown (time, severity, text), newest last: the message line moves on, f2 lists these."""
    _message_timer: Timer | None

    def init_messages(self) -> None:
        self.notification_history = deque(maxlen=200)
        self._message_timer = None

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: Any = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        mark, text = one_icon(str(severity), title, message)  # one icon, shown by f2 in front of the text
        self.notification_history.append((time.time(), str(severity), f"{mark} {text}" if mark else text))
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def _refresh_notifications(self) -> None:
        """Textual's hook for showing notifications: on the screen's message line, not as toasts over content."""

        if self._message_timer is not None:
            self._message_timer.stop()
        self._message_timer = None
        under = [s for s in self.screen_stack if not isinstance(s, ModalScreen)]  # a dialog's screen keeps its line
        if under:  # the next expiry shows the next message (or hides the line)
            left = show_on(under[-1], self._notifications)
            if left is not None:
                self._message_timer = self.set_timer(max(left, 0) + 0.05, self._refresh_notifications)

    def withdraw(self, title: str) -> None:
        """Take the current messages of this title off the line (what they said is no longer so); f2 keeps them."""
        for notification in [n for n in self._notifications if n.title == title]:
            self._unnotify(notification, refresh=False)
        self._refresh_notifications()

    def action_notifications(self) -> None:

        if not isinstance(self.screen, NotificationsScreen):
            self.push_screen(NotificationsScreen(list(self.notification_history)))
