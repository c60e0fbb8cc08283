"""Pipeline benchmarks: the log parser's throughput, the runner's overhead, and an unchanged re-run.

Figures printed:
- parser: lines/s on a synthetic 1M-line Olive-like stream with tqdm redraws (target >= 200k lines/s), and
  the parser process's peak RSS (target <= 150 MB);
- runner: `pipeline run` of a step whose (fake) `olive` prints that stream as fast as it can, against the
  fake's own time writing to a file (target <= 1.2x);
- re-run: an unchanged `pipeline run` on the demo profile (target <= 2 s), beside the bare `olive finetune`
  command's own cached re-run.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from engine.paths import LabPaths
from engine.runs.state import RunState, iter_runs

ROOT = Path(__file__).resolve().parent.parent
FAKE = ROOT / "tests" / "fakes" / "fake_olive.py"
LINES = 1_000_000


def _stream(lines: int) -> str:
    out = subprocess.run(
        [sys.executable, str(FAKE), "finetune", "-o", tempfile.mkdtemp()],
        env={**os.environ, "FAKE_OLIVE_LINES": str(lines)},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def parser_throughput(lines: int = LINES) -> dict[str, float]:
    """Parse in a fresh process so its peak RSS is the parser's own."""
    code = f"""
import resource, sys, time, json
sys.path.insert(0, {str(ROOT)!r})
from engine.steps.logparse import LogParser
import subprocess, os
path = '/tmp/olive-lab-bench-stream.log'
with open(path, 'wb') as fh:
    subprocess.run([sys.executable, {str(FAKE)!r}, 'finetune', '-o', '/tmp/olive-lab-bench-out'],
        env={{**os.environ, 'FAKE_OLIVE_LINES': '{lines}'}}, stdout=fh, check=True)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
parser = LogParser()
events = 0
size = 0
t = time.perf_counter()
with open(path, 'rb') as fh:  # streamed in chunks, as the runner reads a pipe
    while chunk := fh.read(65536):
        size += len(chunk)
        events += len(parser.feed(chunk.decode('utf-8', 'replace')))
events += len(parser.finish())
dt = time.perf_counter() - t
os.remove(path)
print(json.dumps({{'seconds': dt, 'lines': parser.lines, 'events': events, 'bytes': size,
    'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'rss_before_mb': base / 1024}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    res = json.loads(out.stdout)
    return {
        "parser_lines_per_s": res["lines"] / res["seconds"],
        "parser_seconds": res["seconds"],
        "parser_events": res["events"],
        "parser_peak_rss_mb": res["rss_mb"],
    }


def runner_overhead(lines: int = LINES, repeats: int = 3) -> dict[str, float]:
    trials = [_runner_once(lines) for _ in range(repeats)]
    fake_s = statistics.median(t[0] for t in trials)
    run_s = statistics.median(t[1] for t in trials)
    return {
        "runner_fake_alone_s": fake_s,
        "runner_step_s": run_s,
        "runner_ratio": run_s / fake_s,
        "runner_lines": trials[0][2],
    }


def _runner_once(lines: int) -> tuple[float, float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        lab = Path(tmp)
        env = {**os.environ, "FAKE_OLIVE_LINES": str(lines), "OLIVE_LAB_OLIVE": f"{sys.executable} {FAKE}"}
        t = time.perf_counter()
        with open(lab / "fake.log", "wb") as fh:
            subprocess.run(
                [sys.executable, str(FAKE), "finetune", "-o", str(lab / "o")], env=env, stdout=fh, check=True
            )
        fake_s = time.perf_counter() - t
        (lab / "lab.toml").write_text('profile = "demo"\n[quantize]\nenabled = false\n')
        subprocess.run(
            [sys.executable, "-m", "cli.launch", "pipeline", "run", "--steps", "finetune", "--lab", str(lab)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        step = _runs(lab)[0].step("finetune")
        assert step.started_at is not None and step.ended_at is not None, "the finetune step did not run"
        return fake_s, step.ended_at - step.started_at, step.log_lines


def _runs(lab: Path) -> list[RunState]:
    """The lab's runs, newest first (engine.runs.state.iter_runs)."""
    return [entry.state for entry in iter_runs(LabPaths.at(lab).runs) if entry.state is not None]


def _step_seconds(lab: Path) -> dict[str, float]:
    """Each step's wall time in the lab's first run (prepare includes building the demo model only once
    per user: a later lab finds it in the user cache)."""
    return {
        f"demo_{s.name}_s": s.ended_at - s.started_at
        for s in _runs(lab)[-1].steps
        if s.started_at is not None and s.ended_at is not None
    }


def rerun(bare: bool = True) -> dict[str, float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OLIVE_DISABLE_TELEMETRY": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        lab = Path(tmp)
        cmd = [sys.executable, "-m", "cli.launch", "pipeline", "run", "--lab", str(lab)]
        t = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
        result_first = {"demo_chain_s": time.perf_counter() - t, **_step_seconds(lab)}
        times = []
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
            times.append(time.perf_counter() - t)
        result = {**result_first, "rerun_unchanged_s": statistics.median(times)}
        if bare:
            argv = _runs(lab)[-1].step("finetune").command
            work = lab / "bare"
            work.mkdir()
            argv = [*argv[: argv.index("-o")], "-o", str(work / "out"), *argv[argv.index("-o") + 2 :]]
            subprocess.run(argv, cwd=work, env=env, check=True, capture_output=True)
            t = time.perf_counter()
            subprocess.run(argv, cwd=work, env=env, check=True, capture_output=True)
            result["bare_olive_finetune_cached_rerun_s"] = time.perf_counter() - t
        shutil.rmtree(lab / "runs", ignore_errors=True)
        return result


def run(quick: bool = False) -> dict[str, float]:
    results: dict[str, float] = {}
    results.update(parser_throughput(100_000 if quick else LINES))
    results.update(runner_overhead(100_000 if quick else LINES))
    results.update(rerun(bare=not quick))
    print("pipeline benchmarks")
    print(f"  parser        {results['parser_lines_per_s']:>12,.0f} lines/s   (target >= 200,000)")
    print(f"  parser RSS    {results['parser_peak_rss_mb']:>12.1f} MB        (target <= 150)")
    print(
        f"  runner        {results['runner_ratio']:>12.2f} x         (target <= 1.2; "
        f"step {results['runner_step_s']:.2f} s, fake alone {results['runner_fake_alone_s']:.2f} s)"
    )
    print(
        f"  demo chain    {results['demo_chain_s']:>12.1f} s         "
        "(a new lab, `pipeline run` start to done; about 60 on a quiet 2-core machine)"
    )
    print(
        f"  its prepare   {results.get('demo_prepare_s', float('nan')):>12.1f} s         "
        "(seconds once the user's demo model exists)"
    )
    print(f"  re-run        {results['rerun_unchanged_s']:>12.2f} s         (target <= 2)")
    if "bare_olive_finetune_cached_rerun_s" in results:
        print(
            f"  bare olive    {results['bare_olive_finetune_cached_rerun_s']:>12.2f} s         "
            "(olive finetune's own cached re-run)"
        )
    return results


if __name__ == "__main__":
    run(quick="--quick" in sys.argv)
