"""How the monitor looks on a finished, failed run (fixed times, fixed GPU reading) at two terminal sizes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from fixtures.monitor_app import MonitorApp
from fixtures.runfolders import T0, finished_run, remote_run
from textual.pilot import Pilot

from tui.screens.monitor import MonitorScreen
from tui.widgets.log_view import LogView


async def _loaded(pilot: Pilot) -> None:
    deadline = time.monotonic() + 5
    while True:
        screen = pilot.app.screen
        if isinstance(screen, MonitorScreen) and screen.query_one(LogView).line_count > 20:
            break
        assert time.monotonic() < deadline, "the run did not load"
        await pilot.pause(0.05)
    await pilot.pause(0.2)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_monitor_failed_run(snap_compare, tmp_path: Path, size: tuple[int, int]) -> None:
    finished_run(tmp_path / "runs", fail_step="finetune")
    assert snap_compare(MonitorApp(tmp_path), terminal_size=size, run_before=_loaded)


class FrozenClock:
    """`time` as the monitor uses it, with the wall clock stopped at one moment."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.sleep, self.monotonic = time.sleep, time.monotonic

    def time(self) -> float:
        return self.now


def test_monitor_queued_remote_step(snap_compare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """finetune is an Azure ML job queued for a node for 1:23 (the test process stands in for its poller)."""
    now = T0 + 3700
    remote_run(tmp_path / "runs", pid=os.getpid(), now=now, waited=83)
    clock = FrozenClock(now)
    for module in ("tui.screens.monitor", "tui.widgets.run_text", "tui.widgets.timeline"):
        monkeypatch.setattr(f"{module}.time", clock)

    async def run_before(pilot: Pilot) -> None:
        deadline = time.monotonic() + 5
        while not (isinstance(pilot.app.screen, MonitorScreen) and pilot.app.screen.query_one(LogView).line_count >= 5):
            assert time.monotonic() < deadline, "the run did not load"
            await pilot.pause(0.05)
        log = pilot.app.screen.query_one(LogView)
        while not (log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y):  # the log follows its end
            assert time.monotonic() < deadline, "the log did not scroll to its end"
            await pilot.pause(0.05)
        await pilot.pause(0.3)

    assert snap_compare(MonitorApp(tmp_path), terminal_size=(80, 24), run_before=run_before)
