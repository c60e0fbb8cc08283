"""What `olive-lab runs prune` removes, decided (and shown) before anything is removed.

`keep` counts runs that left a model (a chat-ready optimize output, or a sweep branch's): the newest `keep` of
them stay, and so does every run started after the oldest of those. The newest run with a model is never
pruned, whatever `keep` says; it goes only when named (`olive-lab runs rm ID`). Runs still going, and folders
that cannot be read, are never pruned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import OliveLabError
from engine.paths import LabPaths
from engine.runs import select
from engine.runs.state import BRANCHES, ENDED_RUN, RunEntry, effective_status


@dataclass
class Prunable:
    entry: RunEntry
    status: str
    has_model: bool


@dataclass
class PrunePlan:
    remove: list[Prunable] = field(default_factory=list)
    newest_model: str | None = None
    """The newest run with a model: kept whatever `keep` says."""
    skipped: list[str] = field(default_factory=list)


def has_model(run_dir: Path) -> bool:
    """Whether the run left a model chat can load (its own optimize output, or a sweep branch's)."""
    from engine.chat.models import RUN_MODEL_DIR, is_model_dir

    folders = [run_dir / RUN_MODEL_DIR, *sorted((run_dir / BRANCHES).glob(f"*/{RUN_MODEL_DIR}"))]
    return any(is_model_dir(folder) for folder in folders)


def plan_prune(lab: LabPaths, *, keep: int = 5, failed_only: bool = False) -> PrunePlan:
    """The finished runs to remove (newest first): beyond the newest `keep` runs with a model, or with
    `failed_only` the failed, cancelled and lost runs that left no model."""
    plan = PrunePlan()
    finished: list[Prunable] = []
    for entry in select.runs(lab):
        if entry.state is None:
            plan.skipped.append(f"{entry.id}: {entry.problem} (remove it with `olive-lab runs rm {entry.id}`)")
            continue
        status = effective_status(entry.state)
        if status in ENDED_RUN:
            finished.append(Prunable(entry, status, has_model(entry.dir)))
    with_model = [run.entry.id for run in finished if run.has_model]
    plan.newest_model = with_model[0] if with_model else None
    if failed_only:
        plan.remove = [run for run in finished if run.status != "done" and not run.has_model]
        return plan
    oldest_kept = with_model[:keep][-1] if keep > 0 and with_model else None
    plan.remove = [
        run
        for run in finished
        if (oldest_kept is None or run.entry.id < oldest_kept) and run.entry.id != plan.newest_model
    ]
    return plan


def prune(lab: LabPaths, plan: PrunePlan) -> tuple[list[str], list[str]]:
    """Remove the planned runs. Returns (removed, skipped with why)."""
    from engine.runs.control import remove_entry

    removed: list[str] = []
    skipped = list(plan.skipped)
    for run in plan.remove:
        try:
            remove_entry(lab, run.entry)
            removed.append(run.entry.id)
        except (OliveLabError, OSError) as exc:
            skipped.append(f"{run.entry.id}: {exc}")
    return removed, skipped
