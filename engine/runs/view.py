"""How a run reads to a user, the same in the monitor and in `olive-lab runs show`: its status, its reason,
and timers that stop where the run stopped (a lost run's at its supervisor's last sign of life)."""

from __future__ import annotations

from pathlib import Path

from engine.durations import format_duration as format_duration  # the one format, re-exported
from engine.runs.state import RunState, SeenStatus, effective_status, last_sign_of_life, lost_reason


def as_seen(run_dir: Path, state: RunState) -> tuple[SeenStatus, RunState]:
    """The status to show and a copy of the state whose times are final for a run that has stopped; a lost
    run's rows read as ended too (the step that was running failed, those still to come were not run).
    Readers never write: the copy is for display only."""
    status = effective_status(state)
    if status != "lost":
        return status, state
    seen = state.model_copy(deep=True)
    last = last_sign_of_life(run_dir, state)
    seen.reason = state.reason or lost_reason(run_dir, state)
    seen.ended_at = seen.ended_at or last
    for step in seen.steps:
        if step.started_at is not None and step.ended_at is None:
            step.ended_at = max(last, step.started_at)
            step.reason = step.reason or seen.reason
        if step.status == "running" and not (step.remote is not None and step.remote.job_name):
            step.status = "failed"
        elif step.status == "pending":
            step.status, step.reason = "skipped", step.reason or f"not run: {seen.reason}"
    return status, seen
