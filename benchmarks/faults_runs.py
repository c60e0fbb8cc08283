"""The fault bench's scenarios on this machine: a run, a start, a sweep, a lab on a read-only or full disk.
Each takes the bench's folder and its random source, injects its fault at a random moment, and returns the
harness's verdict (benchmarks/faults_harness.py)."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.faults_harness import (
    SLOW_GOLDEN,
    Result,
    Watch,
    alive,
    cli,
    first_run,
    has,
    judge,
    kill,
    new_lab,
    state_of,
    timed_cancel,
    try_state,
)


def _wait(check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.02)
    return None


def _running(run_dir: Path, step: str) -> int | None:
    state = try_state(run_dir)
    if state is None:
        return None
    found = state.step(step)
    return found.pid if found.status == "running" and found.pid else None


def _no_run(fault: str, lab: Path, why: str, ok: bool, cause: str = "") -> Result:
    """The verdict where the fault stops the start itself: no run (not even half a folder) and a message."""
    left = [p.name for p in (lab / "runs").iterdir()] if (lab / "runs").is_dir() else []
    _wait(lambda: not alive(set(), lab), timeout=5)  # a supervisor that refused may still be shutting down
    return {"fault": fault, "consistent": ok and not left, "ended": True, "no_orphans": not alive(set(), lab),
            "logs_exact": True, "status": "refused", "reason": cause, "why": why if not ok or left else None,
            "left": left}  # fmt: skip


def kill_supervisor(root: Path, rng: random.Random) -> Result:
    lab, tally, env = new_lab(root, rng)
    cli(lab, "pipeline", "run", "--detach", env=env)
    watch, run_dir = Watch(lab), first_run(lab)
    time.sleep(rng.uniform(0.3, 2.5))
    kill(try_state(run_dir).supervisor_pid if run_dir else None)
    return judge(
        "kill_supervisor",
        lab,
        watch,
        tally,
        lambda s, _: has(s, "failed", "supervisor killed by signal 9") or has(s, "done"),
    )


def kill_step(root: Path, rng: random.Random) -> Result:
    lab, tally, env = new_lab(root, rng)
    cli(lab, "pipeline", "run", "--detach", env=env)
    watch, run_dir = Watch(lab), first_run(lab)
    kill(_wait(lambda: _running(run_dir, "finetune")) if run_dir else None)
    return judge("kill_step", lab, watch, tally, lambda s, _: has(s, "failed", "finetune failed"))


def kill_cli(root: Path, rng: random.Random) -> Result:
    lab, tally, env = new_lab(root, rng)
    proc = cli(lab, "pipeline", "run", env=env, wait=False)
    watch = Watch(lab)
    first_run(lab)
    time.sleep(rng.uniform(0.2, 2.5))
    proc.kill()
    proc.wait()
    return judge("kill_cli", lab, watch, tally, lambda s, _: has(s, "done"))


def start_interrupted(root: Path, rng: random.Random) -> Result:
    """The command line killed at any moment of its start: no run at all, or a whole run that goes on."""
    lab, tally, env = new_lab(root, rng)
    proc = cli(lab, "pipeline", "run", env=env, wait=False)
    watch = Watch(lab)
    time.sleep(rng.uniform(0.0, 2.0))
    proc.kill()
    proc.wait()
    time.sleep(3)  # a supervisor that was starting has made its folder by now, or is gone
    if first_run(lab, timeout=0.1) is None:
        watch.stop()
        hidden = [p.name for p in (lab / "runs").glob(".new-*")] if (lab / "runs").is_dir() else []
        return _no_run(
            "start_interrupted", lab, f"half-made folders left: {hidden}", not hidden, "killed before the run"
        )
    return judge("start_interrupted", lab, watch, tally, lambda s, _: has(s, "done"))


def cancel(root: Path, rng: random.Random) -> Result:
    lab, tally, env = new_lab(root, rng)
    cli(lab, "pipeline", "run", "--detach", env=env)
    watch = Watch(lab)
    first_run(lab)
    time.sleep(rng.uniform(0.3, 2.5))
    took = timed_cancel(lab, env)
    return {
        **judge("cancel", lab, watch, tally, lambda s, _: has(s, "cancelled", "cancelled") or has(s, "done")),
        "cancel_s": took[0],
        "cancel_cli_s": took[1],
    }


def cancel_stopped(root: Path, rng: random.Random) -> Result:
    """Cancel of a supervisor stopped with SIGSTOP: it cannot answer; killed, its waiting parent records it."""
    lab, tally, env = new_lab(root, rng, {"FAKE_OLIVE_DELAY": "0.2"})
    cli(lab, "pipeline", "run", "--detach", env=env)
    watch, run_dir = Watch(lab), first_run(lab)
    if run_dir is not None and _wait(lambda: _running(run_dir, "finetune")):
        kill(state_of(run_dir).supervisor_pid, signal.SIGSTOP)
    took = timed_cancel(lab, env)
    return {
        **judge("cancel_stopped", lab, watch, tally, lambda s, _: has(s, "cancelled", "did not answer")),
        "cancel_s": took[0],
        "cancel_cli_s": took[1],
    }


def second_start(root: Path, rng: random.Random) -> Result:
    lab, tally, env = new_lab(root, rng)
    cli(lab, "pipeline", "run", "--detach", env=env)
    watch = Watch(lab)
    first_run(lab)
    time.sleep(rng.uniform(0.0, 1.5))
    second = cli(lab, "pipeline", "run", "--detach", env=env)
    return judge("second_start", lab, watch, tally, lambda s, _: second.returncode != 0 and has(s, "done"))


def truncate_state(root: Path, rng: random.Random) -> Result:
    lab, tally, env = new_lab(root, rng)
    cli(lab, "pipeline", "run", "--detach", env=env)
    watch, run_dir = Watch(lab), first_run(lab)
    time.sleep(rng.uniform(0.2, 0.8))
    assert run_dir is not None
    if not (try_state(run_dir) and state_of(run_dir).finished):
        with open(run_dir / "state.json", "r+") as fh:
            fh.truncate(20)
        shown = cli(lab, "runs", "show", env=env)
        if "Traceback" in shown.err:  # type: ignore[attr-defined]
            watch.stop()
            return {"fault": "truncate_state", "consistent": False, "why": "a reader crashed on the damaged state"}
    return judge("truncate_state", lab, watch, tally, lambda s, _: has(s, "done") or has(s, "failed", "damaged"))


def full_disk_state(root: Path, rng: random.Random) -> Result:
    """No space at the Nth state write of a run folder: the first makes the folder (the start is refused)."""
    at = rng.choice([1, 2, *range(3, 13)])
    lab, tally, env = new_lab(root, rng, {"OLIVE_LAB_FAULT_ENOSPC_AT": f"state:{at}"})
    proc = cli(lab, "pipeline", "run", "--detach", env=env)
    if at == 1:
        said = proc.err  # type: ignore[attr-defined]
        return _no_run("full_disk_state", lab, said[-300:], proc.returncode == 1 and "No space left on device" in said
                       and "Traceback" not in said, said.strip()[-120:])  # fmt: skip
    watch = Watch(lab)
    return judge(
        "full_disk_state", lab, watch, tally, lambda s, _: has(s, "failed", "no space left on device") or has(s, "done")
    )


def full_disk_fs(root: Path, rng: random.Random) -> Result:
    """The run folders on a real small filesystem: it fills at whichever writer comes first (the folder, the
    state, the events, the step log); the run says so, or the start is refused saying so."""
    lab, tally, env = new_lab(root, rng, {"FAKE_OLIVE_LINES": "40000"})
    runs = lab / "runs"
    runs.mkdir(mode=0o700)
    size = rng.choice(["8k", "64k", "160k", "300k", "600k"])
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(runs)], capture_output=True
    )
    if mounted.returncode != 0:
        return {"fault": "full_disk_fs", "skipped": mounted.stderr.decode().strip()}
    try:
        proc = cli(lab, "pipeline", "run", "--detach", env=env)
        said = proc.err  # type: ignore[attr-defined]
        if proc.returncode != 0:
            return _no_run("full_disk_fs", lab, said[-300:], proc.returncode == 1 and "No space left on device" in said
                           and "Traceback" not in said, said.strip()[-120:])  # fmt: skip
        watch = Watch(lab)

        def fits(state: Any, _: list[Any]) -> bool:
            why = " ".join([state.reason or "", *(s.reason or "" for s in state.steps)]).lower()
            return state.status == "failed" and "no space left on device" in why

        return judge("full_disk_fs", lab, watch, tally, fits)
    finally:
        subprocess.run(["umount", "-l", str(runs)], capture_output=True)


def readonly_lab(root: Path, rng: random.Random) -> Result:
    """A lab seen through a read-only mount: the start is refused with the file and the reason, nothing runs."""
    src, _, env = new_lab(root, rng)
    lab = src.with_name(src.name + "-ro")
    lab.mkdir()
    mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(src), str(lab)], capture_output=True)
    if mounted.returncode != 0:
        return {"fault": "readonly_lab", "skipped": mounted.stderr.decode().strip()}
    try:
        proc = cli(lab, "pipeline", "run", env=env)
        said = proc.err  # type: ignore[attr-defined]
        ok = proc.returncode in (1, 2) and "read-only" in said.lower() and "Traceback" not in said
        return _no_run("readonly_lab", lab, said[-300:], ok, said.strip()[-120:])
    finally:
        subprocess.run(["umount", "-l", str(lab)], capture_output=True)


def kill_both(root: Path, rng: random.Random) -> Result:
    """The supervisor and its waiting parent killed: readers show every row as ended, and never write."""
    lab, tally, env = new_lab(root, rng, {"FAKE_OLIVE_DELAY": "0.1"})
    cli(lab, "pipeline", "run", "--detach", env=env)
    watch, run_dir = Watch(lab), first_run(lab)
    assert run_dir is not None
    _wait(lambda: _running(run_dir, "finetune"))
    time.sleep(rng.uniform(0.0, 1.0))
    state = state_of(run_dir)
    kill(state.warden_pid)
    kill(state.supervisor_pid)
    time.sleep(1.0)
    before = (run_dir / "state.json").read_bytes()
    shown = cli(lab, "runs", "show", run_dir.name, env=env).out  # type: ignore[attr-defined]
    rows = shown.split("reason:", 1)[-1]
    unwritten = (run_dir / "state.json").read_bytes() == before

    def fits(state: Any, _: list[Any]) -> bool:
        return unwritten and " lost" in shown and "running" not in rows and "pending" not in rows

    return judge("kill_both", lab, watch, tally, fits)


def _sweep(
    root: Path, rng: random.Random, golden: str = "0", **extra: str
) -> tuple[Path, Path, dict[str, str], Watch, Path]:
    lab, tally, env = new_lab(root, rng, {"FAKE_OLIVE_DELAY": "0.01", **extra})
    cli(lab, "sweep", "--set", "finetune.lora_r=4,16", "--golden", golden, "--detach", env=env)
    watch, run_dir = Watch(lab), first_run(lab)
    assert run_dir is not None
    return lab, tally, env, watch, run_dir


def _branch_step(run_dir: Path) -> int | None:
    for branch in sorted(run_dir.glob("branches/*")):
        if (pid := _running(branch, "finetune")) or (pid := _running(branch, "optimize")):
            return pid
    return None


def sweep_kill_supervisor(root: Path, rng: random.Random) -> Result:
    lab, _tally, _env, watch, run_dir = _sweep(root, rng)
    time.sleep(rng.uniform(1.0, 8.0))
    kill(state_of(run_dir).supervisor_pid)

    def fits(state: Any, branches: list[Any]) -> bool:
        if has(state, "done"):
            return all(b.status == "done" for b in branches)
        return has(state, "failed", "supervisor killed by signal 9") and all(
            has(b, "done") or has(b, "failed", "its sweep's supervisor is gone") for b in branches)  # fmt: skip

    return judge("sweep_kill_supervisor", lab, watch, None, fits)


def sweep_kill_branch_step(root: Path, rng: random.Random) -> Result:
    lab, _tally, _env, watch, run_dir = _sweep(root, rng)
    kill(_wait(lambda: _branch_step(run_dir), timeout=90))
    return judge("sweep_kill_branch_step", lab, watch, None, lambda s, bs: has(s, "failed", "branches did not finish")
                 and any(b.status == "failed" for b in bs))  # fmt: skip


def sweep_cancel(root: Path, rng: random.Random) -> Result:
    lab, _tally, env, watch, _run_dir = _sweep(root, rng)
    time.sleep(rng.uniform(0.5, 8.0))
    took = timed_cancel(lab, env)
    fits = lambda s, bs: has(s, "done") or (has(s, "cancelled") and all(b.status in ("done", "cancelled") for b in bs))  # noqa: E731
    return {**judge("sweep_cancel", lab, watch, None, fits), "cancel_s": took[0], "cancel_cli_s": took[1]}


def sweep_cancel_golden(root: Path, rng: random.Random) -> Result:
    """Cancel during the golden check: the sweep's own supervisor stops it and closes the run."""
    site = root / "slow-golden"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SLOW_GOLDEN)
    lab, _tally, env, watch, run_dir = _sweep(
        root, rng, golden="1", PYTHONPATH=f"{site}:{Path(__file__).resolve().parent.parent}"
    )
    _wait(lambda: (run_dir / "branches" / "lora_r-4" / "golden.log").exists(), timeout=120)
    time.sleep(rng.uniform(0.0, 1.0))
    took = timed_cancel(lab, env)
    return {
        **judge("sweep_cancel_golden", lab, watch, None, lambda s, _: has(s, "cancelled", "cancelled by the user")),
        "cancel_s": took[0],
        "cancel_cli_s": took[1],
    }


RUN_FAULTS: dict[str, Callable[[Path, random.Random], Result]] = {
    "kill_supervisor": kill_supervisor, "kill_step": kill_step, "kill_cli": kill_cli,
    "start_interrupted": start_interrupted, "cancel": cancel, "cancel_stopped": cancel_stopped,
    "second_start": second_start, "truncate_state": truncate_state, "full_disk_state": full_disk_state,
    "full_disk_fs": full_disk_fs, "readonly_lab": readonly_lab, "kill_both": kill_both,
    "sweep_kill_supervisor": sweep_kill_supervisor, "sweep_kill_branch_step": sweep_kill_branch_step,
    "sweep_cancel": sweep_cancel, "sweep_cancel_golden": sweep_cancel_golden,
}  # fmt: skip
