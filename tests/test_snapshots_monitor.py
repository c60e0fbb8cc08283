"""How the monitor looks on a finished, failed run (fixed times, fixed GPU reading) at two terminal sizes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fixtures.monitor_app import MonitorApp
from fixtures.runfolders import finished_run
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
