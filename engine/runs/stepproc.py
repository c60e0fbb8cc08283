"""What the supervisor does around a step's child process: the death signal that ties the step to its
supervisor, the disk reserve that lets a run record "no space left" truthfully, partial outputs marked as
such, and the step's progress and GPU meter."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine import hub
from engine.fs import free_mib, try_lock
from engine.gpu.meter import StepGpuMeter, warnings
from engine.paths import PROJECT_ROOT
from engine.runs import events as ev
from engine.runs.state import Progress, RunState, StepState
from engine.steps.logparse import LogParser, ParsedEvent
from engine.steps.plan import EnvVar

RESERVE_FILE = ".reserve"  # freed to write the final state when the disk fills up
RESERVE_BYTES = 256 * 1024


class Cancelled(Exception):
    """The user cancelled the run."""


class StepFailed(Exception):
    """A step failed; the run stops with this reason."""


class PollerStopped(Exception):
    """A remote step's poller cannot go on (signed out, say); the job goes on in Azure, the run stays open."""


def progress_of(parser: LogParser) -> Progress | None:
    p = parser.progress
    if p is None:
        return None
    return Progress(n=p.n, total=p.total, rate=p.rate, eta_s=p.eta_s, desc=p.desc)


def gpu_meter(pids: Any, lab_dir: Path) -> Any:
    """The step's GPU meter (peak VRAM, utilisation, energy); it also watches host RAM and disk."""
    try:
        return StepGpuMeter(pids, lab_dir)
    except Exception:  # monitoring must never stop a run
        return None


def _load_prctl() -> Any:
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()  # loaded before any fork: the child only calls it
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the step's child process, before exec: die when the supervisor dies, however it dies."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)


def reserve(run_dir: Path) -> None:
    try:
        with open(run_dir / RESERVE_FILE, "wb") as fh:
            fh.write(b"\0" * RESERVE_BYTES)
    except OSError:
        pass


def free_reserve(run_dir: Path) -> None:
    try:
        (run_dir / RESERVE_FILE).unlink()
    except OSError:
        pass


def mark_partial(step_dir: Path) -> None:
    """A failed or cancelled step's output is never taken for a result: it is renamed `output.partial`."""
    for leftover in step_dir.glob("*.partial"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
    output = step_dir / "output"
    if output.exists():
        shutil.rmtree(step_dir / "output.partial", ignore_errors=True)
        os.replace(output, step_dir / "output.partial")


def no_space_reason(exc: OSError, run_dir: Path) -> str:
    where = exc.filename or run_dir
    return f"no space left on device in {Path(str(where)).parent if exc.filename else where}{free_mib(run_dir)}"


_PARSED: dict[str, type[Any]] = {
    "pass_started": ev.PassStarted,
    "pass_finished": ev.PassFinished,
    "pass_failed": ev.PassFailed,
    "cache_hit": ev.CacheHit,
    "saved": ev.Saved,
    "no_output": ev.NoOutput,
    "train_done": ev.TrainDone,
    "sign_in_code": ev.SignInCode,
}


def to_event(step: StepState, parsed: ParsedEvent, loss_lines: dict[str, int], logging_steps: int) -> ev.Event | None:
    """The typed event for one thing the log parser found (the step's live fields updated on the way);
    None when there is nothing to record (a metric that is not a number: nothing to chart)."""
    data, kind = parsed.data, parsed.kind
    if kind == "pass_started":
        step.current_pass = f"{data['pass_name']}:{data['pass_type']}"
    elif kind == "pass_finished":
        step.current_pass = None
    try:
        if kind == "loss":
            step.last_loss = data.get("loss")
            n_loss = loss_lines[step.name] = loss_lines.get(step.name, 0) + 1
            return ev.LossEvent.model_validate({**data, "step": step.name, "train_step": n_loss * logging_steps})
        if kind == "eval_loss":
            step.last_eval_loss = data.get("eval_loss")
            train_step = loss_lines.get(step.name, 0) * logging_steps
            return ev.EvalLossEvent.model_validate({**data, "step": step.name, "train_step": train_step})
        if kind == "error":
            return ev.Warning_(step=step.name, message=str(data.get("message", "")))
        if kind in _PARSED:
            found: ev.Event = _PARSED[kind].model_validate({**data, "step": step.name})
            return found
    except ValueError:
        return None
    return None


def step_env(planned: Sequence[EnvVar], secrets: Mapping[str, str]) -> dict[str, str]:
    """The environment a step runs in on this machine: this process's, the project on PYTHONPATH, the step's
    variables as its plan records them (engine.steps.plan.step_env), and its secret values, which come from
    the supervisor's environment, never from a file."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    env.update({v.name: v.value for v in planned if v.value is not None})
    if hub.offline(env):
        # transformers 5 fetches hub kernels (the `kernels` package) when it loads a model, even offline, and
        # fails there: offline, the model's own layers are used (unless the step's own table says otherwise)
        env.setdefault("USE_HUB_KERNELS", "NO")
    env.update(secrets)
    return env


def watch_resources(state: RunState, step: StepState, meter: Any, lab_root: Path, event: Any) -> None:
    """Sample the GPUs and host for the step's figures, and warn once about trouble ahead."""
    try:
        sample = meter.sample()
        step.gpu = step.gpu.model_validate(meter.summary())  # live figures: the monitor shows them
        found = warnings(sample, lab_root)
    except Exception:  # monitoring must never stop a run
        return
    for message in found:
        if message not in state.warnings:
            state.warnings.append(message)
            event(ev.Warning_(step=step.name, message=message))


POLLER_LOCK = "poller.lock"
_held: list[int] = []


def take_poller_lock(run_dir: Path) -> bool:
    """One supervisor per run folder: a resumed poller that finds another at work leaves it be."""
    fd = try_lock(run_dir / POLLER_LOCK)
    if fd is None:
        return False
    _held.append(fd)  # held until the process ends
    return True


def poller_lock_free(run_dir: Path) -> bool:
    fd = try_lock(run_dir / POLLER_LOCK, create=False)
    if fd is not None:
        os.close(fd)
    return fd is not None or not (run_dir / POLLER_LOCK).exists()
