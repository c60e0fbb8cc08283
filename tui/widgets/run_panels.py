"""The monitor's panels over the run it shows: the title line, the "now" box (progress, stall watch and curves),
the pinned reason of a failure and the evaluation table.

Each panel keeps what it last drew and redraws only when that changes (every update of a Static costs a layout
pass); the monitor screen hands them the run it follows and never touches their insides.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from engine.durations import format_duration
from engine.runs.state import SUCCEEDED_STEP, RemoteJob, RunState, effective_status, sweep_of
from engine.runs.watch import RunDigest
from engine.steps.evaluation import evaluation_table, run_evaluation
from tui import keymap
from tui.widgets.curves import Curve, Curves
from tui.widgets.run_text import chart_empty_text, failure_text, progress_text, running_step


class TextPanel(Static):
    """A Static that updates only when its text changes."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._text: str | None = None

    def set_text(self, text: str) -> None:
        if self._text != text:
            self._text = text
            self.update(Text(text))


class RunTitle(TextPanel):
    """The run shown in one line: id, profile, status, time taken, sweep, and whether the user chose it."""

    def show_empty(self) -> None:
        self.set_text("No runs yet in this lab. Press r to start the pipeline.")

    def show_problem(self, run_dir: Path | None, problem: str) -> None:
        self.set_text(f"run {run_dir.name if run_dir else ''} · unreadable: {problem}")

    def show(self, run_dir: Path | None, state: RunState | None, *, pinned: bool) -> None:
        if run_dir is None:
            return
        if state is None:
            self.set_text(f"run {run_dir.name} · waiting for the run folder…")
            return
        took = format_duration(state.duration_s if state.ended_at else None)
        sweep = sweep_of(run_dir)
        branches = keymap.key_label(self.app, "monitor.branches")
        what = f"branch {run_dir.name} of sweep {sweep.name}" if sweep else f"run {state.id}"
        parts = [what, state.profile, effective_status(state)]
        if took:
            parts.append(took)
        if state.sweep is not None:
            parts.append(f"sweep of {state.sweep.setting}: {len(state.sweep.branches)} branches ({branches})")
        if sweep is not None:
            parts.append(f"{branches}: the sweep's branches")
        elif pinned:
            parts.append(f"(chosen with {keymap.key_label(self.app, 'monitor.pick')})")
        self.set_text(" · ".join(parts))


class FailureReason(TextPanel):
    """Why the run shown failed, pinned under the steps until another run is shown."""

    def show(self, state: RunState | None) -> None:
        text = failure_text(state)
        self.set_class(bool(text), "-shown")
        self.set_text(text or "")


class EvaluationPanel(TextPanel):
    """The evaluate step's compact table, once the step is done (read once per run and step status)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._key: str | None = None

    def show(self, run_dir: Path | None, state: RunState | None) -> None:
        step = next((s for s in state.steps if s.name == "evaluate"), None) if state else None
        done = step is not None and step.status in SUCCEEDED_STEP and run_dir is not None
        key = f"{run_dir}:{step.status if step else ''}"
        if self._key == key:
            return
        self._key = key
        evaluation = run_evaluation(run_dir) if done and run_dir is not None else None
        self.set_class(evaluation is not None, "-shown")
        self.set_text(evaluation_table(evaluation, compact=True) if evaluation else "")


class LivePanel(Vertical):
    """The "now" box: the running step's progress (with a warning when it seems stuck) and the curves."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.stalled: str | None = None
        """The step warned about: silent for `stall_minutes` while the GPU idles."""
        self.stall_minutes = 0.0

    def compose(self) -> ComposeResult:
        yield TextPanel(id="mon-progress")
        yield Curves(id="mon-loss")

    def on_mount(self) -> None:
        self.border_title = "now"

    def show_progress(self, state: RunState | None, digest: RunDigest, now: float) -> None:
        text = progress_text(state, digest, now)
        if self.stalled:
            text += f"\n⚠ {self.stalled}: no output for {self.stall_minutes:g}+ min, GPU idle"
        self.query_one("#mon-progress", TextPanel).set_text(text)

    def show_chart_note(self, state: RunState | None) -> None:
        """What the chart says while it has no points (it depends on the run's state, not on its curves)."""
        self.query_one(Curves).empty_text = chart_empty_text(state, keymap.key_label(self.app, "monitor.branches"))

    def show_chart(self, state: RunState | None, digest: RunDigest) -> None:
        """The curves redrawn from the digest: on a new loss or another run, not on every state write."""
        self.show_chart_note(state)
        chart = self.query_one(Curves)
        d = digest
        chart.set_panel(
            "loss", [Curve("train", d.losses, "primary"), Curve("eval", d.eval_losses, "warning", dots=True)]
        )
        chart.set_panel("learning rate", [Curve("learning rate", d.learning_rates, "secondary")])
        chart.set_panel("grad norm", [Curve("grad norm", d.grad_norms, "accent")])

    def show_job(self, job: RemoteJob | None) -> None:
        """An Azure ML job still waiting for its node has no loss yet: the chart steps aside."""
        self.query_one(Curves).display = job is None or not (job.waiting or not job.job_name)

    def reset_stall(self) -> None:
        self.stalled = None

    def check_stall(
        self, state: RunState | None, now: float, log_grew_at: float | None, stall_minutes: float, gpu_idle: bool
    ) -> None:
        """Warn once per step that printed nothing for `stall_minutes` while the GPU idles."""
        self.stall_minutes = stall_minutes
        step = running_step(state)
        if step is None or step.remote is not None:  # a job's GPU is not this machine's: no stall guess
            self.stalled = None
            return
        last = max(t for t in (step.last_output_at, log_grew_at, step.started_at, 0.0) if t is not None)
        silent_min = (now - last) / 60
        if silent_min < stall_minutes or not gpu_idle:
            self.stalled = None
            return
        if self.stalled != step.name:
            self.stalled = step.name
            self.app.bell()
            self.notify(
                f"{step.name} has printed nothing for {silent_min:.0f} min and the GPU is idle: it may be stuck",
                severity="warning",
                timeout=30,
            )
