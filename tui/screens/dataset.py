"""The dataset screen: page through any JSONL file as training sees it, with its problems and statistics.

The first page is read straight from the file; the line index, the check, the evaluation split and the
statistics are built by thread workers and arrive as messages, so a million-record file opens at once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import ContentSwitcher, DataTable, Footer, Input, Label, Static
from textual.widgets.data_table import ColumnKey

from engine.data.browse import JsonlIndex
from tui import keymap
from tui.messages import DatasetChecked, DatasetFailed, DatasetOpened, DatasetPage, DatasetStats, SearchFound
from tui.screens.dataset_readers import PAGE_SIZE, DatasetReader, cannot_open, fields_of, page_rows
from tui.widgets.dataset_problems import ProblemList
from tui.widgets.dataset_view import one_line, split_of
from tui.widgets.field_input import FieldInput
from tui.widgets.mode_bar import ModeBar

if TYPE_CHECKING:
    from engine.config import LabConfig
    from engine.data.browse import JsonlIndex
    from tui.app import OliveLabApp

log = logging.getLogger("olive_lab.dataset")


NARROW_COLUMNS = 110
SPLIT_MARKS = {"eval": "eval", "train": "", "bad": "✘ bad", "?": "…"}


class DatasetScreen(Screen[None]):
    """A paged table (or one record at a time), problems with jumps, statistics and search."""

    SCOPE = "dataset"
    BINDINGS = keymap.bindings("dataset")

    def __init__(self) -> None:
        super().__init__()
        self.path = ""
        self.typed_path = ""
        """The file shown, as the user wrote it (relative paths are from the lab folder)."""
        self.index: JsonlIndex | None = None
        self.total: int | None = None  # lines, once the index is complete
        self.start = 0  # first row of the page shown
        self.rows: list[dict[str, Any]] = []
        self.checked: DatasetChecked | None = None
        self.record_mode = False
        self.query_text = ""
        self._pending_cursor: int | None = None
        self._background_started = False

    @property
    def lab_app(self) -> OliveLabApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield ModeBar("dataset")
        with Horizontal(id="ds-top"):
            yield Label("File ", id="ds-path-label")
            yield FieldInput(placeholder="path of a JSONL file, Enter opens it", compact=True, id="ds-path")
        with ContentSwitcher(initial="ds-table", id="ds-view"):
            yield DataTable(cursor_type="row", zebra_stripes=True, id="ds-table")
            with VerticalScroll(id="ds-record"):
                yield Static("", id="ds-record-text", markup=False)
        with Horizontal(id="ds-bottom"):
            yield ProblemList(id="ds-problems")
            yield Static("Statistics appear here.", id="ds-stats", markup=False)
        yield Static("", id="ds-status", markup=False)
        yield FieldInput(
            placeholder="search text, Enter finds the next record holding it", compact=True, id="ds-search"
        )
        yield Footer(compact=True)
        yield DatasetReader()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("line", width=7, key="line")
        table.add_column("split", width=5, key="split")
        table.add_column("training text", key="text")
        self.query_one("#ds-stats").border_title = "Statistics"
        self.query_one("#ds-search").display = False
        self.lab_app.config_changed_signal.subscribe(self, self._config_changed)
        self.query_one("#ds-path", Input).value = self.lab_app.config.dataset.path
        self.open(self.lab_app.config.dataset.path)
        table.focus()

    def _config_changed(self, config: LabConfig) -> None:
        self.query_one("#ds-path", Input).value = config.dataset.path
        self.open(config.dataset.path)

    # -- opening -----------------------------------------------------------------------------------

    def open(self, typed: str) -> None:
        """Show a file: first page now, then index, check, split and statistics in the background."""
        path = str(self.lab_app.lab.resolve(typed))
        self.path, self.typed_path = path, typed
        self.index = None
        self.total = None
        self.checked = None
        self.rows = []
        self.start = 0
        self._pending_cursor = 0
        self.query_one(DataTable).clear()
        self.query_one(ProblemList).reset()
        self.query_one("#ds-stats", Static).update("Computing statistics…")
        self._status("Opening…")
        self._background_started = False
        reader = self.query_one(DatasetReader)
        reader.first_page_shown.clear()
        index = self._first_page_now(path)
        reader.open(path, index)  # the check and statistics start once the first page is on screen

    def _first_page_now(self, path: str) -> JsonlIndex | None:
        """The first page read here and now (about a millisecond for any size of file: it reads only the
        first lines), so it is on the screen in the same frame; None leaves it to the worker (and its
        messages about a missing or unreadable file)."""

        try:
            index = JsonlIndex(path, fields_of(self.lab_app.config))
            if not index.path.is_file():
                return None
            rows = page_rows(self.lab_app.config, index, 0)
        except (OSError, ValueError):
            return None
        self.index = index
        self._page(DatasetPage(path, 0, rows))
        return index

    # -- results -----------------------------------------------------------------------------------

    @on(DatasetFailed)
    def _failed(self, message: DatasetFailed) -> None:
        if message.path == self.path:
            self._background_started = True
            self._status(f"{self.query_one('#ds-path', Input).value} {message.reason}")
            self.query_one("#ds-stats", Static).update("No file, no statistics.")

    @on(DatasetOpened)
    def _opened(self, message: DatasetOpened) -> None:
        if message.path != self.path:
            return
        self.index = message.index
        if message.complete:
            self.total = message.total
        self._status()

    @on(DatasetPage)
    def _page(self, message: DatasetPage) -> None:
        if message.path != self.path:
            return
        self.start, self.rows = message.start, message.rows
        if not self._background_started:
            # full reads of the file: started after the first page, so they do not hold the GIL before it
            self._background_started = True
            reader = self.query_one(DatasetReader)
            self.call_after_refresh(reader.first_page_shown.set)
            self.call_after_refresh(reader.check, self.path)
            self.call_after_refresh(reader.stats, self.path)
        self._fill_table()
        if self._pending_cursor is not None:
            row = min(max(self._pending_cursor - self.start, 0), max(len(self.rows) - 1, 0))
            self._pending_cursor = None
            self.query_one(DataTable).move_cursor(row=row)
        self._show_record()
        self._status()

    def _fill_table(self) -> None:
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        narrow = self.size.width < NARROW_COLUMNS  # the template's tokens would push the response off screen
        prompt_field, response_field = fields_of(self.lab_app.config)
        label = f"{prompt_field} ⏵ {response_field}  (v: as trained)" if narrow else "training text"
        table.columns[ColumnKey("text")].label = Text(label)
        for row in self.rows:
            split = self._split(row["line"])
            if row["text"] is None:
                shown = f"✘ {row['problem']}"
            elif narrow:
                record = row["record"]
                shown = one_line(f"{record[prompt_field]} ⏵ {record[response_field]}")
            else:
                shown = one_line(row["text"])
            table.add_row(str(row["line"]), SPLIT_MARKS[split], shown, key=str(row["line"]))
        if self.rows:
            table.move_cursor(row=min(cursor, len(self.rows) - 1))

    def _split(self, line: int) -> str:
        checked = self.checked
        if checked is None:
            return "?"
        return split_of(line, checked.held, checked.skipped_lines, checked.exact, True)

    @on(DatasetChecked)
    def _checked(self, message: DatasetChecked) -> None:
        if message.path != self.path:
            return
        self.checked = message
        self.query_one(ProblemList).show_checked(message)
        self._fill_table()
        self._show_record()
        self._status()

    @on(DatasetStats)
    def _stats(self, message: DatasetStats) -> None:
        if message.path == self.path:
            self.query_one("#ds-stats", Static).update(message.text)
            self.query_one(ProblemList).show_duplicates(message.duplicate_lines)

    def _status(self, text: str | None = None) -> None:
        if text is None and self.checked is not None and self.checked.fatal:
            text = f"{self.query_one('#ds-path', Input).value} {self.checked.fatal}"
        if text is None:
            shown = f"lines {self.start + 1:,}–{self.start + len(self.rows):,}" if self.rows else "no lines"
            of = f" of {self.total:,}" if self.total is not None else " (indexing…)"
            held = ""
            if self.checked is not None and not self.checked.fatal:
                held = f" · {len(self.checked.held):,} held back for evaluation"
            view = "record" if self.record_mode else "table"
            text = f"{shown}{of}{held} · {view} view"
        self.query_one("#ds-status", Static).update(text)

    # -- moving around -----------------------------------------------------------------------------

    def goto(self, row_index: int) -> None:
        """Show the row `row_index` (0-based; line row_index + 1), loading its page when needed."""
        row_index = max(row_index, 0)
        if self.total is not None:
            row_index = min(row_index, max(self.total - 1, 0))
        page_start = row_index // PAGE_SIZE * PAGE_SIZE
        if page_start == self.start and self.rows:
            self.query_one(DataTable).move_cursor(row=min(row_index - self.start, len(self.rows) - 1))
            self._show_record()
            return
        if self.index is None:
            return
        self._pending_cursor = row_index
        self.query_one(DatasetReader).page(self.index, page_start)

    @property
    def cursor_index(self) -> int:
        return self.start + self.query_one(DataTable).cursor_row

    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_record()

    def _show_record(self) -> None:
        if not self.record_mode or not self.rows:
            return
        row = self.rows[min(self.query_one(DataTable).cursor_row, len(self.rows) - 1)]
        split = self._split(row["line"])
        head = f"line {row['line']} · {'held back for evaluation' if split == 'eval' else split}"
        if row["text"] is None:
            body = f"✘ {row['problem']}\n\nThe line as it is:\n{row['raw']}"
        else:
            body = f"{row['text']}\n\n── the record as it is ──\n{row['raw']}"
        self.query_one("#ds-record-text", Static).update(f"{head}\n\n{body}")

    def action_page(self, delta: int) -> None:
        if self.record_mode:
            self.goto(self.cursor_index + delta)
            return
        if delta > 0 and len(self.rows) < PAGE_SIZE:
            return
        self.goto(self.start + delta * PAGE_SIZE)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("first", "last") and isinstance(self.focused, Input):
            return False  # Home and End move the cursor in a text box
        return True

    def action_first(self) -> None:
        self.goto(0)

    def action_last(self) -> None:
        """The last record (once the index knows where it is), not the table's blank right-hand edge."""
        if self.total is None:
            self._status("Still indexing: End goes to the last line once the line count is known")
            return
        self.goto(self.total - 1)

    def on_resize(self) -> None:
        if self.rows:
            self._fill_table()

    def action_toggle_view(self) -> None:
        self.record_mode = not self.record_mode
        self.query_one(ContentSwitcher).current = "ds-record" if self.record_mode else "ds-table"
        self._show_record()
        self._status()

    def action_open_path(self) -> None:
        self.query_one("#ds-path", Input).focus()

    def action_focus_problems(self) -> None:
        self.query_one(ProblemList).focus_first()

    @on(Input.Submitted, "#ds-path")
    def _path_submitted(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        if not path:
            return
        problem = cannot_open(self.lab_app.lab.resolve(path)) if self.index is not None else None
        if problem is not None:  # a file is shown: it stays, and the path field goes back to it
            event.input.value = self.typed_path
            self._status(f"{path} {problem}; still showing {self.typed_path} (o: open another)")
        else:
            self.open(path)
        self.query_one(DataTable).focus()

    def on_problem_list_use_fields(self, message: ProblemList.UseFields) -> None:
        from tui.screens.steps import propose_fields

        self.run_worker(propose_fields(self.lab_app, message.fields, self.typed_path), group="ds-fields")

    def on_problem_list_jump(self, message: ProblemList.Jump) -> None:
        line = message.line
        if self.record_mode:
            self.action_toggle_view()
        self.goto(line - 1)
        self.query_one(DataTable).focus()

    # -- search --------------------------------------------------------------------------------------

    def action_search(self) -> None:
        search = self.query_one("#ds-search", Input)
        search.display = True
        search.focus()

    def action_close_prompt(self) -> None:
        search = self.query_one("#ds-search", Input)
        if search.display:
            search.display = False
        self.query_one(DataTable).focus()

    @on(Input.Submitted, "#ds-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self.query_text = event.value
        event.input.display = False
        self.query_one(DataTable).focus()
        self.action_search_next()

    def action_search_next(self) -> None:
        if not self.query_text:
            self.action_search()
            return
        self._status(f"Searching for {self.query_text!r}…")
        self.query_one(DatasetReader).search(self.path, self.query_text, self.cursor_index + 2, self.index)

    @on(SearchFound)
    def _found(self, message: SearchFound) -> None:
        if message.index is None:
            self._status(f"No line after line {self.cursor_index + 1} holds {message.query!r}")
            return
        self.goto(message.index)
        self._status()
