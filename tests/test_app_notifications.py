"""Messages show on a line of their own above the footer, never over content or a dialog; they stay readable
after they go (f2); o opens the step's log in $PAGER."""

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


async def test_a_message_takes_a_line_of_its_own_and_none_covers_the_quit_question(tmp_path: Path) -> None:
    from tui.widgets.message_line import MessageLine

    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause(0.3)
        home = app.screen
        body = home.query_one("#home-body")
        full = body.region
        app.notify("optimize failed: no space left on the disk that holds the lab", severity="error", timeout=30)
        app.notify("quantize reused", timeout=30)  # newer, but the error stays in view while it is current
        await pilot.pause(0.3)
        line = home.query_one(MessageLine)
        assert line.region.height == 1 and line.region.y == 24 - 2  # above the footer
        assert body.region.bottom <= line.region.y and body.region.height == full.height - 1  # nothing under it
        assert "optimize failed: no space left" in str(line.render()) and "+1 more: f2" in str(line.render())
        assert line.has_class("-error")
        await pilot.press("q")  # quit, asking first
        await pilot.pause(0.3)
        dialog = app.screen
        assert isinstance(dialog, ConfirmScreen)
        assert not dialog.query(MessageLine)  # nothing is drawn on the question
        await pilot.press("n")
        await pilot.pause(0.3)
        assert app.screen is home and line.display and "optimize failed" in str(line.render())


async def test_a_message_goes_when_its_time_is_up_and_gives_the_content_its_line_back(tmp_path: Path) -> None:
    from tui.widgets.message_line import MessageLine

    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause(0.3)
        body = app.screen.query_one("#home-body")
        full = body.region
        app.notify("theme not kept", severity="warning", timeout=0.5)
        await pilot.pause(0.2)
        line = app.screen.query_one(MessageLine)
        assert line.display and "! theme not kept" in str(line.render())
        await pilot.pause(0.8)
        assert not line.display and body.region == full


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


async def test_a_message_that_carries_its_own_icon_shows_one_icon(tmp_path: Path) -> None:
    from tui.widgets.message_line import MessageLine

    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(100, 24), notifications=True) as pilot:
        await pilot.pause(0.3)
        app.notify("✔ exported run 1 to /tmp/x", timeout=0.1)
        app.notify("✘ not exported: /tmp/full/x: no space left on device, 0.0 MiB free", severity="error", timeout=0.1)
        await pilot.pause(0.05)
        assert str(app.screen.query_one(MessageLine).render()).startswith("✘ not exported: /tmp/full/x")
        app.notify("✘ finetune failed: CUDA out of memory", title="run 1 failed", severity="error", timeout=30)
        await pilot.pause(0.3)
        assert str(app.screen.query_one(MessageLine).render()) == "✘ run 1 failed: finetune failed: CUDA out of memory"
        await pilot.press("f2")
        await pilot.pause()
        lines = str(app.screen.query_one("#notifications-text").render()).splitlines()
        assert [line.split(" ", 1)[1] for line in lines] == [
            "✘ run 1 failed: finetune failed: CUDA out of memory",
            "✘ not exported: /tmp/full/x: no space left on device, 0.0 MiB free",
            "✔ exported run 1 to /tmp/x",
        ]


async def test_a_lab_toml_error_goes_once_lab_toml_reads_again(tmp_path: Path) -> None:
    from tui.widgets.message_line import MessageLine

    (tmp_path / "lab.toml").write_text('profile = "demo"\n[finetune]\nmax_step = 5\n')
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(100, 24), notifications=True) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        line = app.screen.query_one(MessageLine)
        assert "lab.toml not used" in str(line.render())
        (tmp_path / "lab.toml").write_text('profile = "demo"\n[finetune]\nmax_steps = 5\n')
        await pilot.pause(2.5)  # the app looks at lab.toml every two seconds
        assert app.config_error is None and app.config.finetune.max_steps == 5
        assert str(line.render()) == "lab.toml changed outside the app: reloaded" and not line.has_class("-error")


async def test_a_sweep_refusal_is_said_in_the_dialog_and_is_the_newest_error_on_the_line(tmp_path: Path) -> None:
    from textual.widgets import Static

    from tui.screens.sweep_start import SweepStartScreen
    from tui.widgets.message_line import MessageLine

    (tmp_path / "lab.toml").write_text('profile = "demo"\n[finetune]\nmax_step = 5\n')
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        home = app.screen
        app.notify("an older error", severity="error", timeout=30)
        app.push_screen(SweepStartScreen("finetune.lora_r", 8))
        await pilot.pause(0.3)
        await pilot.press("4", "enter")  # finetune.lora_r=8,4
        await pilot.pause(0.3)
        dialog = app.screen
        assert isinstance(dialog, SweepStartScreen)
        said = " ".join(str(dialog.query_one("#sweep-plan", Static).render()).split())
        assert said.startswith("✘ lab.toml: Not started:") and "max_step" in said, said
        assert str(home.query_one(MessageLine).render()).startswith("✘ lab.toml: Not started:")


async def test_ctrl_c_says_how_to_quit_without_a_colon_after_the_question(tmp_path: Path) -> None:
    """ctrl+c showed "Do you want to quit?: Press ctrl+q to quit the app"."""
    from tui.widgets.message_line import MessageLine

    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.pause(0.3)
        await pilot.press("ctrl+c")
        await pilot.pause(0.3)
        shown = str(app.screen.query_one(MessageLine).render())
        assert "Do you want to quit? Press ctrl+q to quit the app" in shown, shown
        await pilot.press("f2")
        await pilot.pause()
        listed = str(app.screen.query_one("#notifications-text").render())
        assert "?:" not in listed, listed
