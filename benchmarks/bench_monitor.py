"""How the monitor holds up under a fast log: key latency while a step prints 5,000 lines a second, and the
app's memory after a million streamed lines.

Drives the real MonitorScreen headless (App.run_test) on a synthetic run folder whose step.log a writer
thread grows. Targets: key latency p95 <= 100 ms at 5,000 lines/s; RSS <= 250 MB after 1M lines.
Run: .venv/bin/python benchmarks/bench_monitor.py [--seconds 10] [--total 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fixtures.monitor_app import MonitorApp  # noqa: E402
from fixtures.runfolders import LiveRun  # noqa: E402

from benchmarks.keytimer import KeyTimer  # noqa: E402
from tui.screens.monitor import MonitorScreen  # noqa: E402
from tui.widgets.log_view import LogView  # noqa: E402

KEYS = ("pageup", "up", "down", "end", "pageup", "end", "e", "e", "f")


_WRITER = r"""
import sys, time
path, rate, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def lines(start, count):
    out = []
    for i in range(start, start + count):
        if i % 97 == 0:
            out.append(f"[2026-11-24 21:11:58,290] [WARNING] [lora.py:460:train] slow batch {i}\n")
        elif i % 10 == 0:
            out.append(f"[2026-11-24 21:11:58,290] [INFO] [lora.py:460:train] step {i} of the synthetic stream\n")
        else:
            out.append(f"\r {i % 100:3d}%|#####     | {i}/9999999 [00:06<00:06,  1.33it/s]\n")
    return "".join(out)
written, tick = 0, 0.01
per_tick = max(1, rate // 100) if rate else 20000
due = time.monotonic()
with open(path, "a", encoding="utf-8") as fh:
    while written < total:
        n = min(per_tick, total - written)
        fh.write(lines(written, n))
        fh.flush()
        written += n
        if rate:
            due += tick
            time.sleep(max(0.0, due - time.monotonic()))
"""


class Writer:
    """Another process (like the real step) appending `rate` lines a second (0: as fast as it can)."""

    def __init__(self, live: LiveRun, rate: int, total: int) -> None:
        self.path = live.dir / "finetune" / "step.log"
        self.proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(self.path), str(rate), str(total)])

    def stop(self) -> int:
        """Stop writing; returns how many lines the log holds."""
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait()
        with open(self.path, "rb") as fh:
            return fh.read().count(b"\n")


async def _wait(pilot, check, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await pilot.pause(0.05)
    return True


async def _bench(seconds: float, rate: int, total: int) -> dict[str, float | int | bool]:
    proc = psutil.Process()
    with tempfile.TemporaryDirectory() as tmp:
        lab = Path(tmp)
        live = LiveRun(lab / "runs", pid=os.getpid())
        live.start_step("finetune")
        app = MonitorApp(lab)
        timer = KeyTimer(app)
        async with app.run_test(size=(120, 40), message_hook=timer.hook) as pilot:
            await _wait(pilot, lambda: isinstance(app.screen, MonitorScreen), 5)
            log = app.screen.query_one(LogView)
            rss_start = proc.memory_info().rss
            writer = Writer(live, rate, 10**12)
            latencies: list[float] = []
            end = time.monotonic() + seconds
            i = 0
            while time.monotonic() < end:
                latencies.append(await timer.press(KEYS[i % len(KEYS)]))
                i += 1
                await asyncio.sleep(0.05)
            streamed_live = writer.stop()
            await _wait(pilot, lambda: log.received >= streamed_live, 30)
            # then a million lines as fast as the disk gives them
            t_bulk = time.monotonic()
            bulk = Writer(live, 0, total)
            peak = proc.memory_info().rss
            ok = True
            while log.received < streamed_live + total:
                await pilot.pause(0.1)
                peak = max(peak, proc.memory_info().rss)
                if time.monotonic() - t_bulk > 600:
                    ok = False
                    break
            bulk.stop()
            bulk_s = time.monotonic() - t_bulk
            rss_end = proc.memory_info().rss
            held = log.line_count
    latencies.sort()
    return {
        "ingest_lines_per_s": rate,
        "keys_pressed": len(latencies),
        "key_latency_p50_ms": round(statistics.median(latencies), 1),
        "key_latency_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
        "key_latency_max_ms": round(latencies[-1], 1),
        "lines_streamed_live": streamed_live,
        "bulk_lines": total,
        "bulk_seconds": round(bulk_s, 1),
        "bulk_lines_per_s": round(total / bulk_s),
        "bulk_completed": ok,
        "lines_held_in_view": held,
        "rss_start_mb": round(rss_start / 2**20, 1),
        "rss_peak_mb": round(peak / 2**20, 1),
        "rss_after_bulk_mb": round(rss_end / 2**20, 1),
    }


def run(seconds: float = 10.0, rate: int = 5000, total: int = 1_000_000) -> dict[str, float | int | bool]:
    """Measure and return the figures (also printed by `main`)."""
    return asyncio.run(_bench(seconds, rate, total))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to press keys during ingest")
    parser.add_argument("--rate", type=int, default=5000, help="lines a second during the key test")
    parser.add_argument("--total", type=int, default=1_000_000, help="lines streamed for the memory test")
    args = parser.parse_args()
    result = run(args.seconds, args.rate, args.total)
    print(json.dumps(result, indent=1))
    fine = result["key_latency_p95_ms"] <= 100 and result["rss_peak_mb"] <= 250
    print("targets met" if fine else "TARGETS MISSED (p95 <= 100 ms, RSS <= 250 MB)")


if __name__ == "__main__":
    main()
