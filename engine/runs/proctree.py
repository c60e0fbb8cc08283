"""Stopping a whole process tree: interrupt, then terminate, then kill, within a few seconds."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

INTERRUPT_GRACE_S = 1.5
TERMINATE_GRACE_S = 1.5


def _descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def _alive(pids: list[int]) -> list[int]:
    import psutil

    alive = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.Error:
            continue
    return alive


def _signal(pids: list[int], pgid: int | None, sig: int) -> None:
    if pgid is not None:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def group_alive(pgid: int) -> bool:
    """Whether any process is left in process group `pgid`."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_tree(pid: int, *, group: bool = True, reap: Callable[[], object] | None = None, patient: bool = True) -> None:
    """Stop `pid`, its process group (when `group`) and every descendant. `reap` polls a Popen if given; not
    `patient`, it gives each signal a moment only (a cancel that has already waited for an answer).

    A step leads its own session, so its process group id is its pid: the group is stopped even when the
    step itself has already died and left children behind."""
    pids = [pid, *_descendants(pid)]
    pgid = None
    if group:
        try:
            pgid = os.getpgid(pid)
        except ProcessLookupError:
            pgid = pid if group_alive(pid) else None
    graces = (INTERRUPT_GRACE_S, TERMINATE_GRACE_S) if patient else (0.2, 0.2)
    for sig, grace in ((signal.SIGINT, graces[0]), (signal.SIGTERM, graces[1]), (signal.SIGKILL, 1.0)):
        _signal(_alive(pids), pgid, sig)
        deadline = time.time() + grace
        while time.time() < deadline:
            if reap is not None:
                reap()
            if not _alive(pids) and (pgid is None or not group_alive(pgid)):
                return
            time.sleep(0.05)
