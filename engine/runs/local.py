"""A step on this machine: its child process writes straight into the step's log, which the supervisor follows
and parses as it grows (the step never waits on us, and the log survives the supervisor); the step's process
group is stopped on cancel; the verdict is the supervisor's, the same for a step that ran as an Azure ML job."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from collections.abc import Sequence
from typing import Any

from engine.runs import events as ev
from engine.runs import stepproc
from engine.runs.host import LogFeed, StepHost
from engine.runs.proctree import stop_tree
from engine.runs.state import StepState, step_log_path
from engine.runs.step_inputs import write_inputs
from engine.runs.stepproc import Cancelled, StepFailed
from engine.steps.commands import StepPaths
from engine.steps.logparse import stamped
from engine.steps.plan import EnvVar

POLL_S = 0.01  # while the step prints; backs off to POLL_IDLE_S when it is quiet
POLL_IDLE_S = 0.2
PROGRESS_EVERY_S = 0.5
GPU_EVERY_S = 1.0
READ_SIZE = 1 << 20


def run_local(sup: StepHost, step: StepState, paths: StepPaths, env: Sequence[EnvVar]) -> None:
    """Run the step here, with its plan's variables `env`."""
    step_dir = sup.run_dir / step.name
    step_dir.mkdir(parents=True, exist_ok=True)
    if step.name != "prepare":
        shutil.rmtree(paths.output, ignore_errors=True)
    write_inputs(sup.run_dir, sup.config, step.name, paths)
    log_path = step_log_path(sup.run_dir, step.name)
    feed = LogFeed(sup, step, PROGRESS_EVERY_S)
    meter = stepproc.gpu_meter(lambda: [p for p in [step.pid] if p], sup.lab.root)
    step.status = "running"
    step.started_at = time.time()
    step.last_output_at = step.started_at
    # The step writes straight into its log file: nothing it prints waits on us, and the log survives
    # even if the supervisor dies. We follow the file to parse it.
    with open(log_path, "ab", buffering=0) as log:
        start = log.tell()  # what the supervisor wrote before (a resumed fine-tune's first line) is not output
        log.write(f"$ {shlex.join(step.command)}\n".encode())
        try:
            proc = subprocess.Popen(
                step.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=str(step_dir),
                env=stepproc.step_env(env, sup.secrets.get(step.name, {})),
                start_new_session=True,
                preexec_fn=stepproc.die_with_parent,
            )
        except OSError as exc:
            step.status = "failed"
            step.reason = f"could not start {step.command[0]}: {exc.strerror}"
            step.ended_at = time.time()
            sup.save()
            sup.event(ev.StepFinished(step=step.name, status="failed", reason=step.reason, duration_s=0))
            raise StepFailed(f"{step.name}: {step.reason}") from None
    sup.child(proc)
    step.pid = proc.pid
    sup.save()
    sup.event(ev.StepStarted(step=step.name, command=step.command, pid=step.pid))
    with open(log_path, "rb") as reader:
        reader.seek(start)
        reader.readline()  # the command line we wrote
        cancelled = pump(sup, proc, feed, reader, meter)
    rc = proc.wait()
    sup.child(None)
    feed.finish()
    step.exit_code = rc
    step.ended_at = time.time()
    if meter is not None:
        step.gpu = step.gpu.model_validate(meter.summary())
    if cancelled:
        status, step.reason = sup.cancel_reason
        step.status = "cancelled" if status == "cancelled" else "failed"
        stepproc.mark_partial(step_dir)
        sup.save()
        sup.event(ev.StepFinished(step=step.name, status=step.status, reason=step.reason, duration_s=step.duration_s))
        raise Cancelled
    sup.conclude(step, paths, feed.parser, rc)


def mark_stop(sup: StepHost, step: StepState) -> None:
    """Say in the step's log, before its process is stopped, that what it prints next (Python's "Traceback ...
    KeyboardInterrupt") is the stop and not a crash. The line is added; nothing the step wrote is changed."""
    why = sup.cancel_reason[1]
    line = f"── {why}: the step was stopped (its traceback below is the stop, not a crash) ──"
    try:
        with open(step_log_path(sup.run_dir, step.name), "a+b") as log:
            ends_line = log.tell() == 0 or (log.seek(-1, 2) >= 0 and log.read(1) == b"\n")
            log.write(f"{'' if ends_line else chr(10)}{stamped(line)}\n".encode())
    except OSError:
        pass  # the stop matters more than the note


def pump(sup: StepHost, proc: subprocess.Popen[bytes], feed: LogFeed, reader: Any, meter: Any) -> bool:
    """Parse the step's log as it grows until the step exits. True when cancelled."""
    step = feed.step
    last_gpu = 0.0
    exited = False
    pause = POLL_S
    while True:
        if sup.cancelling():
            mark_stop(sup, step)
            stop_tree(proc.pid, group=True, reap=proc.poll)
            return True
        data = reader.read(READ_SIZE)
        now = time.time()
        pause = POLL_S if data else min(POLL_IDLE_S, pause * 2)
        if data:
            feed.feed(data)
        elif exited:
            return False
        else:
            exited = proc.poll() is not None  # read once more after the exit, then stop
            if not exited:
                time.sleep(pause)
        feed.progress()
        if meter is not None and now - last_gpu >= GPU_EVERY_S:
            last_gpu = now
            stepproc.watch_resources(sup.state, step, meter, sup.lab.root, sup.event)
        sup.save(force=False)
