"""The GPU screen and strip, fed at the sampler's boundary with samples recorded on an H100 (and, for the
no-GPU path and the live worker, with this machine's own real samples)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Label, Static

from engine.gpu.sampler import NO_GPU_MESSAGE, Sampler, probe
from tests.gpu_screen_app import REPLAYED, GpuReplayApp, no_gpu_samples, recorded_samples
from tui.screens.gpu import GpuScreen
from tui.widgets.gpu_panel import GpuPanel, HostPanel, MetricRow
from tui.widgets.gpu_strip import GpuStrip

APP_MODULE = Path(__file__).parent / "gpu_screen_app.py"


def text_of(widget: Static) -> str:
    return str(widget.content)


async def test_replayed_h100_run_shows_gpu_memory_and_the_lab_process() -> None:
    app = GpuReplayApp(recorded_samples()[:REPLAYED])
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, GpuScreen)
        panel = screen.query_one(GpuPanel)
        assert panel.border_title == "GPU 0 · NVIDIA H100 80GB HBM3"
        memory = panel.query_one("#gpu-memory", MetricRow).query_one(".metric-value", Label)
        assert text_of(memory).startswith("4.7 / 79.6 GiB")
        power = panel.query_one("#gpu-power", MetricRow).query_one(".metric-value", Label)
        assert text_of(power) == "696 / 700 W"
        table = screen.query_one("#gpu-processes", DataTable)
        assert table.row_count == 1
        assert table.get_row_at(0) == ["411", "python3", "0", "4.7 GiB", "● lab"]
        assert "1 from this lab's run" in text_of(screen.query_one("#gpu-processes-title", Label))
        assert not screen.query_one("#gpu-notice").display
        host = screen.query_one(HostPanel)
        assert "of 16 cores" in text_of(host.query_one("#host-cpu", MetricRow).query_one(".metric-value", Label))
        assert len(screen.history) == REPLAYED


async def test_the_job_ending_empties_the_process_table() -> None:
    samples = recorded_samples()
    app = GpuReplayApp(samples)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#gpu-processes", DataTable)
        assert table.row_count == 0
        assert text_of(app.screen.query_one("#gpu-processes-title", Label)) == "GPU processes: none"


async def test_without_a_gpu_the_screen_says_so_and_shows_the_host() -> None:
    app = GpuReplayApp(no_gpu_samples())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        notice = app.screen.query_one("#gpu-notice", Static)
        assert notice.display and text_of(notice).startswith(NO_GPU_MESSAGE)
        assert not app.screen.query(GpuPanel)
        assert not app.screen.query_one("#gpu-processes", DataTable).display
        assert app.screen.query_one(HostPanel).border_title == "Host"


@pytest.mark.skipif(probe().available, reason="this machine has an NVIDIA GPU")
async def test_live_screen_samples_this_machine_from_a_worker(tmp_path: Path) -> None:
    sampler = Sampler(interval=0.05, lab_dir=tmp_path).start()

    class LiveApp(App[None]):
        def on_mount(self) -> None:
            self.push_screen(GpuScreen(sampler))

    try:
        app = LiveApp()
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(100):
                await pilot.pause(0.05)
                if isinstance(app.screen, GpuScreen) and len(app.screen.history) >= 2:
                    break
            screen = app.screen
            assert isinstance(screen, GpuScreen) and len(screen.history) >= 2
            assert text_of(screen.query_one("#gpu-notice", Static)).startswith(NO_GPU_MESSAGE)
            assert str(tmp_path) in text_of(screen.query_one(HostPanel).query_one(".host-disk", Static))
    finally:
        sampler.stop()


class StripApp(App[None]):
    def compose(self) -> ComposeResult:
        yield GpuStrip()


async def test_gpu_strip_sums_up_a_sample_in_one_line() -> None:
    busy = recorded_samples()[REPLAYED - 1]
    app = StripApp()
    async with app.run_test(size=(80, 5)) as pilot:
        strip = app.query_one(GpuStrip)
        assert "waiting" in text_of(strip)
        strip.update_sample(busy)
        await pilot.pause()
        assert text_of(strip) == "GPU0 VRAM 4.7/79.6 GiB util 98% │ RAM 1.0/125.9 GiB"
        full = replace(busy, gpus=[replace(busy.gpus[0], memory_used_mib=79_000.0)])
        strip.update_sample(full)
        content = strip.content
        assert isinstance(content, Text) and any("red" in str(span.style) for span in content.spans)
        strip.update_sample(no_gpu_samples()[0])
        assert text_of(strip).startswith("no NVIDIA GPU │ RAM")


def test_snapshot_80x24(snap_compare) -> None:
    assert snap_compare(APP_MODULE, terminal_size=(80, 24))


def test_snapshot_120x40(snap_compare) -> None:
    assert snap_compare(APP_MODULE, terminal_size=(120, 40))


def test_snapshot_no_gpu_80x24(snap_compare) -> None:
    assert snap_compare(GpuReplayApp(no_gpu_samples()), terminal_size=(80, 24))


async def test_without_a_gpu_the_labs_own_processes_are_listed_with_cpu_and_ram() -> None:
    import os
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        sample = replace(no_gpu_samples()[0], lab_pids=[os.getpid()])  # this test stands in for a run
        app = GpuReplayApp([sample])
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            table = app.screen.query_one("#gpu-processes", DataTable)
            assert table.display
            assert [str(c.label) for c in table.columns.values()] == ["PID", "Process", "CPU", "RAM", "Run"]
            pids = {str(table.get_row_at(i)[0]) for i in range(table.row_count)}
            assert {str(os.getpid()), str(child.pid)} <= pids  # the run and its children
            assert "this lab's processes" in text_of(app.screen.query_one("#gpu-processes-title", Label))
    finally:
        child.kill()


async def test_a_sweep_branch_s_process_is_marked_with_its_branch() -> None:
    samples = recorded_samples()[:REPLAYED]
    last = samples[-1]
    gpu = last.gpus[0]
    samples[-1] = replace(last, gpus=[replace(gpu, processes=[replace(gpu.processes[0], branch="lora_r-4")])])
    app = GpuReplayApp(samples)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#gpu-processes", DataTable)
        assert table.get_row_at(0) == ["411", "python3", "0", "4.7 GiB", "● lab: lora_r-4"]
