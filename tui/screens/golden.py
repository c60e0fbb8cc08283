"""The golden check view: base model vs adapter on the run's held-back examples, scored with ROUGE-L.

`engine.chat.golden` does the work in a thread worker (answers both ways, scores, saves `<run>/golden.json`);
this modal only shows its progress and its table. A saved report is shown at once; `r` runs it again.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from engine.durations import format_duration
from tui import keymap
from tui.messages import GoldenDone, GoldenFailed, GoldenProgress

if TYPE_CHECKING:
    from engine.chat import ChatModel


class GoldenScreen(ModalScreen[None]):
    """Progress, then the means and the worst examples. Esc closes (and stops a check under way)."""

    BINDINGS = keymap.bindings("golden")
    DEFAULT_CSS = """
    GoldenScreen { align: center middle; }
    #golden-body {
        width: 95%; max-width: 120; height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    #golden-status { color: $text-muted; }
    """

    def __init__(self, model: ChatModel, run_dir: Path) -> None:
        super().__init__()
        self.model = model
        self.run_dir = run_dir
        self.table = ""
        """The report's table once it is shown."""
        self.running = False
        self._cancel = threading.Event()

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="golden-body"):
            yield Static("", id="golden-status")
            yield Static("", id="golden-table", markup=False)

    def on_mount(self) -> None:
        body = self.query_one("#golden-body")
        body.border_title = f"Golden check · run {self.run_dir.name}"
        body.border_subtitle = "r runs it again · Esc closes"
        body.focus()
        self._status("running… (reading the saved report, or starting the check: base model and adapter)")
        self.show_saved_or_run()

    @work(thread=True, exclusive=True, group="golden-saved", exit_on_error=False, name="read golden report")
    def show_saved_or_run(self) -> None:
        from engine.chat.golden import golden_table, load_golden

        report = load_golden(self.run_dir)
        if report is None or report.adapter not in self.model.adapter_names:
            self.app.call_from_thread(self.action_rerun)
            return
        note = f"saved report ({len(report.rows)} examples, took {format_duration(report.duration_s)}); r runs it again"
        self.post_message(GoldenDone(golden_table(report, width=self._width()), None, note))

    def _width(self) -> int:
        return max(60, min(120, self.app.size.width - 8))

    def action_rerun(self) -> None:
        if self.running:
            return
        self.running = True
        self._cancel = threading.Event()
        self._status("Answering the held-back examples with the base model and the adapter…")
        self._check(self._cancel, self._width())

    @work(thread=True, exclusive=True, group="golden", exit_on_error=False, name="golden check")
    def _check(self, cancel: threading.Event, width: int) -> None:
        from engine.chat import ChatError
        from engine.chat.golden import VALIDATION_FILE, golden_table, read_records, run_golden, save_golden

        data = self.run_dir / VALIDATION_FILE
        try:
            ds = self.app.config.dataset  # type: ignore[attr-defined]  # the OliveLabApp's settings
            records = read_records(data, (ds.prompt_field, ds.response_field))
            report = run_golden(
                self.model,
                records,
                data=data,
                progress=lambda done, total: self.post_message(GoldenProgress(done, total)),
                cancel=cancel,
            )
        except ChatError as exc:
            self.post_message(GoldenFailed(str(exc)))
            return
        if cancel.is_set():
            return
        try:
            saved: str | None = str(save_golden(report, self.run_dir))
        except OSError as exc:
            saved = None
            self.post_message(GoldenFailed(f"the report could not be saved in {self.run_dir}: {exc.strerror}"))
        note = f"{len(report.rows)} examples in {format_duration(report.duration_s)}" + (
            f"; saved to {saved}" if saved else ""
        )
        self.post_message(GoldenDone(golden_table(report, width=width), saved, note))

    def _status(self, text: str) -> None:
        self.query_one("#golden-status", Static).update(text)

    def on_golden_progress(self, message: GoldenProgress) -> None:
        filled = int(20 * message.done / max(1, message.total))
        self._status(
            f"Answering held-back examples: {'█' * filled}{'░' * (20 - filled)} {message.done}/{message.total}"
            " · Esc stops"
        )

    def on_golden_done(self, message: GoldenDone) -> None:
        self.running = False
        self.table = message.table
        self._status(message.note)
        self.query_one("#golden-table", Static).update(message.table)

    def on_golden_failed(self, message: GoldenFailed) -> None:
        self.running = False
        self._status(f"The golden check did not run: {message.reason}")
        self.notify(message.reason, title="Golden check", severity="error", timeout=15)

    def action_close(self) -> None:
        self._cancel.set()
        self.dismiss(None)
