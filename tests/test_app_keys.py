"""Keys of the monitor, chat and GPU screens come from the one key table: remaps in lab.toml work, help lists them."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.paths import LabPaths
from tui.app import OliveLabApp
from tui.screens.gpu import GpuScreen
from tui.screens.help import HelpScreen
from tui.widgets.log_view import LogView


def make_app(root: Path) -> OliveLabApp:
    (root / "lab.toml").write_text(
        '[keys]\n"monitor.errors" = "x"\n"chat.copy" = "f7"\n"gpu.slower" = "f8"\n', encoding="utf-8"
    )
    return OliveLabApp(LabPaths.at(root), checks=lambda lab, config: [])


def toasts(app: OliveLabApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


async def test_remapped_monitor_key_works_and_old_one_does_not(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        log = app.screen.query_one(LogView)
        await pilot.press("e")
        await pilot.pause()
        assert not log.errors_only
        await pilot.press("x")
        await pilot.pause()
        assert log.errors_only


async def test_remapped_chat_key_works(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.press("6")
        await pilot.pause(0.3)
        await pilot.press("f7")
        await pilot.pause()
        assert "No answer to copy yet" in toasts(app)


async def test_gpu_keys_change_interval_and_hide_processes(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.press("5")
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, GpuScreen)
        before = screen.interval
        await pilot.press("f8")
        await pilot.pause()
        assert screen.interval == pytest.approx(before * 2)
        assert f"Sampling every {before * 2:g} s" in toasts(app)
        await pilot.press("minus")  # remapped away: no effect
        await pilot.pause()
        assert screen.interval == pytest.approx(before * 2)
        await pilot.press("t")
        await pilot.pause()
        assert not screen.show_processes


async def test_help_lists_monitor_chat_and_gpu_keys_with_remaps(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        for heading in ("Monitor", "Chat", "GPU"):
            assert heading in text
        assert "monitor.errors" in text and "chat.copy" in text and "gpu.slower" in text
        assert "chat.golden" in text
        errors_line = next(line for line in text.splitlines() if "monitor.errors" in line)
        assert errors_line.split()[0] == "x"
        copy_line = next(line for line in text.splitlines() if "chat.copy" in line)
        assert copy_line.split()[0] == "f7"


async def test_retry_on_the_monitor_before_any_run_says_there_is_none(tmp_path: Path) -> None:
    """t on the monitor of a lab with no run said "the run shown has no failed or cancelled step"."""
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await pilot.pause(0.3)
        await pilot.press("t")
        await pilot.pause(0.3)
        said = [n.message for n in app._notifications]
        assert "No run yet: there is nothing to retry." in said, said
        assert not any("the run shown" in m for m in said), said
