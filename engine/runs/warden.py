"""The supervisor's minimal waiting parent: it sees how the supervisor really ended and, when it died
without closing its run (killed, out of memory, out of disk), stops what the run had started and records
the run as failed with the cause (or cancelled, when a cancel was sent to it first). Besides the supervisor it
is the only writer of the run's state. It imports nothing heavy and does nothing else while it waits."""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path
from typing import Literal

from engine.config import LabConfigError, load_config_file
from engine.runs import events as ev
from engine.runs.proctree import stop_tree
from engine.runs.state import RunFileError, RunState, StepState, close_steps, read_state, write_state
from engine.runs.supervisor_start import quiet, remove_unfinished
from engine.steps.spec import run_steps

EXIT_NO_SPACE = 28


def _cause(run_dir: Path, status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "unknown signal"
        return f"supervisor killed by signal {number} ({name})"
    code = os.WEXITSTATUS(status)
    if code == EXIT_NO_SPACE:
        return f"no space left on device in {run_dir}"
    last = ""
    try:
        lines = (run_dir / "supervisor.log").read_text(encoding="utf-8", errors="replace").strip().splitlines()
        last = lines[-1] if lines else ""
    except OSError:
        pass
    if "No space left on device" in last:
        return f"no space left on device in {run_dir}"
    return f"supervisor exited with status {code}" + (f": {last}" if last else "")


def _rebuild(run_dir: Path, reason: str) -> RunState | None:
    """A failed state for a run whose state.json was damaged before the supervisor could take it over,
    from the settings the run started with: the run is then listed, failed, with the cause."""

    try:
        config = load_config_file(run_dir / "settings.toml")
    except (LabConfigError, OSError):
        return None
    return RunState(
        id=run_dir.name,
        lab=str(run_dir.parent.parent),
        profile=config.profile,
        config=config,
        steps=[StepState(name=name) for name in run_steps(config)],
        reason=reason,
    )


def watch(run_dir: Path, child: int) -> int:
    """Wait for the supervisor (`child`); close its run truthfully if it could not. Returns an exit status.
    A cancel is sent here (SIGTERM) and passed on to the supervisor: if the supervisor then dies without
    closing the run (killed for not answering), the run is recorded as cancelled."""
    cancel: list[bool] = []

    def on_cancel(*_: object) -> None:
        cancel.append(True)
        try:
            os.kill(child, signal.SIGTERM)
        except OSError:
            pass

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, on_cancel)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            return 1
    if not run_dir.exists():  # it died while making its folder: no run, and nothing half-made left
        remove_unfinished(run_dir, child)
        return 1
    return close_after(run_dir, _cause(run_dir, status), cancelled=bool(cancel))


def close_after(run_dir: Path, cause: str, *, cancelled: bool) -> int:
    """Close the run of a supervisor that died without closing it: stop what it started, record why."""
    try:
        state = read_state(run_dir)
    except RunFileError as exc:
        rebuilt = _rebuild(run_dir, f"{cause}; {exc.message}")
        if rebuilt is None:
            return 1
        state = rebuilt
    if state.finished:
        return 0
    if state.in_azure():  # the job goes on in Azure: the next olive-lab command resumes polling
        if not state.poller_gone:
            state.poller_gone = cause
            try:
                write_state(run_dir, state)
            except OSError:
                return 1
        return 0

    outcome: Literal["failed", "cancelled"] = "cancelled" if cancelled else "failed"
    if cancelled:
        cause = "cancelled (the supervisor did not answer and was stopped)"
    for step in state.steps:
        if step.status == "running" and step.pid:
            stop_tree(step.pid, group=True, patient=not cancelled)  # a cancel has waited long enough
    close_steps(state, outcome, cause, time.time())
    state.status, state.reason, state.ended_at = outcome, cause, time.time()
    try:
        write_state(run_dir, state)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            return 1
        try:
            (run_dir / ".reserve").unlink()
            write_state(run_dir, state)
        except OSError:
            return 1
    try:
        (run_dir / ".reserve").unlink()
    except OSError:
        pass
    try:
        writer = ev.EventWriter(run_dir)
        writer.write(ev.RunFinished(status=outcome, reason=cause))
        writer.close()
    except OSError:
        pass
    return 1


def detach(run_dir: Path) -> None:
    """Leave the launcher (which returns at once) and the terminal's session, then fork once more: the
    parent stays as the supervisor's waiting parent; the child returns and becomes the supervisor."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    child = os.fork()
    if child > 0:
        quiet()  # the starter reads the supervisor's answer on our shared output: hold none of it
        os._exit(watch(run_dir, child))
