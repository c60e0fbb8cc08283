"""The GPU monitor's engine: the no-GPU path for real, replays of samples recorded on an H100, the step
meter, warnings, memory estimates and the `olive-lab gpu` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from cli import main as cli_main
from engine.gpu.meter import StepGpuMeter, estimate_step_memory, preflight, warnings
from engine.gpu.sampler import (
    NO_GPU_MESSAGE,
    ProcessTable,
    Sample,
    Sampler,
    load_samples,
    probe,
    sample_once,
)
from engine.gpu.text import format_sample

FIXTURE = Path(__file__).parent / "data" / "gpu_samples.json"
HAS_GPU = probe().available
needs_gpu = pytest.mark.skipif(not HAS_GPU, reason=f"no NVIDIA GPU: {probe().reason}")
no_gpu_only = pytest.mark.skipif(HAS_GPU, reason="this machine has an NVIDIA GPU")


@pytest.fixture(scope="module")
def recorded() -> list[Sample]:
    return load_samples(FIXTURE.read_text(), str(FIXTURE))


def busy(samples: list[Sample]) -> Sample:
    """A recorded sample in which the lab's CUDA job is running flat out."""
    return next(s for s in samples if s.gpus[0].processes and (s.gpus[0].util_gpu_pct or 0) > 90)


@no_gpu_only
def test_without_a_gpu_the_host_is_still_measured(tmp_path: Path) -> None:
    sample = sample_once(tmp_path, lab_pids=[os.getpid()])
    assert sample.gpus == []
    assert sample.gpu_note is not None and sample.gpu_note.startswith(NO_GPU_MESSAGE)
    assert probe().reason in sample.gpu_note
    assert sample.host.ram_total_mib > 0 and sample.host.cpu_count >= 1
    assert sample.host.disk_free_mib is not None and sample.host.disk_path == str(tmp_path)


def test_a_sample_survives_json(tmp_path: Path) -> None:
    sample = sample_once(tmp_path)
    again = load_samples(json.dumps([sample.to_dict()]))[0]
    assert again == sample


def test_bad_sample_files_name_the_problem() -> None:
    with pytest.raises(ValueError, match="line 1"):
        load_samples("{not json", "x.json")
    with pytest.raises(ValueError, match="sample 0 is malformed"):
        load_samples('[{"time": 1}]', "x.json")


def test_sampler_keeps_a_bounded_history_off_the_calling_thread(tmp_path: Path) -> None:
    sampler = Sampler(interval=0.05, history_len=3, lab_dir=tmp_path).start()
    try:
        got = sampler.wait_next(0, timeout=5)
        assert got is not None and got[1].host.ram_total_mib > 0  # a real reading, not an empty sample
        deadline = time.monotonic() + 5
        while sampler.seq < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sampler.seq >= 5
        assert len(sampler.history()) == 3
        assert len(sampler.history().host_series("cpu_pct")) == 3
    finally:
        sampler.stop()
    assert not sampler.running
    seq = sampler.seq
    time.sleep(0.2)
    assert sampler.seq == seq  # stopped means no more samples


def test_lab_processes_are_found_through_the_process_tree() -> None:
    launcher = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys; subprocess.call([sys.executable, '-c', 'import time; time.sleep(30)'])",
        ]
    )
    try:
        import psutil

        deadline = time.monotonic() + 10
        while not psutil.Process(launcher.pid).children() and time.monotonic() < deadline:
            time.sleep(0.02)
        grandchild = psutil.Process(launcher.pid).children()[0].pid
        table = ProcessTable()
        assert table.in_tree(grandchild, frozenset({launcher.pid}))
        assert table.in_tree(launcher.pid, frozenset({launcher.pid}))
        assert not table.in_tree(os.getpid(), frozenset({launcher.pid}))
        assert table.name(grandchild) is not None
        assert table.name(2**22 + 12345) is None
    finally:
        for proc in psutil.Process(launcher.pid).children(recursive=True):
            proc.kill()
        launcher.kill()
        launcher.wait()


def test_recorded_h100_samples_show_the_lab_job(recorded: list[Sample]) -> None:
    sample = busy(recorded)
    gpu = sample.gpus[0]
    assert gpu.name == "NVIDIA H100 80GB HBM3"
    job = gpu.processes[0]
    assert job.is_lab and job.used_mib and job.used_mib > 4096
    text = format_sample(sample)
    assert "NVIDIA H100 80GB HBM3" in text
    assert "4.7 / 79.6 GiB" in text
    assert f"{job.pid:>8}  python3" in text and text.rstrip().count(" lab") >= 1


def test_step_meter_summarises_a_recorded_step(recorded: list[Sample]) -> None:
    meter = StepGpuMeter(lambda: [])
    for sample in recorded:
        meter.add(sample)
    summary = meter.summary()
    assert summary["samples"] == len(recorded)
    assert summary["peak_vram_mib"] == max(s.gpus[0].lab_memory_mib or 0 for s in recorded)
    utils = [s.gpus[0].util_gpu_pct or 0.0 for s in recorded]
    assert summary["mean_util_pct"] == pytest.approx(sum(utils) / len(utils), abs=0.1)
    first, last = recorded[0].gpus[0].energy_mj, recorded[-1].gpus[0].energy_mj
    assert first is not None and last is not None
    assert summary["energy_j"] == pytest.approx((last - first) / 1000, rel=0.01)


def test_step_meter_without_gpus_reports_nothing_measured(tmp_path: Path) -> None:
    meter = StepGpuMeter(lambda: [os.getpid()], lab_dir=tmp_path)
    meter.sample()
    summary = meter.summary()
    assert summary["samples"] == 1
    if not HAS_GPU:
        assert summary == {"peak_vram_mib": None, "mean_util_pct": None, "energy_j": None, "samples": 1}


def test_warnings_name_what_is_running_out(recorded: list[Sample], tmp_path: Path) -> None:
    sample = busy(recorded)
    assert warnings(sample, sample.host.disk_path, expected_output_bytes=1024) == []
    gpu = replace(sample.gpus[0], memory_used_mib=79_000.0)
    host = replace(sample.host, ram_available_mib=sample.host.ram_total_mib * 0.02)
    tight = replace(sample, gpus=[gpu], host=host)
    found = warnings(tight, sample.host.disk_path, expected_output_bytes=60_000 * 1024**3)
    assert any(line.startswith("GPU 0 (NVIDIA H100 80GB HBM3): memory 97% full") for line in found)
    assert any(line.startswith("Host RAM: only 2.0% free") for line in found)
    assert any(line.startswith("Disk: 64.0 GiB free") and "1.5x" in line for line in found)
    # a lab folder the sample did not measure is measured on the spot
    assert any("Disk:" in line for line in warnings(sample, tmp_path, expected_output_bytes=2**60))


def test_memory_estimates_follow_precision_and_step() -> None:
    fp16 = estimate_step_memory("finetune", 3.8, "fp16")
    int4 = estimate_step_memory("chat", 3.8, "int4")
    assert fp16.weights_gib == pytest.approx(3.8e9 * 2 / 1024**3, rel=0.01)
    assert fp16.optimizer_gib > 0 and fp16.device_gib > fp16.weights_gib
    assert int4.device_gib < estimate_step_memory("chat", 3.8, "fp16").device_gib
    assert estimate_step_memory("quantize", 3.8, "int4").weights_gib == fp16.weights_gib
    with pytest.raises(ValueError, match="unknown step 'train'"):
        estimate_step_memory("train", 1, "fp16")
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        estimate_step_memory("chat", 1, "fp8")


def test_preflight_compares_with_free_memory(recorded: list[Sample]) -> None:
    sample = busy(recorded)
    assert preflight(estimate_step_memory("finetune", 3.8, "fp16"), sample) == []
    big = preflight(estimate_step_memory("finetune", 70, "fp16"), sample)
    assert "GPU 0 (NVIDIA H100 80GB HBM3)" in big[0] and "74.9 GiB free" in big[0]
    assert "GiB of RAM to load the model; 124.8 GiB is available" in big[1]
    cpu_only = replace(sample, gpus=[], host=replace(sample.host, ram_available_mib=4 * 1024))
    assert "on the CPU (no GPU)" in preflight(estimate_step_memory("finetune", 3.8, "fp16"), cpu_only)[0]


def test_gpu_command_once_as_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli_main(["gpu", "--lab", str(tmp_path), "--once", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["host"]["disk_path"] == str(tmp_path)
    if not HAS_GPU:
        assert data["gpus"] == [] and data["gpu_note"].startswith(NO_GPU_MESSAGE)


def test_gpu_command_once_as_text(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli_main(["gpu", "--lab", str(tmp_path), "--once"]) == 0
    out = capsys.readouterr().out
    assert "host  CPU" in out
    assert ("GPU 0" in out) if HAS_GPU else (NO_GPU_MESSAGE in out)


def test_gpu_command_rejects_a_silly_interval(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["gpu", "--interval", "0"]) == 2
    assert "--interval must be at least 0.1 seconds" in capsys.readouterr().err


@pytest.mark.gpu
@needs_gpu
def test_real_gpus_are_read(tmp_path: Path) -> None:
    sample = sample_once(tmp_path)
    assert sample.gpu_note is None and sample.gpus
    for gpu in sample.gpus:
        assert gpu.name and gpu.memory_total_mib and gpu.memory_used_mib is not None
        assert gpu.util_gpu_pct is not None or "util_gpu_pct" in gpu.unavailable
    assert sample_once(tmp_path, energy=True).gpus[0].energy_mj is not None or "energy_mj" in (
        sample.gpus[0].unavailable
    )


def test_a_step_that_never_touched_the_gpu_gets_no_gpu_figures(recorded: list[Sample]) -> None:
    def strip_lab(sample: Sample) -> Sample:
        gpus = [replace(g, processes=[replace(p, is_lab=False) for p in g.processes]) for g in sample.gpus]
        return replace(sample, gpus=gpus)

    cpu_step = StepGpuMeter(lambda: [])
    for sample in recorded:
        cpu_step.add(strip_lab(sample))
    assert cpu_step.summary() == {
        "peak_vram_mib": None,
        "mean_util_pct": None,
        "energy_j": None,
        "samples": len(recorded),
    }
    # Where the driver cannot list processes (a container without host PIDs), the whole GPU counts.
    blind = StepGpuMeter(lambda: [])
    for sample in recorded:
        gpus = [
            replace(g, processes=[], unavailable={**g.unavailable, "processes": "no host PIDs"}) for g in sample.gpus
        ]
        blind.add(replace(sample, gpus=gpus))
    assert blind.summary()["peak_vram_mib"] == pytest.approx(
        max(s.gpus[0].memory_used_mib or 0.0 for s in recorded), abs=0.1
    )
