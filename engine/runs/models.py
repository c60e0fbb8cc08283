"""Which model: every finished model of the lab (a run's ONNX folder, or a sweep branch's), and the one to talk to
when none was chosen or a run was named. Chat (the app's and `olive-lab chat`), export and upload in the app pick
models through it, so they always agree."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.errors import OliveLabError
from engine.paths import LabPaths
from engine.runs.state import STATE_FILE, RunState, branch_dir, iter_runs, read_state


class NoModel(OliveLabError):
    """No model where the user pointed (the lab, a run, a branch or a folder)."""


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


def _run_models(run_id: str, run_dir: Path, state: RunState) -> list[FinishedModel]:
    """A run's model, or a sweep's branches' models in their order with the best one first."""
    from engine.chat.models import RUN_MODEL_DIR, is_model_dir

    if state.sweep is None:
        model_dir = run_dir / RUN_MODEL_DIR
        return [FinishedModel(run_id, "", run_dir, model_dir)] if is_model_dir(model_dir) else []
    from engine.runs.compare import best_branch

    best = best_branch(run_dir)
    folders = {label: branch_dir(run_dir, label) for label in state.sweep.branches}
    branches = [
        FinishedModel(run_id, label, folders[label], folders[label] / RUN_MODEL_DIR, value, label == best)
        for label, value in zip(state.sweep.branches, state.sweep.values, strict=True)
        if is_model_dir(folders[label] / RUN_MODEL_DIR)
    ]
    return sorted(branches, key=lambda m: not m.best)


def finished_models(lab: LabPaths, *, limit: int = 100) -> list[FinishedModel]:
    """Every model in the lab, newest run first; a sweep's branches in their order, its best one first."""
    found: list[FinishedModel] = []
    for entry in iter_runs(lab.runs):
        if entry.state is None or entry.dir.is_symlink():
            continue
        found += _run_models(entry.id, entry.dir, entry.state)
        if len(found) >= limit:
            break
    return found


def default_model(lab: LabPaths) -> FinishedModel | None:
    """The model to talk to when none was chosen: the newest run's, for a sweep its best branch's."""
    return next(iter(finished_models(lab, limit=1)), None)


def run_model(run_dir: Path, branch: str | None = None) -> FinishedModel:
    """A run's model; a sweep's: the branch named, else the one `finished_models` puts first (its best)."""
    from engine.runs.sweep import pick_branch

    state = read_state(run_dir)
    if branch or state.sweep is None:
        folder = pick_branch(run_dir, branch)  # refuses a branch of a run that is no sweep, or one it lacks
        found = [m for m in _run_models(run_dir.name, run_dir, state) if m.folder == folder]
    else:
        found = _run_models(run_dir.name, run_dir, state)
    if not found:
        what = f"run {run_dir.name}" + (f" · branch {branch}" if branch else "")
        raise NoModel(
            f"{what} has no optimized model yet (its optimize step has not finished)",
            f"`olive-lab runs show {run_dir.name}` shows where it stands; leave out --run for the newest model",
        )
    return found[0]


def pick_model(lab: LabPaths, run: str | None = None, branch: str | None = None) -> FinishedModel:
    """The model to talk to: with no run and no branch the lab's default (`default_model`); else the run's
    (engine.runs.select: an id, a unique prefix or 'latest'), a sweep's best branch unless one is named."""
    from engine.runs import select

    if run is None and not branch:
        found = default_model(lab)
        if found is None:
            raise NoModel(
                f"No optimized model in {lab.root}",
                "run the pipeline first (olive-lab pipeline run), or name a model folder with --model",
            )
        return found
    return run_model(select.resolve(lab, run).dir, branch)


def model_at(path: Path, branch: str | None = None) -> Path:
    """The model folder a folder the user named holds: itself (a model folder), a run's or a sweep's
    (`run_model`), a lab's (`pick_model`), else the first model folder found under it."""
    from engine.chat.models import GENAI_CONFIG, find_models

    if not path.is_dir():
        raise NoModel(f"{path}: no such folder")
    if (path / GENAI_CONFIG).is_file():
        return path
    if (path / STATE_FILE).is_file():
        return run_model(path, branch).model_dir
    if LabPaths.at(path).runs.is_dir():
        return pick_model(LabPaths.at(path), None, branch).model_dir
    found = find_models(path)
    if not found:
        raise NoModel(f"{path}: no onnxruntime-genai model ({GENAI_CONFIG}) found here")
    return found[0].path


def chosen_model(lab: LabPaths, model: str | None = None, run: str | None = None, branch: str | None = None) -> Path:
    """The model folder of `--model` / `--run` / `--branch`: `model` names a folder (`model_at`, a path as
    LabPaths.resolve reads it) or else a run, as `run` does (`pick_model`); neither: the lab's default model."""
    if model and lab.resolve(model).exists():
        return model_at(lab.resolve(model), branch)
    return pick_model(lab, model or run, branch).model_dir
