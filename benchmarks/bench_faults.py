"""Fault injection: demo runs (the fake `olive` replaying a real run) each hit by a random fault at a random
moment, judged by the harness, which knows what it injected.

Faults: kill -9 of the supervisor, of the step, of the command line; cancel; a second start; a truncated
state.json; a full disk at a state write. For every run it checks: the final status and cause fit the fault;
every step row that started has ended; no process the run started is alive; each step log holds exactly
the bytes the step printed. Prints the four counts (N/N) and the slowest cancel (target <= 5 s).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
FAKE = ROOT / "tests" / "fakes" / "fake_olive.py"
FAULTS = ("kill_supervisor", "kill_step", "kill_cli", "cancel", "second_start", "truncate_state", "full_disk")
EXPECTED = {
    "kill_supervisor": ("failed", "supervisor killed by signal 9"),
    "kill_step": ("failed", "finetune failed"),
    "kill_cli": ("done", None),
    "cancel": ("cancelled", "cancelled"),
    "second_start": ("done", None),
    "truncate_state": ("done", None),
    "full_disk": ("failed", "no space left on device"),
}


def _cli(lab: Path, *args: str, env: dict[str, str], wait: bool = True) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.launch", *args, "--lab", str(lab)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    if wait:
        proc.wait(120)
    return proc


def _state(run_dir: Path):
    from engine.runs.state import read_state

    return read_state(run_dir)


def _run_once(fault: str, root: Path, rng: random.Random) -> dict[str, object]:
    lab = Path(tempfile.mkdtemp(dir=root))
    (lab / "lab.toml").write_text('profile = "demo"\n[quantize]\nenabled = false\n')
    tally = lab / "tally"
    tally.mkdir()
    env = {**os.environ, "OLIVE_LAB_OLIVE": f"{sys.executable} {FAKE}", "FAKE_OLIVE_DELAY": "0.03",
           "FAKE_OLIVE_TALLY": str(tally), "PYTHONPATH": str(ROOT)}
    if fault == "full_disk":
        env["OLIVE_LAB_FAULT_ENOSPC_AT"] = f"state:{rng.randint(3, 12)}"
    cli = _cli(lab, "pipeline", "run", env=env, wait=False)
    deadline = time.time() + 60
    while time.time() < deadline and not list(lab.glob("runs/*/state.json")):
        time.sleep(0.02)
    run_dir = next(lab.glob("runs/*"))
    time.sleep(rng.uniform(0.2, 0.8) if fault == "truncate_state" else rng.uniform(0.3, 2.5))
    cancel_s = None
    state = _state(run_dir)
    pids = {p for p in [state.supervisor_pid, state.warden_pid, *(s.pid for s in state.steps)] if p}
    if fault == "kill_supervisor" and state.supervisor_pid:
        os.kill(state.supervisor_pid, signal.SIGKILL)
    elif fault == "kill_step":
        while time.time() < deadline and not _state(run_dir).step("finetune").pid:
            time.sleep(0.02)
        pid = _state(run_dir).step("finetune").pid
        if pid:
            os.kill(pid, signal.SIGKILL)
    elif fault == "kill_cli":
        cli.kill()
    elif fault == "cancel":
        started = time.time()
        _cli(lab, "runs", "cancel", env=env)
        cancel_s = time.time() - started
    elif fault == "second_start":
        second = _cli(lab, "pipeline", "run", "--detach", env=env)
        if second.returncode == 0:
            return {"fault": fault, "consistent": False, "why": "a second run started"}
    elif fault == "truncate_state":
        if _state(run_dir).finished:
            return {"fault": fault, "consistent": True, "ended": True, "no_orphans": True, "logs_exact": True,
                    "note": "the run had ended before the fault"}
        with open(run_dir / "state.json", "r+") as fh:
            fh.truncate(20)
        shown = subprocess.run([sys.executable, "-m", "cli.launch", "runs", "show", "--lab", str(lab)],
                               cwd=ROOT, env=env, capture_output=True, text=True)
        if "Traceback" in shown.stderr:
            return {"fault": fault, "consistent": False, "why": "a reader crashed on the damaged state"}
    end = time.time() + 60
    while time.time() < end:
        try:
            state = _state(run_dir)
            if state.finished:
                break
        except Exception:
            pass
        time.sleep(0.05)
    cli.kill()
    cli.wait()
    time.sleep(0.3)
    try:
        state = _state(run_dir)
    except Exception as exc:
        return {"fault": fault, "consistent": False, "why": f"state unreadable at the end: {exc}"}
    pids |= {p for p in [state.supervisor_pid, state.warden_pid, *(s.pid for s in state.steps)] if p}
    want_status, want_cause = EXPECTED[fault]
    if fault in ("kill_supervisor", "kill_step", "full_disk") and state.status == "done":
        want_status, want_cause = "done", None  # the fault came after the last step had ended
    if fault == "truncate_state" and state.status == "failed":
        want_status, want_cause = "failed", "damaged"  # it struck before the supervisor took the run over
    consistent = state.status == want_status and (want_cause is None or want_cause in (state.reason or ""))
    ended = all(s.ended_at is not None for s in state.steps if s.started_at is not None)
    def alive() -> list[int]:
        found = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    found.append(pid)
            except psutil.Error:
                continue
        return found

    grace = time.time() + 5  # a process that has closed its run may still be shutting down its interpreter
    while alive() and time.time() < grace:
        time.sleep(0.1)
    logs_exact = True
    for command, step in (("finetune", "finetune"), ("auto-opt", "optimize")):
        counted = tally / command
        log = run_dir / step / "step.log"
        if counted.exists() and log.exists():
            header = len(log.read_bytes().split(b"\n", 1)[0]) + 1
            before, after = map(int, counted.read_text().split())
            logs_exact &= log.stat().st_size - header in (before, after)
    return {"fault": fault, "consistent": consistent, "ended": ended, "no_orphans": not alive(),
            "logs_exact": logs_exact, "cancel_s": cancel_s, "status": state.status, "reason": state.reason}


def run(n: int = 35, seed: int = 7) -> dict[str, object]:
    rng = random.Random(seed)
    root = Path(tempfile.mkdtemp(prefix="olive-lab-faults-"))
    results = [_run_once(FAULTS[i % len(FAULTS)], root, rng) for i in range(n)]
    bad = [r for r in results if not all(r.get(k) for k in ("consistent", "ended", "no_orphans", "logs_exact"))]
    for r in bad:
        print(f"  inconsistent: {r}")
    cancels = [float(r["cancel_s"]) for r in results if r.get("cancel_s") is not None]
    return {
        "runs": n,
        "status and cause consistent": f"{sum(bool(r.get('consistent')) for r in results)}/{n}",
        "every step row ended": f"{sum(bool(r.get('ended')) for r in results)}/{n}",
        "no process left alive": f"{sum(bool(r.get('no_orphans')) for r in results)}/{n}",
        "step log bytes exact": f"{sum(bool(r.get('logs_exact')) for r in results)}/{n}",
        "slowest cancel s (target <= 5)": max(cancels) if cancels else None,
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:34} {value}")
