"""The monitor on a run whose finetune step is an Azure ML job: where it runs, the job's status and the time
waited in it (ticking while the state file stays the same), the job's studio link; a stopped poller's
reason; and a cancel that says it waits for Azure."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from fixtures.monitor_app import MonitorApp
from fixtures.runfolders import STUDIO, remote_run
from textual.pilot import Pilot
from textual.widgets._footer import FooterKey

from engine.runs.state import read_state
from tui.screens.confirm import ConfirmScreen
from tui.screens.monitor import MonitorScreen

JOB = "olive-lab-20251124-170000-demo-finetune"


async def wait_for(pilot: Pilot, check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await pilot.pause(0.05)


def text_of(app: MonitorApp, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


def loaded(app: MonitorApp) -> bool:
    return isinstance(app.screen, MonitorScreen) and app.screen.state is not None


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", ""])
    proc.wait()
    return proc.pid


async def test_a_queued_job_shows_cluster_status_waited_time_and_studio_link(tmp_path: Path) -> None:
    # the test process stands in for the poller (so nothing signals a process of ours)
    live = remote_run(tmp_path / "runs", pid=os.getpid(), now=time.time(), waited=83)
    app = MonitorApp(tmp_path)
    copied: list[str] = []
    app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: loaded(app))
        now = text_of(app, "#mon-progress").splitlines()
        assert now[1].startswith("queued for a node on gpu-a100 (1:2")
        assert now[2] == "Azure ML · Standard_NC24ads_A100_v4 × 1 node"
        assert text_of(app, "#mon-remote").splitlines() == [f"job {JOB} · y copies its studio link:", STUDIO]
        assert "azureml:gpu-a100 · Queued" in text_of(app, "#mon-timeline")
        assert "running" in text_of(app, "#mon-title")
        written = (live.dir / "state.json").stat().st_mtime_ns
        await wait_for(pilot, lambda: text_of(app, "#mon-progress").splitlines()[1] != now[1], timeout=4)
        assert (live.dir / "state.json").stat().st_mtime_ns == written  # the clock ticked, not the file
        assert "copy_link" in [key.action for key in app.screen.query(FooterKey)]
        await pilot.press("y")
        assert copied == [STUDIO]


async def test_a_stopped_poller_says_why_and_that_the_job_goes_on(tmp_path: Path) -> None:
    reason = "the Azure sign-in expired (az login signs in again)"
    remote_run(tmp_path / "runs", pid=dead_pid(), now=time.time(), poller_gone=reason)
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: loaded(app))
        remote = text_of(app, "#mon-remote")
        assert (
            f"polling stopped: {reason}; the job goes on in Azure ML; polling resumes when olive-lab opens this "
            "lab again"
        ) in remote
        assert text_of(app, "#mon-progress").splitlines()[1].startswith("last seen: queued for a node on gpu-a100")
        assert "running" in text_of(app, "#mon-title") and "lost" not in text_of(app, "#mon-title")
        assert not app.screen.query_one("#mon-reason").has_class("-shown")  # not a failure


_SLOW_POLLER = """
import signal, sys, time
from pathlib import Path
from engine.runs.state import read_state, write_state
run = Path(sys.argv[1])
def stop(*_):
    time.sleep(1.5)  # Azure takes its time to cancel a job
    state = read_state(run)
    state.status, state.ended_at, state.reason = "cancelled", time.time(), "cancelled by the user"
    for step in state.steps:
        if step.status == "running":
            step.status, step.ended_at, step.reason = "cancelled", time.time(), "cancelled"
            step.remote.status = "Canceled"
    write_state(run, state)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
time.sleep(60)
"""


async def test_cancel_says_it_is_cancelling_the_azure_job_while_it_waits(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    runs = tmp_path / "runs"
    runs.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_POLLER, str(runs / "20251124-170000-demo")],
        cwd=root, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        live = remote_run(runs, pid=proc.pid, now=time.time())
        app = MonitorApp(tmp_path)
        async with app.run_test(size=(100, 30), notifications=True) as pilot:
            await wait_for(pilot, lambda: loaded(app))
            await pilot.press("c")
            assert isinstance(app.screen, ConfirmScreen)
            assert "Azure ML job on gpu-a100 is cancelled too" in app.screen.question
            await pilot.press("y")
            await wait_for(pilot, lambda: "cancelling the Azure ML job…" in text_of(app, "#mon-remote"))
            assert any("cancelling the Azure ML job" in n.message for n in app._notifications)
            await wait_for(pilot, lambda: "cancelled" in text_of(app, "#mon-title"), timeout=10)
            await wait_for(pilot, lambda: "cancelling" not in text_of(app, "#mon-remote"))
            assert "azureml:gpu-a100 · Canceled" in text_of(app, "#mon-timeline")
            assert text_of(app, "#mon-remote").startswith(f"job {JOB}")  # its link stays, to look at it in the studio
        assert proc.wait(5) == 0
        assert read_state(live.dir).status == "cancelled"
    finally:
        if proc.poll() is None:
            proc.kill()
