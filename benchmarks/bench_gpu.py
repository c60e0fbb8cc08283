"""How much the GPU monitor costs: one-sample latency and the sampler's CPU at 1 Hz, on this machine.

With no NVIDIA GPU the figures are for the host-only path (psutil). Targets: median sample <= 2 ms and
the 1 Hz sampler <= 1 % of one core. `scripts/gpu_check.py` reports the same two figures on a GPU.

    python benchmarks/bench_gpu.py [--seconds 20] [--count 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.gpu.sampler import Sampler, probe, sample_once

LATENCY_TARGET_MS = 2.0
CPU_TARGET_PCT = 1.0


def sample_latency_ms(count: int = 200, lab_pids: Iterable[int] = ()) -> tuple[float, float]:
    """Median and 95th percentile of `count` back-to-back samples, in milliseconds."""
    pids = list(lab_pids)
    sample_once(lab_pids=pids)  # opens NVML outside the timing
    times = []
    for _ in range(count):
        start = time.perf_counter()
        sample_once(lab_pids=pids)
        times.append((time.perf_counter() - start) * 1000.0)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def sampler_cpu_pct(seconds: float = 20.0, sampler: Sampler | None = None) -> float:
    """CPU this process uses over `seconds` while a 1 Hz sampler runs (the caller's, or a new one)."""
    own = sampler is None
    active = sampler or Sampler(interval=1.0).start()
    try:
        before_cpu, before_wall = time.process_time(), time.monotonic()
        time.sleep(seconds)
        after_cpu, after_wall = time.process_time(), time.monotonic()
    finally:
        if own:
            active.stop()
    return 100.0 * (after_cpu - before_cpu) / (after_wall - before_wall)


def run(seconds: float = 20.0, count: int = 200) -> dict[str, object]:
    status = probe()
    median, p95 = sample_latency_ms(count)
    cpu = sampler_cpu_pct(seconds)
    return {
        "gpus": status.device_count,
        "path": "NVML + host" if status.available else f"host only ({status.reason})",
        "sample_latency_median_ms": round(median, 3),
        "sample_latency_p95_ms": round(p95, 3),
        "sampler_cpu_pct_1hz": round(cpu, 3),
        "cpu_window_s": seconds,
        "latency_ok": median <= LATENCY_TARGET_MS,
        "cpu_ok": cpu <= CPU_TARGET_PCT,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="GPU monitor cost")
    parser.add_argument("--seconds", type=float, default=20.0, help="sampler CPU window (default 20)")
    parser.add_argument("--count", type=int, default=200, help="samples timed for latency (default 200)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = run(args.seconds, args.count)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"path:                  {figures['path']}")
        print(f"sample latency median: {figures['sample_latency_median_ms']} ms (target <= {LATENCY_TARGET_MS} ms)")
        print(f"sample latency p95:    {figures['sample_latency_p95_ms']} ms")
        print(
            f"sampler CPU at 1 Hz:   {figures['sampler_cpu_pct_1hz']} % of one core over {args.seconds:g} s"
            f" (target <= {CPU_TARGET_PCT} %)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
