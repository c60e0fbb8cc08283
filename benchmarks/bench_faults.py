"""Fault injection: demo runs (the fake `olive` replaying a real run) each hit by a fault at a random moment,
judged by the harness, which knows what it injected.

Faults on a run: kill -9 of the supervisor, of the step, of the command line (at any moment of a start too),
of the supervisor and its waiting parent both; cancel (of a running and of a stopped supervisor); a second
start; a truncated state.json; a full disk at a state write (the first, which makes the run folder, included)
and on a real small filesystem that fills at whichever writer comes first (the folder, the state, the events,
the step log); a read-only lab. On sweeps: kill -9 of the sweep's supervisor, of a branch's step, cancel, and
cancel during the golden check. With node (tests/fakes/azurite.py), on the fake Azure ML service: kill -9 of a
remote step's poller, passing errors (429/503) from the service, cancel of a job, and an upload killed between
its upload and its registration (benchmarks/faults_remote.py).

For every run it checks: the final status and cause fit the fault; every step row reads as ended (also
through what a reader shows); no process the run started is alive (nor any naming its lab); each step log
holds exactly the bytes the step printed. Prints the four counts (N/N) and the slowest cancel (target <= 5 s:
from the request to the closed run, as `olive-lab runs cancel --json` reports it; the command's whole time,
its interpreter's start-up included, beside it).
"""

from __future__ import annotations

import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.faults_harness import Result
from benchmarks.faults_runs import RUN_FAULTS


def run(n: int = 64, seed: int = 7, remote: bool = True) -> dict[str, object]:
    rng = random.Random(seed)
    root = Path(tempfile.mkdtemp(prefix="olive-lab-faults-"))
    faults = list(RUN_FAULTS.items())
    extra: list[tuple[str, Callable[..., Result]]] = []
    cloud = None
    if remote:
        from benchmarks.faults_remote import REMOTE_FAULTS, RemoteCloud

        cloud = RemoteCloud.start(root / "cloud")
        if cloud is None:
            print("  remote faults skipped: no node for the fake Azure storage")
        else:
            extra = list(REMOTE_FAULTS.items())
    plan = [faults[i % len(faults)] for i in range(max(0, n - 2 * len(extra)))] + extra * 2
    results: list[Result] = []
    try:
        for i, (name, scenario) in enumerate(plan):
            started = time.time()
            try:
                result = (
                    scenario(root, rng, cloud)
                    if cloud is not None and name.startswith(("remote", "upload"))
                    else scenario(root, rng)
                )
            except Exception as exc:  # a harness failure is a failed case, never a stop
                result = {"fault": name, "consistent": False, "why": f"harness: {type(exc).__name__}: {exc}"}
            results.append(result)
            print(f"  {i + 1:3}/{len(plan)} {name:24} {time.time() - started:5.1f} s  {result.get('status')}: "
                  f"{(result.get('reason') or '')[:70]}", flush=True)  # fmt: skip
    finally:
        if cloud is not None:
            cloud.stop()
        shutil.rmtree(root, ignore_errors=True)
    total = len(results)
    bad = [r for r in results if not all(r.get(k) for k in ("consistent", "ended", "no_orphans", "logs_exact"))]
    for r in bad:
        print(f"  inconsistent: {r}")
    cancels = [float(r["cancel_s"]) for r in results if r.get("cancel_s") is not None]
    kinds = sorted({str(r["fault"]) for r in results})
    return {
        "runs": total,
        "faults": f"{len(kinds)} kinds: {', '.join(kinds)}",
        "status and cause consistent": f"{sum(bool(r.get('consistent')) for r in results)}/{total}",
        "every step row ended": f"{sum(bool(r.get('ended')) for r in results)}/{total}",
        "no process left alive": f"{sum(bool(r.get('no_orphans')) for r in results)}/{total}",
        "step log bytes exact": f"{sum(bool(r.get('logs_exact')) for r in results)}/{total}",
        "cancels": len(cancels),
        "slowest cancel s (target <= 5)": max(cancels) if cancels else None,
        "slowest cancel with CLI start-up s": max(
            (float(r["cancel_cli_s"]) for r in results if r.get("cancel_cli_s")), default=None
        ),
        "slowest remote cancel s (job)": max(
            (float(r["remote_cancel_s"]) for r in results if r.get("remote_cancel_s")), default=None
        ),
    }


if __name__ == "__main__":
    for key, value in run(remote="--no-remote" not in sys.argv).items():
        print(f"{key:34} {value}")
