"""The dataset screen's reader: a widget with no face whose thread workers open, page, check, measure and
search the file, each posting its result as a message that bubbles up to the screen.

Order matters for a big file: the first page is read on the screen itself; the index build, the full check
and the statistics start only once it is drawn (`first_page_shown`), so they never hold the GIL before it.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.widget import Widget
from textual.worker import get_current_worker

from engine.data.browse import JsonlIndex, compute_stats, search
from engine.data.records import DatasetError, check_dataset
from engine.data.split import held_back
from engine.data.suggest import shape_note, suggest_fields
from tui.messages import DatasetChecked, DatasetFailed, DatasetOpened, DatasetPage, DatasetStats, SearchFound
from tui.widgets.dataset_view import find_tokenizer, render_row, stats_text

if TYPE_CHECKING:
    from engine.config import LabConfig
    from tui.app import OliveLabApp

PAGE_SIZE = 100


def cannot_open(path: Path) -> str | None:
    """Why a file cannot be shown (as the reader says it), or None when it can be opened."""
    if path.is_dir():
        return "is a folder, not a file"
    if not path.exists():
        return "does not exist"
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied)"
    return None


def fields_of(config: LabConfig) -> tuple[str, str]:
    """The (prompt, response) fields the settings read records by."""
    return (config.dataset.prompt_field, config.dataset.response_field)


def page_rows(config: LabConfig, index: JsonlIndex, start: int) -> list[dict[str, Any]]:
    """The page of rows from line `start + 1`, each as training sees it (the settings' template)."""
    return [render_row(row, config.finetune.text_template) for row in index.page(start, PAGE_SIZE)]


class DatasetReader(Widget):
    """Opens, pages, checks, measures and searches a dataset file in thread workers (one of each at a time)."""

    DEFAULT_CSS = "DatasetReader { display: none; }"

    def __init__(self) -> None:
        super().__init__()
        self.first_page_shown = threading.Event()
        """Set once the screen has drawn the first page: the index build waits for it."""

    @property
    def lab_app(self) -> OliveLabApp:
        return self.app  # type: ignore[return-value]

    def _fields(self) -> tuple[str, str]:
        return fields_of(self.lab_app.config)

    def _page_rows(self, index: JsonlIndex, start: int) -> list[dict[str, Any]]:
        return page_rows(self.lab_app.config, index, start)

    @work(thread=True, exclusive=True, group="ds-open", exit_on_error=False, description="Indexing")
    def open(self, path: str, index: JsonlIndex | None = None) -> None:
        """Build the index of a file whose first page is shown (`index`), or open it and post that page."""
        if index is not None:
            self.post_message(DatasetOpened(path, 0, index.complete, index))
        else:
            self._open_and_show(path)
            return
        worker = get_current_worker()
        self.first_page_shown.wait(timeout=2.0)  # the build holds the GIL: the first page is drawn first
        if index.build(stop=worker.cancelled_event):
            self.post_message(DatasetOpened(path, index.indexed_lines, True, index))

    def _open_and_show(self, path: str) -> None:
        """In the worker: open the file, post the first page, build the index (or say why it cannot)."""

        try:
            index = JsonlIndex(path, self._fields())
        except FileNotFoundError:
            self.post_message(DatasetFailed(path, "does not exist"))
            return
        except OSError as exc:
            self.post_message(DatasetFailed(path, f"cannot be read ({exc.strerror or exc})"))
            return
        if index.path.is_dir():
            self.post_message(DatasetFailed(path, "is a folder, not a file"))
            return
        self.post_message(DatasetOpened(path, 0, index.complete, index))
        self.post_message(DatasetPage(path, 0, self._page_rows(index, 0)))
        worker = get_current_worker()
        # the index build holds the GIL for long stretches: let the first page reach the screen first
        self.first_page_shown.wait(timeout=2.0)
        if index.build(stop=worker.cancelled_event):
            self.post_message(DatasetOpened(path, index.indexed_lines, True, index))

    @work(thread=True, exclusive=True, group="ds-page", exit_on_error=False, description="Reading a page")
    def page(self, index: JsonlIndex, start: int) -> None:
        self.post_message(DatasetPage(str(index.path), start, self._page_rows(index, start)))

    @work(thread=True, exclusive=True, group="ds-check", exit_on_error=False, description="Checking")
    def check(self, path: str) -> None:
        report = check_dataset(path, self._fields())
        if report.fatal:
            self.post_message(DatasetChecked(path, [], 0, fatal=report.fatal_message))
            return
        ds = self.lab_app.config.dataset
        skipped = sorted({p.line for p in report.problems})
        exact = report.problem_count <= len(report.problems)
        held = held_back(report, ds.eval_share, ds.split_seed)
        self.post_message(
            DatasetChecked(
                path, report.problems, report.records, held, skipped, exact,
                suggested_fields=suggest_fields(report), summary=shape_note(report),
            )
        )  # fmt: skip

    @work(thread=True, exclusive=True, group="ds-stats", exit_on_error=False, description="Statistics")
    def stats(self, path: str) -> None:
        worker = get_current_worker()
        note = "no tokenizer on disk yet: characters only"
        tokenizer = None
        found = find_tokenizer(self.lab_app.lab, self.lab_app.config)
        if found is not None:
            try:
                from tokenizers import Tokenizer

                tokenizer = Tokenizer.from_file(str(found))
                note = ""
            except Exception as exc:  # a broken tokenizer file only costs the token counts
                note = f"tokenizer not usable ({exc})"

        def progress(stats: Any) -> None:
            duplicates = list(stats.duplicate_lines) if stats.done else []
            self.post_message(DatasetStats(path, stats_text(stats, note), stats.done, stats.fraction, duplicates))

        try:
            compute_stats(
                path,
                self._fields(),
                tokenizer,
                stop=worker.cancelled_event,
                progress_cb=progress,
                token_limit=self.lab_app.config.finetune.max_seq_len,
            )
        except DatasetError as exc:
            self.post_message(DatasetStats(path, f"No statistics: {exc.reason}", True, 1.0))

    @work(thread=True, exclusive=True, group="ds-search", exit_on_error=False, description="Searching")
    def search(self, path: str, text: str, start_line: int, index: JsonlIndex | None) -> None:
        worker = get_current_worker()
        line = search(path, text, start_line, index=index, stop=worker.cancelled_event)
        self.post_message(SearchFound(text, None if line is None else line - 1))
