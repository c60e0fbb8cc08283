"""How a run reads to a user, the same in the monitor and in `olive-lab runs show`: its status, its reason,
and timers that stop where the run stopped (a lost run's at its supervisor's last sign of life)."""

from __future__ import annotations

from pathlib import Path

from engine.runs.state import (
    ENDED_RUN,
    STATE_FILE,
    RunFileError,
    RunState,
    SeenStatus,
    branch_dir,
    close_steps,
    effective_status,
    last_sign_of_life,
    lost_reason,
    read_state,
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


def sweep_line(run_dir: Path, state: RunState) -> str | None:
    """A sweep in one line, its branches counted by status: "sweep of finetune.lora_r: 2 branches (1 done,
    1 running)"; None for a run that is not a sweep. A branch not yet started waits (is `pending`), or, once
    the sweep has ended, was never run (`skipped`), as `engine.runs.sweep.compare_branches` counts it."""
    if state.sweep is None:
        return None
    ended = effective_status(state) in ENDED_RUN
    counts: dict[str, int] = {}
    for label in state.sweep.branches:
        folder = branch_dir(run_dir, label)
        try:
            status: str = effective_status(read_state(folder)) if (folder / STATE_FILE).exists() else ""
        except RunFileError:
            status = "unreadable"
        status = status or ("skipped" if ended else "pending")
        counts[status] = counts.get(status, 0) + 1
    total = len(state.sweep.branches)
    parts = ", ".join(f"{n} {status}" for status, n in counts.items())
    return f"sweep of {state.sweep.setting}: {total} branch{'es' if total != 1 else ''}" + (
        f" ({parts})" if parts else ""
    )
