"""The monitor's log and toasts at 80 columns, driven with keys: long lines wrap (w toggles), the errors-only
view shows whole lines, z gives the log the screen, and a burst of finished steps is one toast."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fixtures.monitor_app import MonitorApp
from fixtures.runfolders import LiveRun
from textual.pilot import Pilot

from tui.screens.monitor import MonitorScreen
from tui.widgets.log_view import LogView

WARNING = (
    "/work/main/.venv/lib/python3.11/site-packages/transformers/modeling_utils.py:3204: FutureWarning: "
    "`gradient_checkpointing_enable` is deprecated and will be removed in v6."
)


async def wait_for(pilot: Pilot, check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


async def test_long_lines_wrap_at_80_columns_and_w_cuts_them_again(tmp_path: Path, stand_in_supervisor: int) -> None:
    live = LiveRun(tmp_path / "runs", pid=stand_in_supervisor)
    live.start_step("finetune")
    live.print("finetune", "starting\n" + WARNING + "\n")
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.state is not None)
        log = app.screen.query_one(LogView)
        await wait_for(pilot, lambda: any("FutureWarning" in line for line in log.lines))
        shown = "".join(line.strip() for line in log.lines)
        assert "will be removed in v6." in shown and max(map(len, log.lines)) < 80
        await pilot.press("e")  # errors and warnings only: the whole warning, not a path fragment
        await pilot.pause(0.2)
        assert "gradient_checkpointing_enable" in "".join(log.lines)
        await pilot.press("w")
        await pilot.pause(0.2)
        assert not log.wrap and any(len(line) > 80 for line in log.lines)
        before = log.size.height
        await pilot.press("z")
        await pilot.pause(0.2)
        assert log.size.height > before + 6


async def test_steps_finishing_together_and_the_run_end_make_one_toast_that_says_what_is_next(
    tmp_path: Path, stand_in_supervisor: int
) -> None:
    live = LiveRun(tmp_path / "runs", pid=stand_in_supervisor)
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.state is not None)
        await pilot.pause(0.3)
        for name in ("prepare", "quantize", "finetune", "optimize"):
            live.start_step(name)
            live.finish_step(name, status="reused" if name != "prepare" else "done")
        live.finish("done")
        await wait_for(pilot, lambda: any("press 6 to chat" in str(n.message) for n in app._notifications))
        await pilot.pause(0.8)
        messages = [str(n.message) for n in app._notifications]
        assert len(messages) == 1, messages  # the steps and the run's end in one toast
        assert "quantize reused" in messages[0] and "optimize reused" in messages[0]
        assert "press 6 to chat" in messages[0]
