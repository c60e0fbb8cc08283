"""Two runs side by side: settings that differ, step durations and verdicts, loss curves (engine.runs.compare)."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from engine.runs.compare import RunComparison
from engine.runs.view import format_duration
from tui import keymap
from tui.widgets.loss_chart import LossChart, Series


class CompareScreen(Screen):
    """Compares run `a` with run `b`; Escape goes back."""

    DEFAULT_CSS = """
    #cmp-title { height: 1; padding: 0 1; background: $panel; }
    #cmp-charts { height: 10; }
    #cmp-charts LossChart { width: 1fr; height: 10; border: round $primary 40%; }
    CompareScreen DataTable { height: auto; max-height: 14; margin: 0 0 1 0; }
    #cmp-verdicts { height: auto; padding: 0 1; border: round $primary 40%; }
    """
    BINDINGS = keymap.bindings("compare")

    def __init__(self, a: Path, b: Path) -> None:
        super().__init__()
        self.a, self.b = Path(a), Path(b)
        self.comparison: RunComparison | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"comparing {self.a.name} (A) with {self.b.name} (B)…", id="cmp-title")
        with VerticalScroll():
            with Horizontal(id="cmp-charts"):
                yield LossChart(id="cmp-loss-both")
            yield Static("", id="cmp-verdicts")
            yield DataTable(id="cmp-steps", cursor_type="row", zebra_stripes=True)
            yield DataTable(id="cmp-settings", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False, name="compare runs")
    def _load(self) -> None:
        from engine.runs.compare import compare_runs
        from engine.runs.report import ReportError

        try:
            comparison = compare_runs(self.a, self.b)
        except ReportError as exc:
            self.app.call_from_thread(self._failed, str(exc))
            return
        self.app.call_from_thread(self._show, comparison)

    def _failed(self, reason: str) -> None:
        self.query_one("#cmp-title", Static).update(Text(f"cannot compare: {reason}"))

    def _show(self, c: RunComparison) -> None:
        self.comparison = c
        self.query_one("#cmp-title", Static).update(
            Text(f"A = {c.a.run_id} ({c.a.status})   B = {c.b.run_id} ({c.b.status})")
        )
        chart = self.query_one("#cmp-loss-both", LossChart)  # both runs on one step axis, one scale
        chart.border_title = f"loss: A {c.a.run_id} · B {c.b.run_id}"
        chart.set_series(
            [
                Series("A train", c.a.digest.losses, "primary", smooth=0.6),
                Series("A eval", c.a.digest.eval_losses, "secondary"),
                Series("B train", c.b.digest.losses, "warning", smooth=0.6),
                Series("B eval", c.b.digest.eval_losses, "error"),
            ]
        )
        self.query_one("#cmp-verdicts", Static).update(Text("\n".join(c.verdicts)))
        steps = self.query_one("#cmp-steps", DataTable)
        steps.add_columns("step", "A", "A time", "B", "B time", "B − A")
        for pair in c.steps:
            delta = ""
            if pair.a_seconds is not None and pair.b_seconds is not None:
                d = pair.b_seconds - pair.a_seconds
                delta = ("+" if d >= 0 else "−") + format_duration(abs(d))
            steps.add_row(
                pair.name,
                Text(pair.a_verdict, style=_style(pair.a_status)),
                format_duration(pair.a_seconds),
                Text(pair.b_verdict, style=_style(pair.b_status)),
                format_duration(pair.b_seconds),
                delta,
            )
        settings = self.query_one("#cmp-settings", DataTable)
        settings.add_columns("setting that differs", "A", "B")
        if not c.settings_diff:
            settings.add_row("(the same settings)", "", "")
        for key, va, vb in c.settings_diff:
            settings.add_row(key, _value(va), _value(vb))


def _style(status: str) -> str:
    return {"failed": "bold red", "cancelled": "yellow", "done": "green", "reused": "green"}.get(status, "")


def _value(value: object) -> str:
    return "(absent)" if value is None else str(value)
