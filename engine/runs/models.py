"""Which model: every finished model of the lab (a run's ONNX folder, or a sweep branch's), and the one to talk to
when none was chosen. Chat, export and upload in the app list models through it, so they always agree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.paths import LabPaths
from engine.runs.state import branch_dir, iter_runs


@dataclass(frozen=True)
class FinishedModel:
    """A model chat can load and export can copy: a finished run's, or one branch's of a sweep."""

    run_id: str
    branch: str  # "" for a run that is not a sweep
    folder: Path  # the run folder (a branch's own, for a branch)
    model_dir: Path  # its ONNX folder (optimize/output)
    value: str = ""  # a branch's value of the swept setting ("8" of finetune.lora_r=8)
    best: bool = False  # the sweep's best branch (engine.runs.compare.best_branch)

    @property
    def label(self) -> str:
        return f"run {self.run_id} · branch {self.branch}" if self.branch else f"run {self.run_id}"


def finished_models(lab: LabPaths, *, limit: int = 100) -> list[FinishedModel]:
    """Every model in the lab, newest run first; a sweep's branches in their order, its best one first."""
    from engine.chat.models import RUN_MODEL_DIR, is_model_dir

    found: list[FinishedModel] = []
    for entry in iter_runs(lab.runs):
        state = entry.state
        if state is None or entry.dir.is_symlink():
            continue
        if state.sweep is None:
            if is_model_dir(entry.dir / RUN_MODEL_DIR):
                found.append(FinishedModel(entry.id, "", entry.dir, entry.dir / RUN_MODEL_DIR))
        else:
            from engine.runs.compare import best_branch

            best = best_branch(entry.dir)
            folders = {label: branch_dir(entry.dir, label) for label in state.sweep.branches}
            branches = [
                FinishedModel(entry.id, label, folders[label], folders[label] / RUN_MODEL_DIR, value, label == best)
                for label, value in zip(state.sweep.branches, state.sweep.values, strict=True)
                if is_model_dir(folders[label] / RUN_MODEL_DIR)
            ]
            found += sorted(branches, key=lambda m: not m.best)
        if len(found) >= limit:
            break
    return found


def default_model(lab: LabPaths) -> FinishedModel | None:
    """The model to talk to when none was chosen: the newest run's, for a sweep its best branch's."""
    return next(iter(finished_models(lab, limit=1)), None)
