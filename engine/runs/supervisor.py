"""The detached supervisor of one run: makes its folder, runs the steps of the step table in order, closes it.

Started through `engine.runs.launch` as `python -m engine.runs.supervisor --daemonize RUN_DIR [--new]`: the
launcher reads the start request, forks and exits; the child leaves the terminal's session and forks once
more: the grandchild is the supervisor, which makes the run folder (engine.runs.supervisor_start) and is the
only writer of its state; the child stays as its minimal waiting parent (engine.runs.warden), which closes the
run if the supervisor dies first. Each step runs here (`engine.runs.local`) or as an Azure ML job
(`engine.runs.remote`: then this is the job's poller); either way the verdict is `conclude`'s. A cancel
(SIGTERM, SIGINT) is taken up at any point: the running step's process tree, a golden check or a transfer is
stopped. Each step dies with its supervisor (a parent-death signal), and each sweep branch with its sweep.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from engine.config import LabConfig
from engine.fs import file_digest
from engine.paths import LabPaths
from engine.runs import events as ev
from engine.runs import stepproc
from engine.runs.local import run_local
from engine.runs.placement import CUDA_ENV
from engine.runs.proctree import stop_tree
from engine.runs.remote import run_remote
from engine.runs.reuse import (
    checkpoint_step,
    find_checkpoint,
    find_reusable,
    fingerprint_model,
    link_tree,
    reuse_output,
    step_key,
)
from engine.runs.state import (
    FINISHED_STEP,
    RunFileError,
    RunState,
    RunStatus,
    StepState,
    close_steps,
    read_state,
    step_log_path,
    write_state,
)
from engine.runs.stepproc import Cancelled, PollerStopped, StepFailed, poller_lock_free
from engine.runs.supervisor_start import answer, log_to_run, supervisor_main
from engine.runs.sweep import run_branches
from engine.runs.warden import detach
from engine.steps.commands import StepPaths
from engine.steps.logparse import LogParser, ParsedEvent, stamped
from engine.steps.plan import Plan, plan_steps
from engine.steps.spec import STEP_NAMES, judge_output, spec, step_argv, step_paths

STATE_EVERY_S = 0.5

SWEEP_CHECK_S = 0.5  # how often a sweep's branch looks whether its sweep's supervisor is still there


class Supervisor:
    def __init__(self, run_dir: Path, secrets: dict[str, dict[str, str]] | None = None) -> None:
        self.run_dir = run_dir
        self.state: RunState = read_state(run_dir)
        self.lab = LabPaths.at(self.state.lab)
        self.config: LabConfig = self.state.config
        self.secrets: dict[str, dict[str, str]] = secrets or {}  # from the start request: never on disk
        self.forced: list[str] = list(self.state.forced_steps)
        self.cancel_requested = False
        self.cancel_event = threading.Event()  # the same request, for the transfers that take one
        self.cancel_reason: tuple[RunStatus, str] = ("cancelled", "cancelled by the user")
        self._sweep_checked = 0.0
        self._child: subprocess.Popen[bytes] | None = None  # the running step's process, if it runs here
        self._last_state_write = 0.0
        self.keys: dict[str, str] = {}
        self.model_dir: str = step_paths("prepare", self.config, lab=self.lab).input_model
        self.has_eval: bool | None = None  # None until prepare has split the data: the settings say
        self.loss_lines: dict[str, int] = {}
        self.events = ev.EventWriter(run_dir)
        self._batching = False  # while pumping a step's output, events are flushed once per chunk
        self.plan = Plan(run_id=self.state.id, steps=[])  # made as the run starts (`replan`)

    def replan(self) -> Plan:
        """The plan of this run folder (engine.steps.plan), recorded in its state: a branch's steps that are
        not its own are the sweep's (their outputs, their jobs)."""
        names = [s.name for s in self.state.steps]
        shared = [n for n in names if n not in self.forced] if self.state.branch else []
        self.plan = Plan(run_id=self.state.id, steps=plan_steps(
            self.config, self.lab, names, run_id=self.state.id, run=str(self.run_dir), branch=self.state.branch,
            shared=shared, model=self.model_dir, has_eval=self.has_eval))  # fmt: skip
        self.state.plan = self.plan
        return self.plan

    # -- bookkeeping -----------------------------------------------------------------------------
    def save(self, force: bool = True) -> None:
        now = time.time()
        if force or now - self._last_state_write >= STATE_EVERY_S:
            self.state.alive_at = now
            write_state(self.run_dir, self.state)
            self._last_state_write = now

    def event(self, event: ev.Event) -> None:
        self.events.write(event)
        if not self._batching:
            self.events.flush()

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Events recorded within (a chunk of a step's output) are flushed once, at its end."""
        self._batching = True
        try:
            yield
        finally:
            self._batching = False
            self.events.flush()

    def child(self, proc: subprocess.Popen[bytes] | None) -> None:
        self._child = proc

    def on_signal(self, signum: int, _frame: Any) -> None:
        self.cancel_requested = True
        self.cancel_event.set()

    def cancelling(self) -> bool:
        """Whether the run is to stop now: a cancel was asked for, or (a sweep's branch) the sweep's supervisor
        is gone. The first time, the state says it has been taken up: the canceller waits for the close."""
        if not self.cancel_requested and self.orphaned():
            self.cancel_reason = ("failed", "its sweep's supervisor is gone")
            self.cancel_requested = True
            self.cancel_event.set()
        if self.cancel_requested and not self.state.cancel_requested:
            self.state.cancel_requested = True
            self.save()
        return self.cancel_requested

    def orphaned(self) -> bool:
        """A sweep's branch running here whose sweep's supervisor has died (its lock is free): the branch
        ends with it, like a step with its supervisor. A branch's job in Azure ML goes on, like any job."""
        now = time.monotonic()
        if not self.state.branch or now - self._sweep_checked < SWEEP_CHECK_S or self.state.remote_step():
            return False
        self._sweep_checked = now
        return poller_lock_free(self.run_dir.parent.parent)

    def pause(self, seconds: float) -> None:  # a wait that a cancel cuts short
        end = time.monotonic() + seconds
        while not self.cancelling() and (left := end - time.monotonic()) > 0:
            time.sleep(min(0.1, left))

    # -- the run -----------------------------------------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        if not stepproc.take_poller_lock(self.run_dir):
            return answer(0, busy=True)  # another poller follows this run's jobs
        stepproc.reserve(self.run_dir)
        self.state.supervisor_pid = os.getpid()
        self.state.warden_pid = os.getppid()
        if self.state.branch and CUDA_ENV in os.environ:  # the slot a local sweep gave this branch
            self.state.devices = os.environ[CUDA_ENV]
        resuming = self.state.status == "running"
        self.state.status = "running"
        self.state.started_at = self.state.started_at or time.time()
        self.save()  # a stopped poller's note stays until this one reaches the job (engine.runs.remote)
        answer(0, started=os.getpid())  # the starter returns: the run is ours
        log_to_run(self.run_dir)
        if not resuming:
            self.event(ev.RunStarted(steps=[s.name for s in self.state.steps]))
        status: RunStatus = "done"
        reason: str | None = None
        try:
            self.replan()
            if self.state.branch:  # a sweep's branch: its data and quantized model are the sweep's
                self.after_prepare()
            for step in self.state.steps:
                if step.status in FINISHED_STEP:  # done before this supervisor took the run over
                    self.restore(step)
                    continue
                if self.cancelling() and not (step.remote and step.remote.job_name):  # a job: cancel it
                    raise Cancelled
                self.run_step(step)
            if self.state.sweep is not None:
                status, reason = run_branches(self)
        except PollerStopped as exc:  # the job goes on in Azure; the next olive-lab command resumes polling
            self.state.poller_gone = str(exc)
            self.save()
            self.event(ev.Warning_(message=f"polling stopped: {exc}"))
            return 3
        except Cancelled:
            status, reason = self.cancel_reason
        except StepFailed as exc:
            status, reason = "failed", str(exc)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                status, reason = "failed", f"olive-lab supervisor error: {type(exc).__name__}: {exc}"
                traceback.print_exc()
            else:
                status, reason = "failed", stepproc.no_space_reason(exc, self.run_dir)
        except Exception as exc:  # the supervisor itself broke: say so in the state, keep the traceback
            status, reason = "failed", f"olive-lab supervisor error: {type(exc).__name__}: {exc}"
            traceback.print_exc()
        return self.finish(status, reason)

    def finish(self, status: RunStatus, reason: str | None) -> int:
        if self._child is not None and self._child.poll() is None:  # we broke while a step ran: it goes too
            stop_tree(self._child.pid, group=True, reap=self._child.poll)
        now = time.time()
        close_steps(self.state, status, reason, now)
        self.state.status = status
        self.state.reason = reason
        self.state.ended_at = now
        try:
            self.save()
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            stepproc.free_reserve(self.run_dir)  # room for the last, small state file
            self.state.reason = reason if status == "failed" and reason else stepproc.no_space_reason(exc, self.run_dir)
            self.state.status = "failed"
            self.save()
        stepproc.free_reserve(self.run_dir)
        try:
            self.event(ev.RunFinished(status=status, reason=reason))
        except OSError:
            pass
        return 0 if status == "done" else 1

    def run_step(self, step: StepState) -> None:
        name = step.name
        item = self.plan.step(name)
        if item.off:
            step.status = "skipped"
            step.reason = item.off
            self.keys[name] = self.keys[item.reuse.input]
            self.save()
            return
        paths = item.paths
        step.output = paths.output
        step.command = item.command
        if name == "prepare":
            run_local(self, step, paths, item.env)
            self.after_prepare()
            return
        if (source := item.reuse.input) not in self.keys:  # a run starting here (upload)
            self.keys[source] = fingerprint_model(paths.input_model)
        step.key = self.compute_key(name)
        if self.forced and name not in self.forced and STEP_NAMES.index(name) > STEP_NAMES.index(self.forced[-1]):
            step.status = "skipped"
            step.reason = "not among the chosen steps"
            self.save()
            return
        if step.remote is not None and step.remote.job_name:  # a resumed poller: the job is already there
            return run_remote(self, step, item)
        if name not in self.forced:
            found = find_reusable(self.lab.runs, name, step.key, exclude=self.run_dir.name)
            if found:
                self.reuse(step, *found)
                return
        if self.forced and name not in self.forced:
            step.status = "failed"
            step.reason = "no reusable output for these settings and data"
            self.save()
            raise StepFailed(
                f"{name} is needed by the steps you chose, but no earlier run finished it with these settings "
                f"and data; run it too (--from {name})"
            )
        if item.job is not None:
            return run_remote(self, step, item)
        if name == "finetune":
            step.checkpoint_key = step.key  # its checkpoints serve a later run with the same key
            if self.state.resume:
                paths = self.resume_finetune(step, paths)
        run_local(self, step, paths, item.env)

    def resume_finetune(self, step: StepState, paths: StepPaths) -> StepPaths:
        """Start the fine-tune from the last checkpoint of a stopped run with the same key: the checkpoint is
        hard-linked into this run, the command names it, the step's key says what it resumed from."""
        found = find_checkpoint(self.lab.runs, step.key or "", exclude=self.run_dir.name)
        item = self.plan.step(step.name)
        if found is None or not paths.checkpoints or not self.config.finetune.keep_checkpoints:
            self.event(ev.Warning_(step=step.name, message=(
                "nothing to resume: no stopped fine-tune with these settings, data and input model left a "
                "checkpoint; training starts at step 0")))  # fmt: skip
            return paths
        from_run, checkpoint = found
        mine = Path(paths.checkpoints) / checkpoint.name
        link_tree(checkpoint, mine)
        step.resumed_from = f"{from_run}/{checkpoint.name}"
        step.key = self.compute_key(step.name, resumed_from=step.resumed_from)
        paths = item.paths = replace(paths, resume_from=str(mine))
        step.command = item.argv = step_argv(step.name, self.config, paths, has_eval=self.has_eval is not False)
        done = checkpoint_step(checkpoint.name)
        self.loss_lines[step.name] = done // self.config.finetune.logging_steps  # the chart goes on from there
        with open(step_log_path(self.run_dir, step.name), "a", encoding="utf-8") as log:
            line = f"Resuming from {checkpoint.name} of run {from_run} (step {done}; key {step.key}): {mine}"
            log.write(stamped(line, origin="supervisor.py:0:resume") + "\n")
        self.save()
        return paths

    def restore(self, step: StepState) -> None:
        """What a finished step left for the next ones (a resumed poller takes the run over midway)."""
        if step.name == "prepare":
            self.after_prepare()
        elif step.status == "skipped" and not spec(step.name).enabled(self.config):
            self.keys[step.name] = self.keys[self.plan.step(step.name).reuse.input]
        elif step.key:
            self.keys[step.name] = step.key

    def after_prepare(self) -> None:
        data = self.run_dir / "data"
        self.has_eval = (data / "validation.jsonl").stat().st_size > 0
        self.keys["data_train"] = file_digest(data / "train.jsonl")
        self.keys["data_all"] = self.keys["data_train"] + ":" + file_digest(data / "validation.jsonl")
        self.keys["model"] = fingerprint_model(self.model_dir)
        self.replan()  # with what the split holds

    def compute_key(self, name: str, resumed_from: str | None = None) -> str:
        recipe = self.plan.step(name).reuse
        data_key = {"train": self.keys.get("data_train"), "all": self.keys.get("data_all"), "none": None}[recipe.data]
        settings = recipe.settings | ({"resumed_from": resumed_from} if resumed_from else {})
        key = step_key(name, settings, input_key=self.keys[recipe.input], data_key=data_key)
        self.keys[name] = key
        return key

    def reuse(self, step: StepState, from_run: str, output: Path) -> None:
        step.status, step.started_at = "running", time.time()
        self.save()
        reuse_output(self.run_dir, step, from_run, output)
        step.status, step.reused_from, step.ended_at = "reused", from_run, time.time()
        self.save()
        self.event(ev.Reused(step=step.name, from_run=from_run))
        self.event(ev.StepFinished(step=step.name, status="reused", duration_s=step.duration_s))

    # -- running one step ----------------------------------------------------------------------------
    def conclude(self, step: StepState, paths: StepPaths, parser: LogParser, rc: int, why: str | None = None) -> None:
        """The verdict on a step that ended (here or as a job): judged on its outputs and its log, not its exit."""
        step_dir = self.run_dir / step.name
        missing = judge_output(step.name, self.config, Path(paths.output))  # the table's conclusion rule
        if missing is None and not parser.no_output and rc == 0:
            if (finish := spec(step.name).finish) is not None:
                finish(self.config, paths)
            step.status = "done"
            shutil.rmtree(step_dir / ".olive-cache", ignore_errors=True)  # copies of the models; ours are kept
            self.save()
            self.event(ev.StepFinished(step=step.name, status="done", duration_s=step.duration_s))
            return
        reason = why or parser.reason or (f"exited with status {rc}" if rc else None) or missing or "no output"
        if rc == 0 and (parser.no_output or missing):
            reason += " (Olive exited 0 anyway)"
        step.status = "failed"
        step.reason = reason
        if step.name != "prepare":
            stepproc.mark_partial(step_dir)
        self.save()
        self.event(ev.ErrorEvent(step=step.name, reason=reason))
        self.event(ev.StepFinished(step=step.name, status="failed", reason=reason, duration_s=step.duration_s))
        raise StepFailed(f"{step.name} failed: {reason}")

    def handle(self, step: StepState, parsed: ParsedEvent) -> None:
        found = stepproc.to_event(step, parsed, self.loss_lines, self.config.finetune.logging_steps)
        if found is not None:
            self.event(found)


def _take_over(run_dir: Path, secrets: dict[str, dict[str, str]] | None) -> int:
    try:
        supervisor = Supervisor(run_dir, secrets)
    except RunFileError as exc:  # its state was damaged before it could take the run over
        print(f"cannot take the run over: {exc.message}", file=sys.stderr, flush=True)
        return 1
    return supervisor.run()


def main(argv: list[str] | None = None) -> int:
    return supervisor_main(argv, _take_over, detach)


if __name__ == "__main__":
    sys.exit(main())
