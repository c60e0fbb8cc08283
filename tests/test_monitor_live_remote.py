"""The monitor driven by keys against a live Azure ML job (the loopback job service, tests/fakes/azure_jobs.py):
the run started from the app with finetune and optimize on a cluster, the job seen queued with its time
waited, then running with its log coming in, then cancelled from the monitor, in Azure and in the run folder."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from textual.pilot import Pilot

from engine.paths import LabPaths
from engine.runs.state import read_state
from tests.helpers import POLL, remote_lab, remote_of
from tui.app import OliveLabApp
from tui.screens.confirm import ConfirmScreen
from tui.screens.monitor import MonitorScreen
from tui.widgets.log_view import LogView

pytestmark = [pytest.mark.azure, pytest.mark.usefixtures("node_env_built")]  # jobs run in it
ON_CLUSTER = '[finetune]\nrun_on = "azureml:gpu-a100"\n[optimize]\nrun_on = "azureml:gpu-a100"\n'


def no_checks(lab, config) -> list:
    return []


async def wait_for(pilot: Pilot, check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.2)


def monitor(app: OliveLabApp) -> MonitorScreen:
    screen = app.screen
    assert isinstance(screen, MonitorScreen), type(screen)
    return screen


def text_of(app: OliveLabApp, selector: str) -> str:
    screen = app.screen
    return str(screen.query_one(selector).render()) if isinstance(screen, MonitorScreen) else ""


def now_line(app: OliveLabApp) -> str:
    """The job's line in the "now" panel (under the step's name)."""
    lines = text_of(app, "#mon-progress").splitlines()
    return lines[1] if len(lines) > 1 else ""


def log_lines(app: OliveLabApp) -> str:
    return "\n".join(monitor(app).query_one(LogView).lines)


def stop_leftovers(run: Path | None) -> None:
    """After a failure: the run's detached supervisor and warden would poll on; the fixture ends the jobs."""
    state = read_state(run) if run is not None and (run / "state.json").is_file() else None
    if state is None or state.finished:
        return
    for pid in (state.supervisor_pid, state.warden_pid):
        if pid and psutil.pid_exists(pid):
            os.kill(pid, signal.SIGKILL)


async def test_the_monitor_follows_a_queued_then_running_job_and_cancels_it(
    fake_jobs_cloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = remote_lab(tmp_path, fake_jobs_cloud, extra=ON_CLUSTER)
    fake_jobs_cloud.configure(queue_s=1.5, node_env={"FAKE_OLIVE_DELAY": "0.15", "FAKE_OLIVE_HANG": "1"})
    for name, value in POLL.items():
        monkeypatch.setenv(name, value)
    app = OliveLabApp(LabPaths.at(lab), checks=no_checks)
    run: Path | None = None
    try:
        async with app.run_test(size=(100, 30), notifications=True) as pilot:
            await pilot.press("r")  # the checklist's key: start the pipeline; the app goes to the monitor
            await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and monitor(app).state is not None,
                           30, "the monitor to show the run")  # fmt: skip
            run = monitor(app).run_dir
            assert run is not None

            # queued on the cluster, with the time waited so far
            await wait_for(pilot, lambda: now_line(app).startswith("queued"), 40, "the job to show as queued")
            queued = now_line(app)
            assert re.fullmatch(r"queued for a node on gpu-a100 \(\d+:\d\d\)", queued), queued
            assert text_of(app, "#mon-progress").splitlines()[0].startswith("finetune")
            assert "Azure ML · Standard_NC24ads_A100_v4 × 1 node" in text_of(app, "#mon-progress")
            assert "azureml:gpu-a100 · Queued" in text_of(app, "#mon-timeline")
            state = monitor(app).state
            assert state is not None
            job_name = remote_of(state.step("finetune")).job_name
            assert job_name and text_of(app, "#mon-remote").startswith(f"job {job_name}")
            assert "Running workflow" not in log_lines(app)  # nothing of the job's log yet

            # then running, and the job's log comes into the log view as the stand-in olive prints it
            await wait_for(pilot, lambda: now_line(app) == "Running on gpu-a100", 20, "the job to show as Running")
            await wait_for(pilot, lambda: "Running workflow default_workflow" in log_lines(app), 20,
                           "the job's first lines in the log view")  # fmt: skip
            assert "Running fine-tuning" not in log_lines(app)  # the replay is still early on
            await wait_for(pilot, lambda: "Running fine-tuning" in log_lines(app), 20, "the job's log to grow")
            assert "azureml:gpu-a100 · Running" in text_of(app, "#mon-timeline")

            # cancel from the monitor: confirm, see it wait for Azure, then the run cancelled
            await pilot.press("c")
            assert isinstance(app.screen, ConfirmScreen)
            assert "Azure ML job on gpu-a100 is cancelled too" in app.screen.question
            await pilot.press("y")
            assert "cancelling the Azure ML job…" in text_of(app, "#mon-remote")
            await wait_for(pilot, lambda: "cancelled" in text_of(app, "#mon-title"), 40, "the run to show cancelled")
            await wait_for(pilot, lambda: "cancelling" not in text_of(app, "#mon-remote"), 10, "the cancel to end")
            assert "azureml:gpu-a100 · Canceled" in text_of(app, "#mon-timeline")
        assert fake_jobs_cloud.store.read(job_name)["status"] == "Canceled"
        state = read_state(run)
        assert state.status == "cancelled"
        finetune = state.step("finetune")
        assert finetune.status == "cancelled" and remote_of(finetune).status == "Canceled"
        assert state.step("optimize").status == "skipped"  # never submitted: not run
    finally:
        stop_leftovers(run)
