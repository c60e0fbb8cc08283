"""Which run: the one API that picks a run folder (by id, unique prefix or `latest`), the active run, the
lab's own processes. The app and the command line both go through it, so they always agree."""

from __future__ import annotations

import contextlib

from engine.errors import OliveLabError
from engine.paths import LabPaths
from engine.runs.state import (
    ACTIVE_RUN,
    RunFileError,
    RunState,
    branch_dir,
    effective_status,
    iter_runs,
    pid_alive,
    read_state,
)
from engine.runs.state import (
    RunEntry as RunEntry,  # what the selector returns
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
