"""A finished sweep on the monitor and its branches view, keys only: retry, following a branch and back, the
curves' place, the ranking's sign and noise, q and the text at 80x24 (fixture folders, no olive)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fixtures.monitor_app import MonitorApp
from fixtures.runfolders import evaluated_sweep
from textual.pilot import Pilot

from engine.runs.state import read_state, write_state
from tui.screens.monitor import MonitorScreen
from tui.screens.sweep import SweepScreen


async def wait_for(pilot: Pilot, check: Callable[[], bool], timeout: float = 10, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not in {timeout} s: {what}")
        await pilot.pause(0.05)


def notes(app: MonitorApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


async def on_monitor(pilot: Pilot) -> MonitorScreen:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.state is not None, what="run")
    assert isinstance(app.screen, MonitorScreen)
    return app.screen


async def test_t_on_a_cancelled_sweep_says_a_sweep_is_started_again(tmp_path: Path) -> None:
    sweep = evaluated_sweep(tmp_path / "runs")
    state = read_state(sweep)
    state.status, state.reason = "cancelled", "cancelled by the user"
    write_state(sweep, state)
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await on_monitor(pilot)
        await pilot.press("t")
        await wait_for(pilot, lambda: "sweep" in notes(app), what="the answer to t")
        assert "A sweep is not retried: start it again (ctrl+b on Steps)." in notes(app)
        assert "Nothing to retry" not in notes(app)
