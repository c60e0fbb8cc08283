"""Two runs side by side: settings that differ, step durations and verdicts, loss curves (engine.runs.compare)."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from engine.durations import format_duration
from engine.runs.compare import RunComparison, compare_runs
from tui import keymap
from tui.widgets.curves import Curve, Curves


class CompareScreen(Screen[None]):
    """Compares run `a` with run `b`; Escape goes back."""

    DEFAULT_CSS = """
    #cmp-title { height: auto; max-height: 3; padding: 0 1; background: $panel; }
    #cmp-charts { height: 10; }
    #cmp-charts Curves { width: 1fr; height: 10; border: round $primary 40%; }
    /* Grids of wrapping cells: a long failure reason or path wraps inside the screen's width. */
    #cmp-steps, #cmp-settings { height: auto; margin: 0 0 1 0; padding: 0 1; grid-gutter: 0 2; grid-rows: auto; }
    #cmp-steps { grid-size: 6; grid-columns: auto 1fr auto 1fr auto auto; }
    #cmp-settings { grid-size: 3; grid-columns: auto 1fr 1fr; }
    #cmp-steps Static, #cmp-settings Static { height: auto; }
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
                yield Curves(id="cmp-loss-both")
            yield Static("", id="cmp-verdicts")
            yield Grid(id="cmp-steps")
            yield Grid(id="cmp-settings")
        yield Footer()

    def on_mount(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False, name="compare runs")
    def _load(self) -> None:
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
        a, b, head = c.a.run_id, c.b.run_id, ""
        if c.a.state.branch and c.b.state.branch and c.a.state.id == c.b.state.id:  # two branches of one sweep
            a, b, head = c.a.state.branch, c.b.state.branch, f"sweep {c.a.state.id}: "
        self.query_one("#cmp-title", Static).update(Text(f"{head}A = {a} ({c.a.status})   B = {b} ({c.b.status})"))
        chart = self.query_one("#cmp-loss-both", Curves)  # both runs on one step axis, one scale
        chart.border_title = f"loss: A {a} · B {b}"
        chart.set_panel(
            "loss",
            [
                Curve("A train", c.a.digest.losses, "primary"),
                Curve("A eval", c.a.digest.eval_losses, "secondary", dots=True),
                Curve("B train", c.b.digest.losses, "warning"),
                Curve("B eval", c.b.digest.eval_losses, "error", dots=True),
            ],
        )
        chart.set_panel("learning rate", [Curve("A", c.a.digest.learning_rates, "primary"),
                                          Curve("B", c.b.digest.learning_rates, "warning")])  # fmt: skip
        self.query_one("#cmp-verdicts", Static).update(Text("\n".join(c.verdicts)))
        step_rows: list[tuple[str | Text, ...]] = [("step", "A", "A time", "B", "B time", "B − A")]
        for pair in c.steps:
            delta = ""
            if pair.a_seconds is not None and pair.b_seconds is not None:
                d = pair.b_seconds - pair.a_seconds
                delta = format_duration(abs(d))
                delta = delta if delta == "0:00" else ("+" if d > 0 else "−") + delta  # never a signed zero
            step_rows.append((
                pair.name,
                Text(pair.a_verdict, style=_style(pair.a_status)),
                format_duration(pair.a_seconds),
                Text(pair.b_verdict, style=_style(pair.b_status)),
                format_duration(pair.b_seconds),
                delta,
            ))  # fmt: skip
        setting_rows: list[tuple[str | Text, ...]] = [("setting that differs", "A", "B")]
        if not c.settings_diff:
            setting_rows.append(("(the same settings)", "", ""))
        setting_rows += [(key, _value(va), _value(vb)) for key, va, vb in c.settings_diff]
        for grid_id, rows in (("#cmp-steps", step_rows), ("#cmp-settings", setting_rows)):
            cells = [Static(Text(str(cell), style="bold")) for cell in rows[0]]
            cells += [Static(cell) for row in rows[1:] for cell in row]
            self.query_one(grid_id, Grid).mount_all(cells)


def _style(status: str) -> str:
    return {"failed": "bold red", "cancelled": "yellow", "done": "green", "reused": "green"}.get(status, "")


def _value(value: object) -> str:
    return "(absent)" if value is None else str(value)
