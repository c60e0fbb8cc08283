"""The monitor's find box: it remembers the term and finds it in the log it was made for, newest match first."""

from __future__ import annotations

from textual import on
from textual.widgets import Input

from tui.widgets.field_input import FieldInput
from tui.widgets.log_view import LogView


class LogSearch(FieldInput):
    """A find box docked under `log`: shown by `open`, hidden by `close`; Enter searches back from the end."""

    def __init__(self, log: LogView, *, placeholder: str, id: str | None = None) -> None:
        super().__init__(placeholder=placeholder, id=id)
        self.log_view = log
        self.term = ""

    def open(self) -> None:
        self.add_class("-shown")
        self.value = self.term
        self.focus()

    def close(self) -> None:
        if self.has_class("-shown"):
            self.remove_class("-shown")
            self.log_view.focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.term = event.value
        self.close()
        self.find(forward=False, fresh=True)

    def find(self, *, forward: bool, fresh: bool = False) -> None:
        """The next match towards the start (`forward` False) or the end; says so when there is none."""
        if not self.term:
            self.notify("Press / to search the log first.", severity="warning")
            return
        log = self.log_view
        if fresh:
            log.match_line = -1
        if log.find(self.term, forward=forward) is None:
            where = "after" if forward else "before"
            scope = "the match" if log.match_line >= 0 else "the end"
            self.notify(f"{self.term!r}: no more lines {where} {scope}", severity="warning")
