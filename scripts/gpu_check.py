"""Check the GPU monitor against nvidia-smi on a machine with an NVIDIA GPU.

Starts a CUDA job (torch, a known allocation, matmuls) as a grandchild process, samples it with the
engine and asks nvidia-smi at the same moments, then prints a PASS/FAIL table: device memory within 1 %,
the job's process found and marked as the lab's, its memory within 1 %; also one-sample latency (median of
200, target <= 2 ms) and the sampler's CPU at 1 Hz over 20 s (target <= 1 % of one core).

    python scripts/gpu_check.py [--gib 4] [--cpu-seconds 20] [--record samples.json]

`--record` writes the samples the 1 Hz sampler took (idle, the job starting, running and ending) as JSON:
the same format the GPU screen's tests replay.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_gpu import sample_latency_ms, sampler_cpu_pct
from engine.gpu.meter import StepGpuMeter
from engine.gpu.sampler import Sample, Sampler, probe, sample_once

# The CUDA job: allocate GIB GiB, warm the matmul workspace, say READY, then alternate busy and idle
# phases until stdin closes or 180 s pass (so it never outlives this script for long).
JOB = r"""
import sys, threading, time, torch
gib = float(sys.argv[1])
block = torch.empty(int(gib * 1024**3), dtype=torch.uint8, device="cuda")
a = torch.randn(4096, 4096, device="cuda", dtype=torch.float16)
b = a @ a
torch.cuda.synchronize()
print("READY", flush=True)
done = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
start = time.time()
while not done.is_set() and time.time() - start < 180:
    phase_end = time.time() + 3.0
    while time.time() < phase_end and not done.is_set():
        for _ in range(20):
            b = a @ a
        torch.cuda.synchronize()
    done.wait(1.0)
"""
# The launcher is the lab's root pid; the CUDA job is its child, so marking must follow the tree.
LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call([sys.executable, '-c', sys.argv[1], sys.argv[2]]))"


def smi(query: str) -> list[list[str]]:
    out = subprocess.run(
        ["nvidia-smi", query, "--format=csv,noheader,nounits"], capture_output=True, text=True, check=True
    ).stdout
    return [[cell.strip() for cell in line.split(",")] for line in out.strip().splitlines() if line.strip()]


def job_pid(launcher: subprocess.Popen[str]) -> int | None:
    import psutil

    children = psutil.Process(launcher.pid).children(recursive=True)
    return children[0].pid if children else None


def compare(launcher_pid: int, cuda_pid: int, moments: int) -> tuple[list[tuple[str, bool, str]], Sample]:
    rows: list[tuple[str, bool, str]] = []
    worst_device = worst_process = 0.0
    found = marked = True
    others_marked: set[int] = set()
    details = ""
    sample = sample_once(lab_pids=[launcher_pid])
    for _ in range(moments):
        sample = sample_once(lab_pids=[launcher_pid])
        smi_used = [float(r[0]) for r in smi("--query-gpu=memory.used")]
        smi_apps = {int(r[0]): float(r[1]) for r in smi("--query-compute-apps=pid,used_memory") if r[1].isdigit()}
        for gpu in sample.gpus:
            ours = gpu.memory_used_mib or 0.0
            theirs = smi_used[gpu.index]
            worst_device = max(worst_device, abs(ours - theirs) / max(theirs, 1.0))
            details = f"engine {ours:.0f} MiB, nvidia-smi {theirs:.0f} MiB"
        procs = {p.pid: p for g in sample.gpus for p in g.processes}
        job = procs.get(cuda_pid)
        found &= job is not None
        marked &= bool(job and job.is_lab)
        others_marked |= {p.pid for p in procs.values() if p.is_lab and p.pid != cuda_pid}
        if job is not None and job.used_mib is not None and cuda_pid in smi_apps:
            theirs = smi_apps[cuda_pid]
            worst_process = max(worst_process, abs(job.used_mib - theirs) / max(theirs, 1.0))
            job_detail = f"engine {job.used_mib:.0f} MiB, nvidia-smi {theirs:.0f} MiB"
        else:
            worst_process, job_detail = 1.0, f"not listed (smi pids {sorted(smi_apps)})"
        time.sleep(0.3)
    rows.append(
        (
            f"device memory.used within 1% ({moments} moments)",
            worst_device <= 0.01,
            f"worst {100 * worst_device:.2f}%; last: {details}",
        )
    )
    rows.append(("CUDA job's process found by NVML", found, f"pid {cuda_pid}"))
    rows.append(("job marked as the lab's (grandchild of root pid)", marked, f"root {launcher_pid}"))
    rows.append(("no unrelated process marked", not others_marked, f"marked others: {sorted(others_marked)}"))
    rows.append(
        (
            "job's memory within 1% of nvidia-smi",
            worst_process <= 0.01,
            f"worst {100 * worst_process:.2f}%; last: {job_detail}",
        )
    )
    return rows, sample


def memory_apis() -> str:
    """The raw NVML figures both ways (v1 counts driver-reserved memory as used; v2 does not)."""
    import pynvml

    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    v1 = pynvml.nvmlDeviceGetMemoryInfo(handle)
    v2 = pynvml.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2)
    mib = 1024 * 1024
    return (
        f"NVML memory GPU 0: v1 used {v1.used / mib:.0f} MiB, v2 used {v2.used / mib:.0f} MiB, "
        f"v2 reserved {v2.reserved / mib:.0f} MiB, total {v2.total / mib:.0f} MiB"
    )


def profile_calls(root_pid: int, repeat: int = 50) -> list[str]:
    """Median time of each NVML and psutil call one sample makes, to see where a sample's time goes."""
    import psutil
    import pynvml

    from engine.gpu.sampler import read_host

    h = pynvml.nvmlDeviceGetHandleByIndex(0)
    fields = [pynvml.NVML_FI_DEV_POWER_INSTANT, pynvml.NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION]
    calls = {
        "name": lambda: pynvml.nvmlDeviceGetName(h),
        "uuid": lambda: pynvml.nvmlDeviceGetUUID(h),
        "mig mode": lambda: pynvml.nvmlDeviceGetMigMode(h),
        "memory v1": lambda: pynvml.nvmlDeviceGetMemoryInfo(h),
        "memory v2": lambda: pynvml.nvmlDeviceGetMemoryInfo(h, version=pynvml.nvmlMemory_v2),
        "utilization": lambda: pynvml.nvmlDeviceGetUtilizationRates(h),
        "temperature": lambda: pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU),
        "power usage": lambda: pynvml.nvmlDeviceGetPowerUsage(h),
        "power limit": lambda: pynvml.nvmlDeviceGetEnforcedPowerLimit(h),
        "clock SM": lambda: pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM),
        "clock memory": lambda: pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_MEM),
        "total energy": lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(h),
        "field values (power, energy)": lambda: pynvml.nvmlDeviceGetFieldValues(h, fields),
        "compute processes": lambda: pynvml.nvmlDeviceGetComputeRunningProcesses(h),
        "graphics processes": lambda: pynvml.nvmlDeviceGetGraphicsRunningProcesses(h),
        "host (psutil)": read_host,
        "process name + ppid chain": lambda: (
            psutil.Process(root_pid).name(),
            psutil.Process(root_pid).ppid(),
        ),
        "whole sample_once": lambda: sample_once(lab_pids=[root_pid]),
    }
    lines = []
    for label, call in calls.items():
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            try:
                call()
            except pynvml.NVMLError as exc:
                lines.append(f"  {label:<30} error: {exc}")
                break
            times.append((time.perf_counter() - start) * 1000.0)
        else:
            lines.append(f"  {label:<30} median {statistics.median(times):7.3f} ms  max {max(times):7.3f} ms")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=4.0, help="GiB the CUDA job allocates (default 4)")
    parser.add_argument("--cpu-seconds", type=float, default=20.0, help="sampler CPU window (default 20)")
    parser.add_argument("--moments", type=int, default=5, help="comparisons with nvidia-smi (default 5)")
    parser.add_argument("--profile", action="store_true", help="time each NVML call while the job runs")
    parser.add_argument("--record", type=Path, help="write the 1 Hz samples to this JSON file")
    args = parser.parse_args()

    status = probe()
    print(
        f"NVML: {'available' if status.available else 'NOT available: ' + status.reason}; "
        f"driver {status.driver_version}; {status.device_count} GPU(s)"
    )
    if not status.available:
        print("FAIL  no NVIDIA GPU to check against")
        return 1

    launcher_pid = -1
    sampler = Sampler(interval=1.0, history_len=600, lab_pids=lambda: [launcher_pid] if launcher_pid > 0 else [])
    sampler.start()
    time.sleep(2.5)  # a few idle samples before the job
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, JOB, str(args.gib)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    launcher_pid = launcher.pid
    rows: list[tuple[str, bool, str]] = []
    try:
        assert launcher.stdout is not None
        ready = launcher.stdout.readline().strip()
        cuda_pid = job_pid(launcher)
        if ready != "READY" or cuda_pid is None:
            print(f"FAIL  the CUDA job did not start (said {ready!r})")
            return 1
        print(f"CUDA job: launcher pid {launcher_pid}, job pid {cuda_pid}, {args.gib:g} GiB allocated")
        found_rows, _ = compare(launcher_pid, cuda_pid, args.moments)
        rows += found_rows
        print(memory_apis())
        if args.profile:
            print("\n".join(["time per call (job running):", *profile_calls(launcher_pid)]))
        median, p95 = sample_latency_ms(200, [launcher_pid])
        rows.append(
            (
                "one-sample latency, median of 200",
                median <= 2.0,
                f"{median:.3f} ms, p95 {p95:.3f} ms (target <= 2 ms)",
            )
        )
        by_counter = StepGpuMeter(lambda: [launcher_pid])
        first = by_counter.sample()  # reads the energy counter
        cpu = sampler_cpu_pct(args.cpu_seconds, sampler)
        last = by_counter.sample()  # reads it again (more than ENERGY_EVERY_S later)
        rows.append(
            (
                f"sampler CPU at 1 Hz over {args.cpu_seconds:g} s",
                cpu <= 1.0,
                f"{cpu:.3f} % of one core (target <= 1 %)",
            )
        )
        by_power = StepGpuMeter(lambda: [launcher_pid])
        window = [s for s in sampler.history().samples if first.time <= s.time <= last.time]
        for sample in window:
            by_power.add(sample)
        counter, power = by_counter.summary(), by_power.summary()
        counter_w = (counter["energy_j"] or 0.0) / (last.time - first.time)
        power_w = (power["energy_j"] or 0.0) / max(window[-1].time - window[0].time, 1e-9) if window else 0.0
        agree = counter_w > 0 and abs(counter_w - power_w) / counter_w <= 0.15
        rows.append(
            (
                "mean power: energy counter vs 1 Hz power within 15%",
                agree,
                f"counter {counter_w:.0f} W, power samples {power_w:.0f} W",
            )
        )
        peak = power["peak_vram_mib"] or 0.0
        rows.append(
            (
                "step meter peak VRAM >= the job's allocation",
                peak >= args.gib * 1024,
                f"by power: {json.dumps(power)}; by counter: {json.dumps(counter)}",
            )
        )
    finally:
        if launcher.stdin:
            launcher.stdin.close()
        launcher.wait(timeout=30)
        time.sleep(2.5)  # a few samples after the job ends
        sampler.stop()

    if args.record:
        recorded = list(sampler.history().samples)
        args.record.write_text(json.dumps([s.to_dict() for s in recorded], indent=1) + "\n")
        print(f"recorded {len(recorded)} samples to {args.record}")

    width = max(len(name) for name, _, _ in rows)
    print()
    for name, ok, detail in rows:
        print(f"{'PASS' if ok else 'FAIL'}  {name:<{width}}  {detail}")
    passed = all(ok for _, ok, _ in rows)
    print(f"\n{'ALL PASS' if passed else 'SOME CHECKS FAILED'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
