"""Toasts stay readable after they vanish (f2), and o opens the step's log in $PAGER."""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

from fixtures.monitor_app import MonitorApp
from fixtures.runfolders import finished_run

from engine.paths import LabPaths
from tui.app import OliveLabApp
from tui.screens.confirm import ConfirmScreen
from tui.screens.monitor import MonitorScreen
from tui.screens.notifications import NotificationsScreen


async def test_f2_lists_the_toasts_that_have_gone(tmp_path: Path) -> None:
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        app.notify("quantize reused · finetune done in 0:12", timeout=0.1)
        app.notify("optimize failed: no space left", severity="error", timeout=0.1)
        await pilot.pause(0.4)
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, NotificationsScreen)
        text = str(app.screen.query_one("#notifications-text").render())
        assert text.index("optimize failed") < text.index("quantize reused")  # newest first


async def test_no_toast_covers_the_quit_question_and_they_come_back_after_it(tmp_path: Path) -> None:
    from textual.widgets._toast import Toast

    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        app.notify("optimize failed: no space left on the disk that holds the lab", severity="error", timeout=30)
        await pilot.pause(0.3)
        app.quit_guards.append(lambda: "Unsaved edits on Steps: lab.model")
        await pilot.press("ctrl+q")
        await pilot.pause(0.3)
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert not any(toast.display and toast.region.area for toast in dialog.query(Toast))
        await pilot.press("n")
        await pilot.pause(0.3)
        assert any(toast.region.area for toast in app.screen.query(Toast))


async def test_o_opens_the_step_log_in_the_pager(tmp_path: Path, monkeypatch) -> None:
    run_dir = finished_run(tmp_path / "runs")
    calls: list[list[str]] = []
    monkeypatch.setenv("PAGER", "most -s")
    monkeypatch.setattr(subprocess, "run", lambda argv, **kw: calls.append(argv))
    app = MonitorApp(tmp_path)
    monkeypatch.setattr(app, "suspend", contextlib.nullcontext)
    async with app.run_test(size=(80, 24)) as pilot:
        deadline = time.monotonic() + 5
        while not (isinstance(app.screen, MonitorScreen) and app.screen.state is not None):
            assert time.monotonic() < deadline
            await pilot.pause(0.05)
        await pilot.press("o")
        await pilot.pause()
    assert calls == [["most", "-s", str(run_dir / "optimize" / "step.log")]]
