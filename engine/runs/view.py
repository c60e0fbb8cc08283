"""How a run reads to a user, the same in the monitor and in `olive-lab runs show`: its status, its reason,
and timers that stop where the run stopped (a lost run's at its supervisor's last sign of life)."""

from __future__ import annotations

from pathlib import Path

from engine.durations import format_duration as format_duration  # the one format, re-exported
from engine.runs.state import (
    RunState,
    SeenStatus,
    close_steps,
    effective_status,
    last_sign_of_life,
    lost_reason,
)


def as_seen(run_dir: Path, state: RunState) -> tuple[SeenStatus, RunState]:
    """The status to show and a copy of the state whose times are final for a run that has stopped; a lost
    run's rows read as ended too (the step that was running failed, those still to come were not run).
    Readers never write: the copy is for display only."""
    status = effective_status(state)
    if status != "lost":
        return status, state
    seen = state.model_copy(deep=True)
    seen.reason = state.reason or lost_reason(run_dir, state)
    seen.ended_at = seen.ended_at or last_sign_of_life(run_dir, state)
    close_steps(seen, "failed", seen.reason, seen.ended_at)  # the one closing of rows, shown but not written
    return status, seen
