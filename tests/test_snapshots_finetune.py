"""How the monitor looks during fine-tuning (replayed from a recorded real run, clock frozen) at two sizes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fixtures.finetune_replay import finetune_midway
from fixtures.monitor_app import MonitorApp
from textual.pilot import Pilot

from tui.screens.monitor import MonitorScreen
from tui.widgets.log_view import LogView


class FrozenClock:
    """`time` as the monitor uses it, with the wall clock stopped at one moment."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.sleep, self.monotonic = time.sleep, time.monotonic

    def time(self) -> float:
        return self.now


async def _loaded(pilot: Pilot) -> None:
    deadline = time.monotonic() + 10
    while True:
        screen = pilot.app.screen
        if isinstance(screen, MonitorScreen) and screen.digest.losses and screen.query_one(LogView).line_count > 20:
            break
        assert time.monotonic() < deadline, "the run did not load"
        await pilot.pause(0.05)
    log = pilot.app.screen.query_one(LogView)
    seen, steady = -1, 0
    while steady < 4:  # the whole recorded log is in the view (a loaded machine reads it in more polls)
        steady = steady + 1 if log.line_count == seen else 0
        seen = log.line_count
        assert time.monotonic() < deadline, "the log did not settle"
        await pilot.pause(0.1)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_monitor_during_finetune(
    snap_compare, tmp_path: Path, size: tuple[int, int], monkeypatch, stand_in_supervisor: int
) -> None:
    run = finetune_midway(tmp_path / "runs", stand_in_supervisor)
    clock = FrozenClock(run.t)
    monkeypatch.setattr("tui.screens.monitor.time", clock)
    monkeypatch.setattr("tui.widgets.run_text.time", clock)
    monkeypatch.setattr("tui.widgets.timeline.time", clock)
    assert snap_compare(MonitorApp(tmp_path), terminal_size=size, run_before=_loaded)


async def test_the_now_panel_during_finetune_reads_like_the_chart(
    tmp_path: Path, monkeypatch, stand_in_supervisor: int
) -> None:
    run = finetune_midway(tmp_path / "runs", stand_in_supervisor)
    clock = FrozenClock(run.t)
    monkeypatch.setattr("tui.screens.monitor.time", clock)
    monkeypatch.setattr("tui.widgets.run_text.time", clock)
    monkeypatch.setattr("tui.widgets.timeline.time", clock)
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await _loaded(pilot)
        screen = app.screen
        now = str(screen.query_one("#mon-progress").render())
        assert "pass lora" in now and "pass f " not in now
        last_step, last_loss = screen.digest.losses[-1]
        assert f"loss {last_loss:.3f} at step {last_step:g}" in now
        chart = str(screen.query_one("#mon-loss #curves-legend").render())
        axis = screen.query_one("#mon-loss PlotextPlot").render().plain.splitlines()[-1]  # type: ignore[attr-defined]
        assert f"train {last_loss:.3f}" in chart and axis.split()[0] == "1.0"  # the steps axis starts at step 1
