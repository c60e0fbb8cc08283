"""The Dataset screen's problem list: what the check found, and repeated records, each a line to jump to.

It owns the check and the duplicates it lists; choosing a line posts where to go (`Jump`), or, for the records'
own field names, that they should go to Steps (`UseFields`).
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from tui.messages import DatasetChecked


class ProblemList(OptionList):
    """One option per problem (a line with two problems has two), then one per repeated record."""

    @dataclass
    class Jump(Message):
        line: int
        """1-based line of the file."""

    @dataclass
    class UseFields(Message):
        fields: dict[str, str]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.checked: DatasetChecked | None = None
        self.duplicates: list[tuple[int, int]] = []

    def on_mount(self) -> None:
        self.border_title = "Problems"

    def reset(self) -> None:
        self.checked, self.duplicates = None, []
        self.clear_options()

    def show_checked(self, message: DatasetChecked) -> None:
        self.checked = message
        self.clear_options()
        if message.fatal:
            self.add_option(Option(f"The file {message.fatal}", id="fatal"))
        elif not message.problems:
            self.add_option(Option(f"No problems in {message.records:,} records", id="none"))
        else:
            if message.summary and message.suggested_fields:
                self.add_option(Option(f"{message.summary} (Enter: on Steps)", id="fields"))
            elif message.summary:
                self.add_option(Option(message.summary, id="summary"))
            elif message.suggested_fields:
                names = ", ".join(f"{k}→{v}" for k, v in message.suggested_fields.items())
                self.add_option(Option(f"Enter: use the records' own field names ({names}) on Steps", id="fields"))
            # one option per problem: a line with two problems has two options, so ids count problems
            self.add_options(Option(str(p), id=f"problem-{i}") for i, p in enumerate(message.problems))
        self.border_title = f"Problems ({len(message.problems)})" if message.problems else "Problems"
        if self.duplicates:
            self._list_duplicates()

    def show_duplicates(self, duplicates: list[tuple[int, int]]) -> None:
        """(line, first line it repeats) pairs; listed once the check is in."""
        self.duplicates = duplicates
        if duplicates and self.checked is not None:
            self._list_duplicates()

    def _list_duplicates(self) -> None:
        """Each repeated record as a line in the list (not blocking: training just sees it twice)."""
        if any((self.get_option_at_index(i).id or "").startswith("dup-") for i in range(self.option_count)):
            return
        self.add_options(
            Option(f"line {line}: repeats line {first} (duplicate)", id=f"dup-{i}")
            for i, (line, first) in enumerate(self.duplicates)
        )

    def focus_first(self) -> None:
        if self.highlighted is None and self.option_count:
            self.highlighted = 0
        self.focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        option_id = event.option.id or ""
        if option_id == "fields" and self.checked is not None:
            self.post_message(self.UseFields(self.checked.suggested_fields))
        elif option_id.startswith("dup-"):
            self.post_message(self.Jump(self.duplicates[int(option_id.removeprefix("dup-"))][0]))
        elif option_id.startswith("problem-") and self.checked is not None:
            self.post_message(self.Jump(self.checked.problems[int(option_id.removeprefix("problem-"))].line))
