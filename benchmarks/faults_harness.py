"""The fault bench's harness: labs, the command line, a watch over every pid a lab's runs name, and the verdict
on one run (benchmarks/bench_faults.py says what is checked)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
FAKE = ROOT / "tests" / "fakes" / "fake_olive.py"
LAB_TOML = 'profile = "demo"\n[quantize]\nenabled = false\n[evaluate]\nenabled = false\n'
SLOW_GOLDEN = (
    "import time\nif b'engine.steps.golden_check' in open('/proc/self/cmdline', 'rb').read():\n    time.sleep(300)\n"
)
Result = dict[str, Any]


def cli(lab: Path, *args: str, env: dict[str, str], wait: bool = True) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "cli.launch", *args, "--lab", str(lab)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    if wait:
        proc.out, proc.err = (b.decode(errors="replace") for b in proc.communicate(timeout=180))  # type: ignore[attr-defined]
    return proc


def state_of(run_dir: Path) -> Any:
    from engine.runs.state import read_state

    return read_state(run_dir)


def run_folders(lab: Path) -> list[Path]:
    """The lab's run folders, newest first, a folder whose state is unreadable too (engine.runs.state)."""
    from engine.paths import LabPaths
    from engine.runs.state import iter_runs

    return [entry.dir for entry in iter_runs(LabPaths.at(lab).runs)]


def try_state(run_dir: Path) -> Any:
    try:
        return state_of(run_dir)
    except Exception:
        return None


class Watch:
    """Follows a lab while the fault plays out: every pid any of its runs (and branches) names."""

    def __init__(self, lab: Path) -> None:
        self.lab, self.pids, self._stop = lab, set[int](), threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def run_dirs(self) -> list[Path]:
        return sorted(p.parent for p in self.lab.glob("runs/*/state.json")) + sorted(
            p.parent for p in self.lab.glob("runs/*/branches/*/state.json"))  # fmt: skip

    def _loop(self) -> None:
        while not self._stop.wait(0.03):
            for run_dir in self.run_dirs():
                state = try_state(run_dir)
                if state is not None:
                    self.pids |= {
                        p for p in [state.supervisor_pid, state.warden_pid, *(s.pid for s in state.steps)] if p
                    }

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def alive(pids: set[int], lab: Path) -> list[int]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            names_lab = str(lab) in " ".join(proc.info["cmdline"] or [])
            if (proc.pid in pids or names_lab) and proc.pid != os.getpid() and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


def wait_ended(watch: Watch, timeout: float = 90) -> None:
    from engine.runs.state import ENDED_RUN
    from engine.runs.view import as_seen

    deadline = time.time() + timeout
    while time.time() < deadline:
        dirs = watch.run_dirs()
        states = [(d, try_state(d)) for d in dirs]
        if dirs and all(s is not None and as_seen(d, s)[0] in ENDED_RUN for d, s in states):
            return
        time.sleep(0.05)


def judge(fault: str, lab: Path, watch: Watch, tally: Path | None, check: Callable[[Any, list[Any]], bool]) -> Result:
    """The harness's verdict on one run of a lab: `check(run state, branch states)` says whether the status
    and cause fit the fault."""
    from engine.runs.view import as_seen

    wait_ended(watch)
    time.sleep(0.3)
    watch.stop()
    grace = time.time() + 5  # a process that has closed its run may still be shutting down its interpreter
    while alive(watch.pids, lab) and time.time() < grace:
        time.sleep(0.1)
    runs = run_folders(lab)
    if not runs:
        return {"fault": fault, "consistent": False, "why": "no run"}
    run_dir = runs[0]
    state = try_state(run_dir)
    if state is None:
        return {"fault": fault, "consistent": False, "why": "state unreadable at the end"}
    branches = [s for d in sorted(run_dir.glob("branches/*/state.json")) if (s := try_state(d.parent)) is not None]
    seen = [as_seen(d, s)[1] for d, s in [(run_dir, state), *((run_dir / "branches" / b.branch, b) for b in branches)]]
    ended = all(s.ended_at is not None for st in seen for s in st.steps if s.started_at is not None) and not any(
        s.status in ("running", "pending") for st in seen for s in st.steps
    )
    logs_exact = True
    for command, step in (("finetune", "finetune"), ("auto-opt", "optimize")):
        counted, log = (tally / command) if tally else None, run_dir / step / "step.log"
        if counted is not None and counted.exists() and log.exists() and not branches:
            header = len(log.read_bytes().split(b"\n", 1)[0]) + 1
            before, after = map(int, counted.read_text().split())
            logs_exact &= log.stat().st_size - header in (before, after)
    return {
        "fault": fault,
        "consistent": check(state, branches),
        "ended": ended,
        "no_orphans": not alive(watch.pids, lab),
        "logs_exact": logs_exact,
        "status": state.status,
        "reason": state.reason,
    }


def has(state: Any, status: str, cause: str | None = None) -> bool:
    return bool(state.status == status and (cause is None or cause in (state.reason or "")))


def new_lab(
    root: Path, rng: random.Random, env_extra: dict[str, str] | None = None
) -> tuple[Path, Path, dict[str, str]]:
    lab = Path(tempfile.mkdtemp(dir=root))
    (lab / "lab.toml").write_text(LAB_TOML)
    tally = lab / "tally"
    tally.mkdir()
    env = {
        **os.environ,
        "OLIVE_LAB_OLIVE": f"{sys.executable} {FAKE}",
        "FAKE_OLIVE_DELAY": "0.03",
        "FAKE_OLIVE_TALLY": str(tally),
        "PYTHONPATH": str(ROOT),
        "CUDA_VISIBLE_DEVICES": "",
        **(env_extra or {}),
    }
    return lab, tally, env


def first_run(lab: Path, timeout: float = 60) -> Path | None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = run_folders(lab)
        if found:
            return found[-1]
        time.sleep(0.02)
    return None


def timed_cancel(lab: Path, env: dict[str, str]) -> tuple[float, float]:
    """`olive-lab runs cancel`: the seconds from its request to the closed run (as the command reports them),
    and the command's whole time, its interpreter's start-up included."""
    import json

    started = time.time()
    proc = cli(lab, "runs", "cancel", "--json", env=env)
    whole = time.time() - started
    try:
        return float(json.loads(proc.out)["seconds"]), whole  # type: ignore[attr-defined]
    except (ValueError, KeyError, TypeError):
        return whole, whole


def kill(pid: int | None, sig: int = signal.SIGKILL) -> None:
    if pid:
        try:
            os.kill(pid, sig)
        except OSError:
            pass
