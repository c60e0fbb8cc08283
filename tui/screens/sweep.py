"""A sweep's branches side by side: each one's status and step, final and evaluation loss, golden score, held-out
evaluation figures and duration, their curves on one scale, the best one marked (engine.runs.compare.best_of,
the ranking the model list and the command line use). From here: chat with, export or upload any branch,
compare two, or follow one on the monitor.

The sweep folder is read in a thread worker (engine.runs.sweep.compare_branches, one branch per run folder),
again every second while a branch is going.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import get_current_worker

from engine.durations import format_duration
from engine.errors import OliveLabError
from engine.runs.models import FinishedModel
from engine.runs.sweep import BranchRow, compare_branches, fmt_num
from engine.runs.sweep_rank import RANK_SHORT, rank_branches
from tui import keymap
from tui.widgets.curves import Curve, Curves

POLL_S = 1.0
COLOURS = ("primary", "warning", "success", "error", "secondary", "accent")  # one per branch, in order


@dataclass
class BranchView:
    """One branch as the view shows it: the comparison's row plus what it is doing and its held-out figures."""

    row: BranchRow
    folder: Path
    has_model: bool = False
    vs_best: str = ""  # its held-out loss against the best's, and whether the split can tell them apart
    within_noise: bool | None = None


@dataclass
class SweepSnapshot:
    run_id: str
    setting: str
    status: str
    duration_s: float | None
    branches: list[BranchView]
    best: str | None
    problem: str | None = None


def read_sweep(run_dir: Path) -> SweepSnapshot:
    """Everything the view shows, read from the sweep's folder and its branches' (plain Python: a worker runs it)."""
    from engine.chat.models import RUN_MODEL_DIR, is_model_dir
    from engine.runs.state import effective_status, read_state

    try:
        state = read_state(run_dir)
        rows = compare_branches(run_dir)  # each branch's files read once
    except OliveLabError as exc:
        return SweepSnapshot(run_dir.name, "", "unreadable", None, [], None, problem=exc.full())
    assert state.sweep is not None
    ranked = rank_branches(rows)  # the one ranking (engine.runs.compare.best_of takes its first)
    views = []
    for row in rows:
        folder = run_dir / "branches" / row.label
        views.append(BranchView(row, folder, has_model=is_model_dir(folder / RUN_MODEL_DIR)))
    by_row = {id(r.row): r for r in ranked}
    for view in views:
        rank = by_row[id(view.row)]
        view.within_noise = rank.within_noise
        if rank.difference is not None and rank.standard_error is not None:
            verdict = "within noise: this split cannot tell it from the best" if rank.within_noise else "beyond noise"
            n = len(view.row.held_out_record_losses)
            view.vs_best = (f"held-out loss {rank.difference:+.3f} against the best (lower is better; "
                            f"±{2 * rank.standard_error:.3f}, n={n}): {verdict}")  # fmt: skip
    best = ranked[0].row if ranked and ranked[0].rank == 1 else None
    return SweepSnapshot(state.id, state.sweep.setting, effective_status(state), state.duration_s, views,
                         best.label if best else None)  # fmt: skip


_num = partial(fmt_num, fmt="{:.3f}")

COLUMNS = ("", "value", "status", "now", "loss", "eval", "golden", "held-out", "ROUGE-L", "time")


class SweepScreen(Screen[None]):
    """The branches of sweep `run_dir`; Escape goes back."""

    SCOPE = "sweep"
    BINDINGS = keymap.bindings("sweep")
    AUTO_FOCUS = "#sweep-table"
    DEFAULT_CSS = """
    #sweep-title { height: auto; max-height: 3; padding: 0 1; background: $panel; }
    #sweep-table { height: auto; max-height: 8; }
    #sweep-note { height: auto; padding: 0 1; color: $text-muted; }
    #sweep-curves { height: 1fr; min-height: 6; border: round $primary 40%; border-title-color: $text-primary; }
    """

    def __init__(self, run_dir: Path, chosen: str | None = None) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.snapshot: SweepSnapshot | None = None
        self._start_on = chosen  # the branch the cursor starts on (the one followed on the monitor)

    def compose(self) -> ComposeResult:
        yield Static(f"sweep {self.run_dir.name}: reading its branches…", id="sweep-title")
        table: DataTable[str | Text] = DataTable(id="sweep-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield Static("", id="sweep-note")
        yield Curves(empty_text="no branch has logged a loss yet", id="sweep-curves")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(Curves).border_title = "training loss of every branch, one scale"
        self._follow()

    @work(thread=True, exclusive=True, group="sweep-read", exit_on_error=False, name="read the sweep")
    def _follow(self) -> None:
        worker = get_current_worker()
        while not worker.is_cancelled:
            snapshot = read_sweep(self.run_dir)
            self.app.call_from_thread(self._show, snapshot)
            going = snapshot.status in ("starting", "running") or any(
                b.row.status in ("pending", "starting", "running") for b in snapshot.branches
            )
            if not going:
                return
            worker.cancelled_event.wait(POLL_S)

    # drawing ------------------------------------------------------------------------------------------

    def _show(self, snap: SweepSnapshot) -> None:
        self.snapshot = snap
        title = self.query_one("#sweep-title", Static)
        if snap.problem:
            title.update(Text(f"sweep {snap.run_id}: cannot be read: {snap.problem}"))
            return
        took = format_duration(snap.duration_s)
        going = snap.status in ("starting", "running")
        best = f" · best{' so far' if going else ''}: {snap.best} ★" if snap.best else ""
        title.update(
            Text(f"sweep {snap.run_id} of {snap.setting} · {snap.status}" + (f" · {took}" if took else "") + best)
        )
        table = self.query_one("#sweep-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for b in snap.branches:
            r = b.row
            style = {"done": "green", "failed": "bold red", "cancelled": "yellow", "running": "bold"}.get(r.status, "")
            mark = "★" if r.label == snap.best else ("≈" if b.within_noise else "")  # ≈: within noise of the best
            table.add_row(
                mark, r.value, Text(r.status, style=style), r.now,
                _num(r.final_loss), _num(r.eval_loss), _num(r.golden), _num(r.held_out_loss), _num(r.rouge_l),
                format_duration(r.duration_s) or "-", key=r.label,
            )  # fmt: skip
        labels = [b.row.label for b in snap.branches]
        if self._start_on in labels:
            cursor, self._start_on = labels.index(self._start_on), None
        if snap.branches:
            table.move_cursor(row=min(max(cursor, 0), len(snap.branches) - 1))
        self._show_curves(snap)
        self._show_note()

    def _show_curves(self, snap: SweepSnapshot) -> None:
        chart = self.query_one(Curves)
        loss, lr, grad = [], [], []
        for i, b in enumerate(snap.branches):
            colour = COLOURS[i % len(COLOURS)]
            loss.append(Curve(b.row.value, b.row.losses, colour))
            if b.row.eval_losses:
                loss.append(Curve(f"{b.row.value} eval", b.row.eval_losses, colour, dots=True))
            lr.append(Curve(b.row.value, b.row.learning_rates, colour))
            grad.append(Curve(b.row.value, b.row.grad_norms, colour))
        chart.set_panel("loss", loss)
        chart.set_panel("learning rate", lr)
        chart.set_panel("grad norm", grad)

    @on(DataTable.RowHighlighted, "#sweep-table")
    def _highlighted(self) -> None:
        self._show_note()

    def _show_note(self) -> None:
        b = self.selected()
        note = ""
        if b is not None:
            r = b.row
            parts = [f"{r.label}: {r.status}"]
            if r.reason and r.status != "done":
                parts.append(r.reason)
            if b.vs_best:
                parts.append(b.vs_best)
            elif self.snapshot and r.label == self.snapshot.best and (close := self._within_noise()):
                parts.append(f"best, but within noise of it (≈): {', '.join(close)}")
            if r.golden_gain is not None:
                parts.append(f"golden {r.golden_gain:+.3f} against the base model")
            if r.devices:
                parts.append(f"GPUs {r.devices}")
            keys = {k: keymap.key_label(self.app, f"sweep.{k}") for k in ("chat", "export", "best")}
            parts.append(f"{keys['chat']} chat · {keys['export']} export · {keys['best']} best" if b.has_model
                         else "no model yet")  # fmt: skip
            note = " · ".join(parts)
        self.query_one("#sweep-note", Static).update(Text(note))

    def _within_noise(self) -> list[str]:
        return [b.row.label for b in self.snapshot.branches if b.within_noise] if self.snapshot else []

    # choosing -----------------------------------------------------------------------------------------

    def selected(self) -> BranchView | None:
        if self.snapshot is None or not self.snapshot.branches:
            return None
        row = self.query_one("#sweep-table", DataTable).cursor_row
        return self.snapshot.branches[min(max(row, 0), len(self.snapshot.branches) - 1)]

    def _model(self) -> FinishedModel | None:
        b = self.selected()
        if b is None or not b.has_model:
            what = f"branch {b.row.label} has no model yet ({b.row.status})" if b else "no branch yet"
            self.notify(what, severity="warning")
            return None
        assert self.snapshot is not None
        return FinishedModel(self.snapshot.run_id, b.row.label, b.folder, b.folder / "optimize" / "output",
                             b.row.value, b.row.label == self.snapshot.best)  # fmt: skip

    @on(DataTable.RowSelected, "#sweep-table")
    async def _chosen(self) -> None:
        await self.action_chat()

    async def action_chat(self) -> None:
        model = self._model()
        if model is None:
            return
        from tui.screens.chat import ChatScreen

        await self.app.switch_mode("chat")
        screen = self.app.screen
        if isinstance(screen, ChatScreen):
            screen.use_model(model.model_dir)

    def action_export(self) -> None:
        model = self._model()
        if model is not None:
            from tui.screens.export import ExportScreen

            self.app.push_screen(ExportScreen(self.app.lab, model))  # type: ignore[attr-defined]

    def action_upload(self) -> None:
        model = self._model()
        if model is not None:
            from tui.screens.upload import UploadScreen

            self.app.push_screen(UploadScreen(model.model_dir))

    def action_best(self) -> None:
        snap = self.snapshot
        labels = [b.row.label for b in snap.branches] if snap else []
        if snap is None or snap.best not in labels:
            self.notify("No branch has finished yet: the best is chosen among finished ones", severity="warning")
            return
        self.query_one("#sweep-table", DataTable).move_cursor(row=labels.index(snap.best))

        self.notify(f"best: {snap.best} ({RANK_SHORT})", timeout=4)

    def action_compare(self) -> None:
        b, snap = self.selected(), self.snapshot
        if b is None or snap is None or len(snap.branches) < 2:
            self.notify("A comparison needs two branches", severity="warning")
            return
        others = [x for x in snap.branches if x is not b]
        other = next((x for x in others if x.row.label == snap.best), others[0])
        from tui.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(b.folder, other.folder))

    def action_show_log(self) -> None:
        """The chosen branch on the monitor: its steps, progress and whole log."""
        b = self.selected()
        if b is None or not (b.folder / "state.json").exists():
            self.notify("That branch has not started yet", severity="warning")
            return
        monitor = self.app.screen_stack[-2] if len(self.app.screen_stack) > 1 else None  # opened from the monitor
        self.app.pop_screen()
        if monitor is not None and hasattr(monitor, "show_run"):
            monitor.show_run(b.folder, pinned=True)

    def action_chart(self, what: str) -> None:
        self.query_one(Curves).act(what)  # the chart's legend says what it shows now
