"""The message line: where every `notify` of the app is shown, one line above the footer, never over content.

The app routes Textual's notifications here (`OliveLabApp._refresh_notifications`) instead of to toasts, which
float over whatever is below them. The line is laid out like the footer (docked at the bottom, above it): while
it holds a message the screen's content is one line shorter, so nothing is hidden. It shows one message: the
newest error still current, else the newest message, with how many others are current (f2 lists them all).
Errors are red and marked ✘, warnings yellow and marked !. Dialogs (modal screens) get no line: nothing is
drawn over a question.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from textual.content import Content
from textual.markup import MarkupError
from textual.widgets import Static

if TYPE_CHECKING:
    from textual.notifications import Notification
    from textual.screen import Screen

MARKS = {"error": "✘ ", "warning": "! ", "information": ""}
ICONS = "✘✔!·⚠▶→–"
"""The status icons a message may carry itself: a message shows one icon, never its own after the mark."""


def split_icon(text: str) -> tuple[str, str]:
    """(the icon `text` starts with, or "", and the text without it): "✘ not exported" -> ("✘", "not exported")."""
    if len(text) > 2 and text[0] in ICONS and text[1] == " ":
        return text[0], text[2:].lstrip()
    return "", text


def titled(title: str, text: str) -> str:
    """`text` under its title on one line: "run 1 failed: ✘ …"; a title that ends a sentence itself ("Do you
    want to quit?") takes no colon after it."""
    if not title:
        return text
    return f"{title} {text}" if title.rstrip().endswith((".", "?", "!", ":")) else f"{title}: {text}"


def one_icon(severity: str, title: str, message: str) -> tuple[str, str]:
    """(the one icon, the text) of a message: the severity's mark, else the message's own icon; an icon the
    message carries is taken off it (after the title too: "run 1 failed: ✘ finetune failed")."""
    own, rest = split_icon(message.strip())
    mark = MARKS.get(severity, "").strip() or own
    return mark, titled(title, rest)


class MessageLine(Static):
    """One line above the footer, shown while a message is current."""

    DEFAULT_CSS = """
    MessageLine {
        dock: bottom; height: 1; margin: 0 0 1 0; padding: 0 1; display: none;
        text-wrap: nowrap; text-overflow: ellipsis; background: $panel; color: $foreground;
    }
    MessageLine.-shown { display: block; }
    MessageLine.-warning { color: $warning; text-style: bold; }
    MessageLine.-error { background: $error 30%; color: $text-error; text-style: bold; }
    """

    def show(self, current: list[Notification]) -> None:
        """Show the one message that matters most of `current` (oldest first), or hide when there is none."""
        self.set_class(bool(current), "-shown")
        if not current:
            self.update("")
            return
        errors = [n for n in current if n.severity == "error"]
        shown = (errors or current)[-1]
        for severity in ("warning", "error"):
            self.set_class(shown.severity == severity, f"-{severity}")
        mark, text = one_icon(shown.severity, "", " ".join(shown.message.split()))  # one line, one icon
        try:
            message = Content.from_markup(text) if shown.markup else Content(text)
        except MarkupError:  # a message that only looks like markup (a path with [brackets]) is shown as typed
            message = Content(text)
        title = titled(shown.title, "") if shown.title else ""
        others = len(current) - 1
        more = (f"  (+{others} more: f2)", "dim") if others else ""
        line = Content.assemble((f"{mark} " if mark else "") + title, message, more)
        self.update(line)


def show_on(screen: Screen[Any], current: Iterable[Notification]) -> float | None:
    """Show `current` on `screen`'s message line (mounted there on first use); the seconds until the first of
    them expires (to show the next then), None when none is current. A dialog gets no line: the caller passes
    the screen under it."""
    from textual.css.query import NoMatches

    live = list(current)
    try:
        line = screen.query_one(MessageLine)
    except NoMatches:
        if not live:
            return None
        line = MessageLine(id="message-line", markup=False)
        screen.mount(line)
    line.show(live)
    return min((n.time_left for n in live), default=None)
