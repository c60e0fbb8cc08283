"""Starting, cancelling and removing runs.

`start_run` checks what it can cheaply (engine.runs.preflight), takes the lab's run lock and launches a
detached supervisor (`engine.runs.supervisor`), which makes the run folder and owns the run from then on. The
app and the command line never run steps and never write a run's state: they read the run folder, so they can
come and go. A cancel is a request (a signal) that the supervisor carries out; one that does not answer is
killed, and its waiting parent records the cancel.

The one-run-per-lab guard is a lock (`flock` on `.olive-lab/run.lock`) taken here and inherited by the
supervisor, which holds it until the run has ended: two starts at the same moment cannot both win.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import time
from collections.abc import Sequence
from pathlib import Path

from engine.config import STEP_SECTIONS, LabConfig
from engine.errors import OliveLabError
from engine.fs import private_dir, try_lock
from engine.paths import LabPaths
from engine.redact import MASK
from engine.runs import select
from engine.runs.launch import first_state, launch_supervisor
from engine.runs.state import (
    SUCCEEDED_STEP,
    RunState,
    Sweep,
    pid_alive,
    read_state,
    shared_steps,
    supervisor_alive,
)
from engine.runs.view import as_seen
from engine.steps.spec import STEP_NAMES, input_step, missing_outputs, remote_only


class PipelineError(OliveLabError):
    """A run cannot start or be changed, and why (with the file, line or field where that applies)."""


def new_run_id() -> str:
    """Ids sort in start order (runs are listed by id): the time to the millisecond, then a random digit."""
    now = time.time()
    return (
        time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + f"-{int(now * 1000) % 1000:03d}{secrets.randbelow(16):x}"
    )


def selected_steps(steps: Sequence[str] | None = None, from_step: str | None = None) -> list[str]:
    """The steps the user asked to run (forced, no reuse); an empty list means 'all, reusing what is done'."""
    if steps is not None and from_step:
        raise PipelineError("give either --steps or --from, not both")
    if from_step:
        if from_step not in STEP_NAMES:
            raise PipelineError(f"unknown step {from_step!r}; steps are {', '.join(STEP_NAMES)}")
        return list(STEP_NAMES[STEP_NAMES.index(from_step) :])
    if steps is not None:
        chosen = [s.strip() for s in steps if s.strip()]
        if not chosen:
            raise PipelineError(f"no step given; steps are {', '.join(STEP_NAMES)}")
        unknown = [s for s in chosen if s not in STEP_NAMES]
        if unknown:
            raise PipelineError(f"unknown step {unknown[0]!r}; steps are {', '.join(STEP_NAMES)}")
        return [s for s in STEP_NAMES if s in chosen]
    return []


def check_selection(lab: LabPaths, config: LabConfig, forced: Sequence[str]) -> None:
    """Every chosen step's input comes from an earlier chosen step, or from a finished earlier run that this
    run can reuse (which it cannot when a chosen step upstream changes that input)."""
    for name in forced:
        previous = input_step(name, config)
        if previous is None or previous in forced:
            continue
        upstream, step = [], input_step(previous, config)
        while step is not None:
            upstream.append(step)
            step = input_step(step, config)
        changed = [s for s in upstream if s in forced]
        if changed or not _finished_somewhere(lab, previous):
            why = f"running {changed[0]} changes its input" if changed else "no earlier run finished it"
            raise PipelineError(
                f"{name} needs the output of {previous}, which is not among the chosen steps ({why})",
                f"run it too: --from {changed[0] if changed else previous}",
            )


def _finished_somewhere(lab: LabPaths, step: str) -> bool:
    for entry in select.runs(lab):
        if entry.state is None:
            continue
        for s in entry.state.steps:
            if s.name == step and s.status in SUCCEEDED_STEP:
                if missing_outputs(step, entry.dir / step / "output") is None:
                    return True
    return False


def _take_lock(lab: LabPaths) -> int | None:
    """The lab's run lock as an open descriptor, or None when a running supervisor holds it."""
    private_dir(lab.private)
    return try_lock(lab.run_lock)


def restore_config(saved: LabConfig, current: LabConfig) -> LabConfig:
    """An earlier run's settings to use again: masked secrets take the values the lab has now."""
    data = saved.model_dump()
    now = current.model_dump()
    for name in STEP_NAMES:
        key_of = STEP_SECTIONS.get(name, name)
        env = data.get(key_of, {}).get("env")
        if not isinstance(env, dict):
            continue
        current_env = now.get(key_of, {}).get("env", {})
        for key, value in list(env.items()):
            if value == MASK:
                if key in current_env:
                    env[key] = current_env[key]
                else:
                    del env[key]
    return LabConfig.model_validate(data)


def start_run(
    lab: LabPaths,
    config: LabConfig,
    *,
    steps: Sequence[str] | None = None,
    from_step: str | None = None,
    allow_concurrent: bool = False,
    check: bool = True,
    only: Sequence[str] | None = None,
    sweep: Sweep | None = None,
    resume: bool = False,
) -> str:
    """Validate, create `runs/<id>/` and launch its detached supervisor. Returns the run id. `only` makes a
    run of just those steps (`olive-lab upload` runs the register step in a run folder of its own); `resume`
    starts its fine-tune from the last checkpoint of a stopped run with the same settings, data and model."""
    from engine.runs.preflight import preflight, register_problems, resource_warnings

    forced = selected_steps(steps, from_step)
    if only is None:
        check_selection(lab, config, forced)
    if check:
        problems = preflight(lab, config)
        if problems:
            raise PipelineError("; ".join(problems))
    elif only and "register" in only and (problems := register_problems(lab, config)):
        raise PipelineError("; ".join(problems))
    lock_fd = None
    if not allow_concurrent and not remote_only(config, forced or None):
        lock_fd = _take_lock(lab)
        if lock_fd is None:
            running = select.active(lab)
            what = f"run {running.id} is still going" if running else "another run is starting"
            raise PipelineError(
                f"{what} in this lab (one run at a time)",
                "cancel it, wait for it, or start with --allow-concurrent",
            )
    try:
        run_id = new_run_id()
        request = first_state(lab, run_id, config, forced, shared_steps(sweep.setting) if sweep else only)
        request.state.sweep = sweep  # a sweep's branches are made once its shared steps are done
        request.state.resume = resume
        request.state.warnings = resource_warnings(lab, config) if check else []
        launch_supervisor(lab, lab.run_dir(run_id), request, lock_fd=lock_fd)  # it makes the run folder
    finally:
        if lock_fd is not None:
            os.close(lock_fd)  # the supervisor holds its own copy until the run ends
    return run_id


def resume_remote(lab: LabPaths) -> list[str]:
    """Start a poller again for each run whose Azure ML job goes on without one (the laptop slept, the app
    closed, the sign-in expired). Returns the ids of the runs taken up again."""
    resumed = []
    for entry in select.runs(lab):
        state = entry.state
        if state is None or state.finished or not state.in_azure():
            continue
        if _resume(lab, entry.dir, state):
            resumed.append(entry.id)
    return resumed


def _resume(lab: LabPaths, run_dir: Path, state: RunState) -> bool:
    """A poller for a remote run that has none (True when one was started)."""
    from engine.runs.stepproc import poller_lock_free

    if supervisor_alive(state) or not poller_lock_free(run_dir):
        return False
    return launch_supervisor(lab, run_dir)


ANSWER_S = 1.5  # a supervisor that has not taken up a cancel by then is not answering: it is killed
CANCEL_S = 5.0  # the promise: a cancelled run is closed within this, whatever state its supervisor is in
REMOTE_CANCEL_S = 150.0  # a remote run: its job is cancelled in Azure ML, which answers in its own time


def _stopped(pid: int) -> bool:
    """Whether `pid` is stopped (SIGSTOP, a debugger): it will not answer a signal until continued."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("T", "t")
    except (OSError, IndexError):
        return False


def _signal(pid: int | None, sig: int) -> None:
    if pid_alive(pid):
        with contextlib.suppress(OSError):
            os.kill(pid, sig)  # type: ignore[arg-type]  # pid_alive is False for None


def request_cancel(state: RunState) -> None:
    """Ask a run's supervisor to cancel: through its waiting parent, which passes it on and, should the
    supervisor die without closing the run, records the cancel. A stopped supervisor cannot answer: killed."""
    _signal(state.warden_pid if pid_alive(state.warden_pid) else state.supervisor_pid, signal.SIGTERM)
    if state.supervisor_pid and _stopped(state.supervisor_pid):
        _signal(state.supervisor_pid, signal.SIGKILL)


def overdue(state: RunState, asked: float, now: float, limit: float = CANCEL_S) -> bool:
    """A cancel sent at `asked` that the supervisor did not take up in time, or did not finish in time."""
    return (now - asked > ANSWER_S and not state.cancel_requested) or now - asked > limit - 1.0


def cancel_run(lab: LabPaths, run_id: str | None, timeout: float = CANCEL_S) -> RunState:
    """Cancel a run and wait until it is closed: its supervisor stops the steps and closes it; one that does
    not answer is killed and its waiting parent closes it. Never written here: the state as it reads after."""
    entry = select.resolve(lab, run_id)
    if entry.state is None:
        raise PipelineError(f"run {entry.id} cannot be read: {entry.problem}")
    if entry.state.finished:
        return entry.state
    if entry.state.in_azure():
        return _cancel_remote(lab, entry.dir, max(timeout, REMOTE_CANCEL_S))
    asked = time.monotonic()
    state = entry.state
    request_cancel(state)
    killed = False
    while time.monotonic() - asked < timeout:
        state = read_state(entry.dir)
        if state.finished or not supervisor_alive(state):
            break
        if not killed and overdue(state, asked, time.monotonic(), timeout):
            _signal(state.supervisor_pid, signal.SIGKILL)  # its waiting parent records the cancel
            killed = True
        time.sleep(0.03)
    return as_seen(entry.dir, read_state(entry.dir))[1]


def _cancel_remote(lab: LabPaths, run_dir: Path, timeout: float) -> RunState:
    """Cancel a run whose job is in Azure ML: its poller cancels the job; a run without a poller (or with one
    on its way out) gets a new one, which is then asked to cancel."""
    deadline = time.monotonic() + timeout
    asked: set[int] = set()
    state = read_state(run_dir)
    while time.monotonic() < deadline:
        state = read_state(run_dir)
        if state.finished:
            break
        pid = state.supervisor_pid
        if pid and pid_alive(pid) and pid not in asked and state.poller_gone is None:
            request_cancel(state)
            asked.add(pid)
        elif not supervisor_alive(state) and _resume(lab, run_dir, state):
            continue  # the new poller has taken the run: ask it on the next turn
        time.sleep(0.05)
    return as_seen(run_dir, state)[1]


def remove_run(lab: LabPaths, run_id: str | None) -> Path:
    """Delete one run folder: never the active one, never through a symbolic link, never outside runs/."""
    entry = select.resolve(lab, run_id, default_latest=False)
    remove_entry(lab, entry)
    return entry.dir


def remove_entry(lab: LabPaths, entry: select.RunEntry) -> None:
    """Delete one listed run folder (the checks of `remove_run`)."""
    path = entry.dir
    if path.is_symlink():
        path.unlink()  # the link goes, what it points to stays
        return
    runs_root = lab.runs.resolve()
    if path.resolve().parent != runs_root:
        raise PipelineError(f"{path} is not a run folder inside {runs_root}; nothing removed")
    if entry.state is not None and (not entry.state.finished and supervisor_alive(entry.state)):
        raise PipelineError(f"run {entry.id} is still going", "cancel it first: olive-lab runs cancel")
    try:
        shutil.rmtree(path)
    except OSError as exc:  # rmtree names only the file's own name
        raise OSError(exc.errno, exc.strerror, str(path / str(exc.filename))) from None
