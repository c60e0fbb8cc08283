"""What the supervisor does around a step's child process: the death signal that ties the step to its
supervisor, the disk reserve that lets a run record "no space left" truthfully, partial outputs marked as
such, and the step's progress and GPU meter."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path
from typing import Any

from engine.runs.state import Progress
from engine.steps.logparse import LogParser

RESERVE_FILE = ".reserve"  # freed to write the final state when the disk fills up
RESERVE_BYTES = 256 * 1024


def progress_of(parser: LogParser) -> Progress | None:
    p = parser.progress
    if p is None:
        return None
    return Progress(n=p.n, total=p.total, rate=p.rate, eta_s=p.eta_s, desc=p.desc)


def gpu_meter(pids: Any, lab_dir: Path) -> Any:
    """The step's GPU meter (peak VRAM, utilisation, energy); it also watches host RAM and disk."""
    try:
        from engine.gpu.meter import StepGpuMeter

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
    try:
        free = shutil.disk_usage(run_dir).free
        room = f", {free / 2**20:.1f} MiB free"
    except OSError:
        room = ""
    return f"no space left on device in {Path(str(where)).parent if exc.filename else where}{room}"
