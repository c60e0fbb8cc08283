"""Starting, cancelling and removing runs.

`start_run` checks what it can cheaply (engine.runs.preflight), takes the lab's run lock, writes the run
folder and launches a detached supervisor (`engine.runs.supervisor`) that owns the run from then on. The app
and the command line never run steps themselves: they read the run folder, so they can come and go.

The one-run-per-lab guard is a lock (`flock` on `.olive-lab/run.lock`) taken here and inherited by the
supervisor, which holds it until the run has ended: two starts at the same moment cannot both win.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from engine.config import STEP_SECTIONS, LabConfig, save_config_to
from engine.errors import OliveLabError
from engine.fs import PRIVATE_FILE, atomic_write_text, private_dir, read_limited, try_lock
from engine.paths import PROJECT_ROOT, LabPaths
from engine.redact import MASK, mask_env, secret_env
from engine.runs import select
from engine.runs.proctree import stop_tree
from engine.runs.state import (
    SUCCEEDED_STEP,
    RunState,
    StepState,
    Sweep,
    pid_alive,
    read_state,
    shared_steps,
    supervisor_alive,
    write_state,
)
from engine.runs.warden import CANCEL_FILE
from engine.steps.spec import STEP_NAMES, input_step, missing_outputs, remote_only, run_steps

SECRETS_FILE = ".step-secrets.json"  # secret step variables for the supervisor: 0600, removed once read
LOCK_FD_ENV = "OLIVE_LAB_LOCK_FD"


class PipelineError(OliveLabError):
    """A run cannot start or be changed, and why (with the file, line or field where that applies)."""


def new_run_id() -> str:
    """Ids sort in start order (runs are listed by id): the time to the millisecond, then a random digit."""
    now = time.time()
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + f"-{int(now * 1000) % 1000:03d}{secrets.randbelow(16):x}"


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
            why = (
                f"running {changed[0]} changes its input" if changed else "no earlier run finished it"
            )
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


def masked_config(config: LabConfig) -> tuple[LabConfig, dict[str, dict[str, str]]]:
    """The settings as they may be written down (secret step variables masked) and the secrets themselves."""
    data = config.model_dump()
    hidden: dict[str, dict[str, str]] = {}
    for name in STEP_NAMES:
        section = data.get(STEP_SECTIONS.get(name, name))
        if isinstance(section, dict) and isinstance(section.get("env"), dict):
            found = secret_env(section["env"])
            if found:
                hidden[name] = found
                section["env"] = mask_env(section["env"])
    return LabConfig.model_validate(data), hidden


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


def hand_secrets(run_dir: Path, secrets: dict[str, dict[str, str]]) -> None:
    """Leave the secret step variables for the run's supervisor in a file only the user can read, which the
    supervisor removes as it reads it: so they sit in no process's environment (readable in /proc) but the
    step's own."""
    if secrets:
        atomic_write_text(run_dir / SECRETS_FILE, json.dumps(secrets), private=True)


def take_secrets(run_dir: Path) -> dict[str, dict[str, str]]:
    """The secrets `hand_secrets` left for this run (removed from the folder as they are read); {} when none."""
    path = run_dir / SECRETS_FILE
    try:
        data = json.loads(read_limited(path))
    except (OSError, ValueError):
        return {}
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
    return data if isinstance(data, dict) else {}


def new_run_folder(
    lab: LabPaths, run_dir: Path, config: LabConfig, forced: Sequence[str] = (), only: Sequence[str] | None = None
) -> tuple[RunState, dict[str, dict[str, str]]]:
    """Write a new run's settings.toml and first state (secrets masked); returns the state and the secrets."""
    shown, hidden = masked_config(config)
    save_config_to(run_dir / "settings.toml", shown, private=True)
    state = RunState(
        id=run_dir.name,
        lab=str(lab.root),
        profile=config.profile,
        config=shown,
        forced_steps=list(forced),
        steps=[StepState(name=name) for name in (only or run_steps(config))],
    )
    write_state(run_dir, state)
    return state, hidden


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
    run_dir = None
    try:
        private_dir(lab.runs)
        run_id = new_run_id()
        run_dir = lab.run_dir(run_id)
        private_dir(run_dir)
        shared = shared_steps(sweep.setting) if sweep is not None else only  # steps a sweep runs once
        state, hidden = new_run_folder(lab, run_dir, config, forced, shared)
        if sweep is not None:  # the branches' folders are made once the shared steps are done
            state.sweep = sweep
            write_state(run_dir, state)
        if resume:
            state.resume = True
            write_state(run_dir, state)
        if check:
            state.warnings = resource_warnings(lab, config)
            write_state(run_dir, state)
        hand_secrets(run_dir, hidden)
        launch_supervisor(lab, run_dir, {}, lock_fd)
    except OSError:  # a full or read-only disk before the supervisor took the run: leave no half-made run
        if run_dir is not None:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        if lock_fd is not None:
            os.close(lock_fd)  # the supervisor holds its own copy until the run ends
    _wait_supervisor(run_dir)
    return run_id


def launch_supervisor(lab: LabPaths, run_dir: Path, extra_env: dict[str, str], lock_fd: int | None = None) -> None:
    """Start the run's detached supervisor (it forks away and the launcher exits at once)."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
        **extra_env,
    )
    pass_fds: tuple[int, ...] = ()
    if lock_fd is not None:
        env[LOCK_FD_ENV] = str(lock_fd)
        pass_fds = (lock_fd,)
    with open(os.open(run_dir / "supervisor.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE), "ab") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "engine.runs.supervisor", "--daemonize", str(run_dir)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=str(lab.root),
            env=env,
            start_new_session=True,
            pass_fds=pass_fds,
        )
    launcher.wait(timeout=30)


def resume_remote(lab: LabPaths) -> list[str]:
    """Start a poller again for each run whose Azure ML job goes on without one (the laptop slept, the app
    closed, the sign-in expired). Returns the ids of the runs taken up again."""
    from engine.runs.stepproc import poller_lock_free

    resumed = []
    for entry in select.runs(lab):
        state = entry.state
        if state is None or state.finished or not state.in_azure():
            continue
        if supervisor_alive(state) or not poller_lock_free(entry.dir):
            continue
        launch_supervisor(lab, entry.dir, {})
        resumed.append(entry.id)
    return resumed


def _wait_supervisor(run_dir: Path, timeout: float = 10.0, since: int | None = None) -> None:
    """Return once the supervisor (another than `since`) has taken the run; if it died first, say why."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = read_state(run_dir)
        if (state.supervisor_pid and state.supervisor_pid != since) or state.finished:
            return
        time.sleep(0.02)
    log = (run_dir / "supervisor.log").read_text(encoding="utf-8", errors="replace").strip().splitlines()
    raise PipelineError(f"the run's supervisor did not start ({log[-1] if log else 'no message'}; see {run_dir}/supervisor.log)")


def _stopped(pid: int) -> bool:
    """Whether `pid` is stopped (SIGSTOP, a debugger): it will not answer a signal until continued."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("T", "t")
    except (OSError, IndexError):
        return False


def cancel_run(lab: LabPaths, run_id: str | None, timeout: float = 5.0) -> RunState:
    """Stop a run's whole process tree (interrupt, terminate, kill) and wait until it says so."""
    entry = select.resolve(lab, run_id)
    if entry.state is None:
        raise PipelineError(f"run {entry.id} cannot be read: {entry.problem}")
    run_dir = entry.dir
    state = entry.state
    if state.finished:
        return state
    if state.in_azure():  # cancelling means cancelling the job: through a (resumed) poller
        if not supervisor_alive(state):
            resume_remote(lab)
            _wait_supervisor(run_dir, since=state.supervisor_pid)
            state = read_state(run_dir)
        timeout = max(timeout, 150.0)
    deadline = time.time() + timeout
    supervisor = state.supervisor_pid
    if supervisor and pid_alive(supervisor):
        local = not state.in_azure()
        if local:
            with contextlib.suppress(OSError):
                (run_dir / CANCEL_FILE).touch()
        os.kill(supervisor, signal.SIGTERM)
        killed = False
        while time.time() < deadline:
            state = read_state(run_dir)
            if state.finished:
                return state
            if local and not killed and _stopped(supervisor):
                # stopped (SIGSTOP), it cannot answer: kill it; its waiting parent records the cancel
                with contextlib.suppress(OSError):
                    os.kill(supervisor, signal.SIGKILL)
                killed = True
            time.sleep(0.05)
    # The supervisor is gone (or stuck): stop the steps' process groups ourselves and close the state.

    now = time.time()
    for step in state.steps:
        if step.status == "running" and step.pid:
            stop_tree(step.pid, group=True)
        if step.status in ("running", "pending"):
            step.status = "cancelled"
            step.reason = "cancelled"
        if step.started_at is not None and step.ended_at is None:
            step.ended_at = now
    for pid in (state.supervisor_pid, state.warden_pid):
        if pid_alive(pid):
            stop_tree(pid, group=False)  # type: ignore[arg-type]  # pid_alive is False for None
    state.status = "cancelled"
    state.reason = state.reason or "cancelled (the supervisor had stopped answering)"
    state.ended_at = now
    write_state(run_dir, state)
    return state


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

