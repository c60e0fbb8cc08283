"""The monitor: following a run folder as it grows, and what a user does on the screen."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from fixtures.monitor_app import MonitorApp
from fixtures.runfolders import LiveRun, finished_run
from textual.pilot import Pilot

from engine.runs.state import read_state
from engine.runs.watch import RunDigest, RunWatcher, clean_line
from tui.screens.confirm import ConfirmScreen
from tui.screens.monitor import MonitorScreen
from tui.widgets.curves import Curves
from tui.widgets.log_view import LogView


async def wait_for(pilot: Pilot, check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.05)


# the reader -------------------------------------------------------------------------------------------


def test_watcher_reads_only_new_bytes_and_survives_truncation(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "r1"
    watcher = RunWatcher(run)
    assert not watcher.poll().lines  # the folder does not exist yet
    live = LiveRun(tmp_path / "runs", "r1")
    live.start_step("finetune")
    live.print("finetune", "one\ntwo\npart")
    first = watcher.poll()
    assert [t for _, t in first.lines] == ["── finetune ──", "one", "two"]
    assert first.state is not None and first.state.step("finetune").status == "running"
    assert not watcher.poll()  # nothing new: nothing read, nothing reported
    live.print("finetune", "ial\r 50%|##| 1/2\r100%|##| 2/2\n")
    # the last redraw of a tqdm bar is what a terminal shows
    assert watcher.poll().lines == [("progress", "100%|##| 2/2")]
    (run / "finetune" / "step.log").write_text("fresh\n")
    texts = [t for _, t in watcher.poll().lines]
    assert texts[-1] == "fresh" and "truncated" in texts[0]


def test_partial_line_joins_with_its_end(tmp_path: Path) -> None:
    live = LiveRun(tmp_path / "runs", "r1")
    live.start_step("quantize")
    watcher = RunWatcher(live.dir)
    live.print("quantize", "Traceback (most recent call last):\nValueErr")
    watcher.poll()
    live.print("quantize", "or: bad\n")
    assert watcher.poll().lines == [("error", "ValueError: bad")]


def test_long_log_on_attach_reads_only_the_tail(tmp_path: Path) -> None:
    live = LiveRun(tmp_path / "runs", "r1")
    live.start_step("finetune")
    live.print("finetune", "".join(f"line {i}\n" for i in range(200_000)))
    update = RunWatcher(live.dir, backlog_bytes=10_000).poll()
    texts = [t for _, t in update.lines]
    assert texts[-1] == "line 199999" and len(texts) < 2000
    assert "not shown here" in texts[1]


def test_clean_line_keeps_the_last_redraw_without_colours() -> None:
    assert clean_line("\x1b[32m 10%\r\x1b[32m 20%\x1b[0m\r") == " 20%"


def test_digest_collects_losses_passes_and_progress(tmp_path: Path) -> None:
    digest = RunDigest.of_run(finished_run(tmp_path / "runs"))
    assert digest.losses == [(5.0, 3.912), (10.0, 3.101), (15.0, 2.43), (20.0, 2.21)]
    assert digest.eval_losses == [(10.0, 3.05), (20.0, 2.48)]


# the screen ----------------------------------------------------------------------------------------------


async def test_live_run_shows_lines_loss_and_announces_the_step_end(tmp_path: Path, stand_in_supervisor: int) -> None:
    live = LiveRun(tmp_path / "runs", pid=stand_in_supervisor)
    live.start_step("finetune")
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.state is not None)
        log = app.screen.query_one(LogView)
        for i in range(3):
            live.print("finetune", f"{{'loss': '{3 - i}.0'}}\n")
            live.event("loss", step="finetune", train_step=i + 1, loss=3.0 - i, learning_rate=1e-3)
        live.event("progress", step="finetune", n=3, total=20, rate=2.0, eta_s=8.5, desc="")
        await wait_for(pilot, lambda: log.line_count >= 4)
        assert app.screen.query_one(Curves).panels["loss"][0].points == [(1.0, 3.0), (2.0, 2.0), (3.0, 1.0)]
        progress = str(app.screen.query_one("#mon-progress").render())
        assert "3/20" in progress and "2.00 it/s" in progress and "ETA 0:08" in progress
        live.finish_step("finetune")
        await wait_for(pilot, lambda: any("finetune done" in n.message for n in app._notifications))


async def test_follow_stops_on_scroll_up_and_resumes_with_end(tmp_path: Path, stand_in_supervisor: int) -> None:
    live = LiveRun(tmp_path / "runs", pid=stand_in_supervisor)
    live.start_step("finetune")
    live.print("finetune", "".join(f"line {i}\n" for i in range(300)))
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.screen.query_one(LogView)
        await wait_for(pilot, lambda: log.line_count >= 300)
        assert log.follow and log.is_vertical_scroll_end
        await pilot.press("pageup")
        assert not log.follow
        held = log.scroll_y
        live.print("finetune", "".join(f"more {i}\n" for i in range(100)))
        await wait_for(pilot, lambda: log.line_count >= 400)
        await pilot.pause(0.1)
        assert log.scroll_y == held  # the reader's place is kept while lines arrive
        await pilot.press("end")
        assert log.follow
        live.print("finetune", "newest\n")
        await wait_for(pilot, lambda: log.lines[-1] == "newest")
        await pilot.pause(0.1)
        assert log.is_vertical_scroll_end


async def test_search_finds_a_line_and_n_goes_to_the_older_one(tmp_path: Path) -> None:
    finished_run(tmp_path / "runs")
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.screen.query_one(LogView)
        await wait_for(pilot, lambda: log.line_count > 10)
        await pilot.press("slash", *"EVAL_LOSS", "enter")
        newest = log.match_line
        assert "'eval_loss': '2.480'" in log.lines[newest]
        assert not log.follow
        await pilot.press("n")
        assert "'eval_loss': '3.050'" in log.lines[log.match_line]
        await pilot.press("N")
        assert log.match_line == newest


async def test_failure_reason_is_pinned_and_errors_filter_hides_the_rest(tmp_path: Path) -> None:
    finished_run(tmp_path / "runs", fail_step="finetune", reason="ValueError: the template names no field")
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        log = app.screen.query_one(LogView)
        await wait_for(pilot, lambda: log.line_count > 10)
        pinned = app.screen.query_one("#mon-reason")
        assert pinned.display and "finetune failed: ValueError: the template names no field" in str(pinned.render())
        await pilot.press("e")
        shown = [line for line in log.lines if not line.startswith("──")]
        assert shown == ["Traceback (most recent call last):", "ValueError: the template names no field"]
        await pilot.press("e")
        assert log.line_count > 10


async def test_reopening_the_app_finds_the_running_run_with_its_whole_log(
    tmp_path: Path, stand_in_supervisor: int
) -> None:
    live = LiveRun(tmp_path / "runs", pid=stand_in_supervisor)  # "running": its stand-in supervisor is alive
    live.start_step("quantize")
    live.print("quantize", "".join(f"before {i}\n" for i in range(50)))
    finished_run(tmp_path / "runs", "20251124-100000-old")
    app = MonitorApp(tmp_path)
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(LogView).line_count >= 51)
    live.print("quantize", "while closed\n")
    again = MonitorApp(tmp_path)
    async with again.run_test() as pilot:
        log = again.screen.query_one(LogView)
        await wait_for(pilot, lambda: log.line_count >= 52)
        assert again.screen.run_dir == live.dir
        assert log.lines[1] == "before 0" and log.lines[-1] == "while closed"


_FAKE_SUPERVISOR = """
import signal, sys, time
from pathlib import Path
from engine.runs.state import read_state, write_state
run = Path(sys.argv[1])
def stop(*_):
    state = read_state(run)
    state.status, state.ended_at, state.reason = "cancelled", time.time(), "cancelled by the user"
    for step in state.steps:
        if step.status == "running":
            step.status, step.ended_at, step.reason = "cancelled", time.time(), "cancelled"
    write_state(run, state)
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("ready", flush=True)
time.sleep(60)
"""


async def test_cancel_asks_first_and_then_stops_the_run(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    live = LiveRun(runs)
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-c", _FAKE_SUPERVISOR, str(live.dir)], cwd=root, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        live.state.supervisor_pid = proc.pid
        live.start_step("finetune")
        app = MonitorApp(tmp_path)
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.state is not None)
            await pilot.press("c")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")  # keep it running
            assert proc.poll() is None and read_state(live.dir).status == "running"
            await pilot.press("c")
            await pilot.press("y")
            await wait_for(pilot, lambda: "cancelled" in str(app.screen.query_one("#mon-title").render()))
            assert proc.wait(5) == 0
            assert "■ finetune cancelled" in str(app.screen.query_one("#mon-timeline").render())
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_run_picker_switches_the_run_shown(tmp_path: Path) -> None:
    finished_run(tmp_path / "runs", "20251124-100000-a")
    finished_run(tmp_path / "runs", "20251124-110000-b", fail_step="quantize")
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(LogView).line_count > 3)
        assert app.screen.run_dir.name == "20251124-110000-b"
        await pilot.press("p")
        await pilot.press("down", "enter")
        await wait_for(
            pilot,
            lambda: getattr(app.screen, "run_dir", None) is not None and app.screen.run_dir.name == "20251124-100000-a",
        )
        await wait_for(pilot, lambda: "done" in str(app.screen.query_one("#mon-title").render()))
        assert not app.screen.query_one("#mon-reason").display


async def test_a_symlink_under_runs_is_not_taken_for_the_newest_run(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    finished_run(lab / "runs", "20251124-100000-a")
    elsewhere = finished_run(tmp_path / "other" / "runs", "20251124-120000-x", fail_step="quantize")
    (lab / "runs" / "20251124-120000-x").symlink_to(elsewhere, target_is_directory=True)
    app = MonitorApp(lab)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "done" in str(app.screen.query_one("#mon-title").render()))
        assert app.screen.run_dir == lab / "runs" / "20251124-100000-a"
        await pilot.pause(1.3)  # a tick looks for a newer run once the one shown has finished
        assert app.screen.run_dir == lab / "runs" / "20251124-100000-a"
        assert "failed" not in str(app.screen.query_one("#mon-title").render())


async def test_report_key_writes_the_markdown_report(tmp_path: Path) -> None:
    run = finished_run(tmp_path / "runs")
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.state is not None)
        await pilot.press("m")
        await wait_for(pilot, lambda: (run / "report.md").exists())
        assert (run / "report.md").read_text().startswith(f"# Run {run.name}")


async def test_start_key_runs_the_pipeline_and_shows_it_to_the_end(tmp_path: Path, monkeypatch) -> None:
    from conftest import FAKE_OLIVE

    from engine.config import build_config

    monkeypatch.setenv("OLIVE_LAB_OLIVE", f"{sys.executable} {FAKE_OLIVE}")
    config = build_config("demo", {"quantize": {"enabled": False}, "evaluate": {"enabled": False}})
    app = MonitorApp(tmp_path, config=config)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen))
        assert "No runs yet" in str(app.screen.query_one("#mon-title").render())
        await pilot.press("r")
        screen = app.screen
        await wait_for(pilot, lambda: screen.state is not None and screen.state.finished, timeout=120)
        log = screen.query_one(LogView)
        await pilot.pause(0.3)
        assert screen.state.status == "done", screen.state.reason
        assert "── finetune ──" in log.lines and "── optimize ──" in log.lines
        assert screen.digest.losses  # the replayed Trainer loss lines reached the chart


async def test_compare_key_opens_two_runs_side_by_side(tmp_path: Path) -> None:
    from tui.screens.compare import CompareScreen

    finished_run(tmp_path / "runs", "20251124-100000-a")
    finished_run(tmp_path / "runs", "20251124-110000-b", lora_r=16, loss_scale=0.9)
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.state is not None)
        await pilot.press("d", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.comparison is not None)
        verdicts = str(app.screen.query_one("#cmp-verdicts").render())
        assert "20251124-110000-b has the lower final eval loss" in verdicts
        cells = [str(c.render()) for c in app.screen.query_one("#cmp-settings").query("Static")]
        assert cells[3:] == ["finetune.lora_r", "16", "8"]  # the one setting that differs
        chart = str(app.screen.query_one("#cmp-loss-both #curves-legend").render())  # both curves on one chart
        assert "A train" in chart and "B train" in chart and "B eval" in chart


def test_timeline_shows_each_steps_gpu_figures_from_the_meter() -> None:
    from engine.runs.state import StepGpu, StepState
    from tui.widgets.timeline import gpu_figures

    step = StepState(
        name="finetune",
        status="done",
        gpu=StepGpu(peak_vram_mib=4810.0, mean_util_pct=61.6, energy_j=2634.6, samples=116),
    )
    assert gpu_figures(step) == "peak 4.7 GiB · 62% util · 2.6 kJ"
    assert gpu_figures(StepState(name="quantize")) == ""  # no GPU: nothing to show


async def test_a_lost_run_says_when_its_supervisor_was_last_seen_and_its_timers_stop(tmp_path: Path) -> None:
    """The supervisor and its waiting parent are gone without a word (the machine rebooted, say)."""
    import subprocess
    import sys

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    live = LiveRun(tmp_path / "runs", pid=gone.pid)
    live.start_step("finetune")
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.state is not None)
        screen = app.screen
        assert "lost" in str(screen.query_one("#mon-title").render())
        assert "supervisor gone (last sign of life at" in str(screen.query_one("#mon-reason").render())
        finetune = screen.state.step("finetune")
        assert finetune.ended_at is not None  # the timer stopped where the run did
        first = finetune.duration_s
        await pilot.pause(1.5)
        assert screen.state.step("finetune").duration_s == first


async def test_the_monitor_moves_to_a_run_started_elsewhere_once_its_own_has_ended(tmp_path: Path) -> None:
    finished_run(tmp_path / "runs", "20251124-160000-old")
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, MonitorScreen)
        await wait_for(pilot, lambda: screen.run_dir is not None and screen.run_dir.name.endswith("old"))
        await pilot.pause(1.2)  # a tick with nothing new in the runs folder
        # the CLI starts a run: its folder is made aside and renamed into runs/, as the supervisor does
        made = finished_run(tmp_path / "staging", "20251124-170000-new")
        made.rename(tmp_path / "runs" / made.name)
        await wait_for(pilot, lambda: screen.run_dir is not None and screen.run_dir.name.endswith("new"))
