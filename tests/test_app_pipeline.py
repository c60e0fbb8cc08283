"""The whole app driven with keys against the real supervisor: the real demo pipeline on the CPU, a failure
replayed from a real Olive log, and a cancel that leaves no process behind."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import FAKE_OLIVE
from textual.pilot import Pilot

from engine.paths import LabPaths
from engine.runs.state import read_state
from tests.helpers import LOGS, fake_olive_alive
from tui.app import OliveLabApp
from tui.screens.chat import ChatScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.monitor import MonitorScreen
from tui.widgets.chat_view import AnswerBox
from tui.widgets.log_view import LogView


def no_checks(lab, config) -> list:
    return []


async def wait_for(pilot: Pilot, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.1)


def monitor(app: OliveLabApp) -> MonitorScreen:
    screen = app.screen
    assert isinstance(screen, MonitorScreen), type(screen)
    return screen


def finished(app: OliveLabApp) -> bool:
    screen = app.screen
    return isinstance(screen, MonitorScreen) and screen.state is not None and screen.state.finished


@pytest.mark.pipeline
async def test_one_key_runs_the_real_demo_pipeline_and_the_chat_answers(demo_lab: Path, tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    lab.mkdir()
    app = OliveLabApp(LabPaths.at(lab), checks=no_checks)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen), 30)
        await wait_for(pilot, lambda: finished(app), 400)
        screen = monitor(app)
        assert screen.state is not None and screen.state.status == "done", screen.state and screen.state.reason
        assert [s.name for s in screen.state.steps][-1] == "evaluate"  # on in the demo profile
        assert [s.status for s in screen.state.steps] == ["done"] * 5
        await pilot.pause(0.5)
        assert len(screen.digest.losses) == 20  # the live loss chart got every logged step
        assert "Model is saved at" in "\n".join(screen.query_one(LogView).lines)
        await pilot.press("6")
        await pilot.pause(1)
        chat = app.screen
        assert isinstance(chat, ChatScreen)
        await wait_for(pilot, lambda: chat.session is not None, 60)
        await pilot.press(*"Rome?", "enter")
        await wait_for(pilot, lambda: not chat.busy, 60)
        answered = [a for a in chat.query(AnswerBox) if a.answer is not None]
        last = answered[-1].answer if answered else None
        assert last is not None and last.stats.answer_tokens > 0


@pytest.fixture
def replay_lab(demo_lab: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A lab whose Olive steps replay captured real output (quantize off: it is not Olive)."""
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "lab.toml").write_text('profile = "demo"\n[quantize]\nenabled = false\n[evaluate]\nenabled = false\n')
    monkeypatch.setenv("OLIVE_LAB_OLIVE", f"{sys.executable} {FAKE_OLIVE}")
    return lab


async def test_a_failure_replayed_from_a_real_olive_log_is_pinned_with_its_reason(
    replay_lab: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = replay_lab
    monkeypatch.setenv("FAKE_OLIVE_LOG_AUTO_OPT", str(LOGS / "optimize_fail_torch_export.log"))
    app = OliveLabApp(LabPaths.at(lab), checks=no_checks)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("4", "r")
        await wait_for(pilot, lambda: finished(app), 120)
        await pilot.pause(0.5)
        screen = monitor(app)
        assert screen.state is not None and screen.state.status == "failed"
        pinned = str(screen.query_one("#mon-reason").render())
        assert "RuntimeError: Only tuples, lists and Variables are supported" in pinned
        assert "Olive exited 0 anyway" in pinned
        timeline = str(screen.query_one("#mon-timeline").render())
        assert "finetune" in timeline and "optimize" in timeline
        await pilot.pause(3.5)  # past the gathering of step toasts
        failed = [text for _, _, text in app.notification_history if "failed" in text]
        assert len(failed) == 1, failed  # one toast for the failure, not one per step and one for the run
        assert "RuntimeError: Only tuples, lists and Variables are supported" in failed[0]


async def test_cancel_from_the_app_stops_the_real_run_and_its_processes(
    replay_lab: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = replay_lab
    monkeypatch.setenv("FAKE_OLIVE_HANG", "1")
    app = OliveLabApp(LabPaths.at(lab), checks=no_checks)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("4", "r")

        def finetune_running() -> bool:
            state = monitor(app).state
            return state is not None and state.step("finetune").status == "running" and bool(fake_olive_alive())

        await wait_for(pilot, finetune_running, 60)
        await pilot.pause(1.0)  # the toast of the steps done so far
        toasts_before = len(app.notification_history)
        await pilot.press("c")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        started = time.monotonic()
        await wait_for(pilot, lambda: finished(app), 10)
        assert time.monotonic() - started < 5
        await pilot.pause(3.5)  # past the gathering of step toasts
        toasts = [text for _, _, text in list(app.notification_history)[toasts_before:]]
        assert len(toasts) == 1 and "cancelled" in toasts[0], toasts  # one toast for one cancel
        run_dir = monitor(app).run_dir
        assert run_dir is not None
        assert read_state(run_dir).status == "cancelled"
        assert not fake_olive_alive()
    # Closing the app and opening it again finds the run and all of its log.
    again = OliveLabApp(LabPaths.at(lab), checks=no_checks)
    async with again.run_test(size=(100, 32)) as pilot:
        await pilot.press("4")
        await wait_for(pilot, lambda: finished(again), 10)
        screen = monitor(again)
        await wait_for(pilot, lambda: screen.query_one(LogView).line_count > 20, 10)
        assert screen.run_dir == run_dir
