"""The lab's own processes (the run's supervisor and every step program under it) with CPU and RAM, for the
GPU screen when there is no GPU to list processes of: what nvitop's host view shows, for this lab only.

Roots are the lab's process ids the sampler was given (`engine.runs.select.lab_pids`); psutil expands them
to their children.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class ProcessTable:
    """Rows of (pid, name, CPU %, RSS) for the roots and their children; CPU % needs two readings, so the
    psutil handles are kept between calls."""

    def __init__(self) -> None:
        self._procs: dict[int, Any] = {}

    def rows(self, roots: Iterable[int]) -> list[tuple[str, str, str, str]]:
        import psutil  # only the GPU screen needs it, and only without a GPU

        seen: dict[int, Any] = {}
        for root in roots:
            try:
                top = self._procs.get(root) or psutil.Process(root)
                family = [top, *top.children(recursive=True)]
            except psutil.Error:
                continue
            for proc in family:
                seen[proc.pid] = self._procs.get(proc.pid, proc)
        self._procs = seen
        rows = []
        for pid, proc in sorted(seen.items()):
            try:
                with proc.oneshot():
                    cpu = proc.cpu_percent(None)
                    rss = proc.memory_info().rss / 2**30
                    name = proc.name()
            except psutil.Error:
                continue
            rows.append((str(pid), name, f"{cpu:.0f} %", f"{rss:.2f} GiB"))
        return rows
