"""Which run: the one API that picks a run folder (by id, unique prefix or `latest`), the active run, the
lab's own processes. The app and the command line both go through it, so they always agree."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from engine.errors import OliveLabError
from engine.paths import LabPaths
from engine.runs.state import (
    ACTIVE_RUN,
    RunEntry,
    RunFileError,
    RunState,
    branch_dir,
    effective_status,
    iter_runs,
    pid_alive,
    read_state,
)


class RunNotFound(OliveLabError):
    """No run matches what the user asked for."""


LATEST = "latest"


def runs(lab: LabPaths) -> list[RunEntry]:
    """Every run folder of the lab, newest first (unreadable ones included, with their problem)."""
    return list(iter_runs(lab.runs))


def newest(lab: LabPaths) -> RunEntry | None:
    """The lab's newest run folder; a symbolic link under runs/ is not a run, so it is never picked."""
    return next((entry for entry in iter_runs(lab.runs) if not entry.dir.is_symlink()), None)


def resolve(lab: LabPaths, ref: str | None, *, default_latest: bool = True) -> RunEntry:
    """A run from its id, a unique prefix of it, or `latest`. An empty reference is refused."""
    if not lab.root.is_dir():
        raise RunNotFound(f"no lab folder at {lab.root}", "give an existing folder with --lab")
    if ref is None and default_latest:
        ref = LATEST
    if ref is None or not ref.strip():
        raise RunNotFound("no run given", f"give a run id, a unique prefix of one, or '{LATEST}'")
    entries = runs(lab)
    if not entries:
        raise RunNotFound(f"no runs yet in {lab.runs}", "start one with `olive-lab pipeline run` or r in the app")
    if ref == LATEST:
        return entries[0]
    exact = [e for e in entries if e.id == ref]
    matches = exact or [e for e in entries if e.id.startswith(ref)]
    if not matches:
        raise RunNotFound(f"no run {ref!r} in {lab.runs}", "`olive-lab runs list` shows the runs")
    if len(matches) > 1:
        raise RunNotFound(f"run id {ref!r} is ambiguous: {', '.join(e.id for e in matches[:5])}")
    return matches[0]


def active(lab: LabPaths) -> RunEntry | None:
    """The run whose supervisor is still at work in this lab, if any."""
    for entry in iter_runs(lab.runs):
        state = entry.state
        if state is not None and effective_status(state) in ACTIVE_RUN:
            return entry
    return None


def lab_pids(lab: LabPaths) -> dict[int, str]:
    """The live processes of the lab's unfinished runs (supervisors, their waiting parents, steps), each with
    the label of the sweep branch it belongs to ("" for a run's own), so the GPU views can mark branches."""
    pids: dict[int, str] = {}
    for entry in iter_runs(lab.runs):
        state = entry.state
        if state is None or state.finished:
            continue
        found: list[tuple[RunState, str]] = [(state, "")]
        for label in state.sweep.branches if state.sweep else []:
            with contextlib.suppress(RunFileError):  # a branch not made yet
                found.append((read_state(branch_dir(entry.dir, label)), label))
        for run, label in found:
            for pid in [run.warden_pid, run.supervisor_pid, *(step.pid for step in run.steps)]:
                if pid and pid_alive(pid) and pid not in pids and not run.finished:
                    pids[pid] = label
    return pids


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
