"""The detached supervisor of one run: runs the steps in order and writes the run folder.

Started by `engine.runs.control.start_run` as `python -m engine.runs.supervisor --daemonize RUN_DIR`: it forks, the
child leaves the terminal's session (so neither the app closing nor a dropped SSH link stops it), and from
then on it is the only writer of `state.json`. SIGTERM or SIGINT cancel the run: the running step's whole
process tree is interrupted, terminated, then killed.
"""

from __future__ import annotations

import argparse
import codecs
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from engine.config import STEP_NAMES as STEP_ORDER
from engine.config import LabConfig
from engine.paths import PROJECT_ROOT, LabPaths
from engine.runs.reuse import expected_outputs, find_reusable, fingerprint_model, link_tree, step_key
from engine.runs.state import (
    EventWriter,
    Progress,
    RunState,
    StepState,
    read_state,
    step_log_path,
    write_state,
)
from engine.steps.commands import StepPaths, step_argv, step_paths
from engine.steps.logparse import LogParser, ParsedEvent

STATE_EVERY_S = 0.5
PROGRESS_EVERY_S = 0.5
GPU_EVERY_S = 1.0
READ_SIZE = 1 << 20
POLL_S = 0.01  # while the step prints; backs off to POLL_IDLE_S when it is quiet
POLL_IDLE_S = 0.2


class Cancelled(Exception):
    pass


class StepFailed(Exception):
    pass


class Supervisor:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.state: RunState = read_state(run_dir)
        self.lab = LabPaths.at(self.state.lab)
        settings = {k: v for k, v in self.state.settings.items() if not k.startswith("_")}
        self.config = LabConfig.model_validate(settings)
        self.forced: list[str] = list(self.state.settings.get("_forced_steps") or [])
        self.cancel_requested = False
        self.proc: subprocess.Popen[bytes] | None = None
        self._last_state_write = 0.0
        self.keys: dict[str, str] = {}
        self.model_dir: str = self.config.model
        self.has_eval = True
        self.loss_lines: dict[str, int] = {}
        self.events = EventWriter(run_dir)
        self._batching = False  # while pumping a step's output, events are flushed once per chunk

    # -- bookkeeping -----------------------------------------------------------------------------
    def save(self, force: bool = True) -> None:
        now = time.time()
        if force or now - self._last_state_write >= STATE_EVERY_S:
            write_state(self.run_dir, self.state)
            self._last_state_write = now

    def event(self, kind: str, **fields: Any) -> None:
        self.events.write(kind, **fields)
        if not self._batching:
            self.events.flush()

    def on_signal(self, signum: int, _frame: Any) -> None:
        self.cancel_requested = True

    # -- the run -----------------------------------------------------------------------------------
    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        self.state.supervisor_pid = os.getpid()
        self.state.status = "running"
        self.state.started_at = time.time()
        self.save()
        self.event("run_started", steps=[s.name for s in self.state.steps])
        status, reason = "done", None
        try:
            for step in self.state.steps:
                if self.cancel_requested:
                    raise Cancelled
                self.run_step(step)
        except Cancelled:
            status, reason = "cancelled", "cancelled by the user"
        except StepFailed as exc:
            status, reason = "failed", str(exc)
        except Exception as exc:  # the supervisor itself broke: say so in the state, keep the traceback
            status, reason = "failed", f"olive-lab supervisor error: {type(exc).__name__}: {exc}"
            traceback.print_exc()
        for step in self.state.steps:
            if step.status == "pending":
                step.status = "cancelled" if status == "cancelled" else "skipped"
        self.state.status = status  # type: ignore[assignment]
        self.state.reason = reason
        self.state.ended_at = time.time()
        self.save()
        self.event("run_finished", status=status, reason=reason)
        return 0 if status == "done" else 1

    def run_step(self, step: StepState) -> None:
        if step.name == "prepare":
            self.prepare(step)
            return
        if step.name == "quantize" and not self.config.quantize.enabled:
            step.status = "skipped"
            step.reason = "quantize is turned off"
            self.keys["quantize"] = self.keys["model"]
            self.save()
            return
        paths = self.step_paths(step.name)
        key = self.compute_key(step.name)
        step.key = key
        step.output = paths.output
        step.command = step_argv(step.name, self.config, paths, has_eval=self.has_eval)
        if (
            self.forced
            and step.name not in self.forced
            and STEP_ORDER.index(step.name) > STEP_ORDER.index(self.forced[-1])
        ):
            step.status = "skipped"
            step.reason = "not among the chosen steps"
            self.save()
            return
        if step.name not in self.forced:
            found = find_reusable(self.lab.runs, step.name, key, exclude=self.run_dir.name)
            if found:
                self.reuse(step, *found)
                return
        if self.forced and step.name not in self.forced:
            step.status = "failed"
            step.reason = "no reusable output for these settings and data"
            self.save()
            raise StepFailed(
                f"{step.name} is needed by the steps you chose, but no earlier run finished it with these settings "
                f"and data; run it too (--from {step.name})"
            )
        self.execute(step, paths)

    # -- prepare: the data split and the demo model ------------------------------------------------
    def prepare(self, step: StepState) -> None:
        from engine.data.records import DatasetError, write_split

        step.status = "running"
        step.started_at = time.time()
        self.save()
        self.event("step_started", step="prepare", command=[])
        log_path = step_log_path(self.run_dir, "prepare")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "a", encoding="utf-8") as log:

            def say(message: str) -> None:
                log.write(
                    f"[{time.strftime('%Y-%m-%d %H:%M:%S')},000] [INFO] [supervisor.py:0:prepare] {message}\n"
                )
                log.flush()

            ds = self.config.dataset
            data_path = Path(ds.path)
            if not data_path.is_absolute():
                data_path = self.lab.root / data_path
            try:
                split = write_split(
                    data_path,
                    ds.prompt_field,
                    ds.response_field,
                    ds.eval_share,
                    ds.split_seed,
                    self.run_dir / "data",
                )
            except (DatasetError, OSError) as exc:
                say(f"ERROR {exc}")
                step.status, step.reason, step.ended_at = "failed", str(exc), time.time()
                self.save()
                self.event(
                    "step_finished",
                    step="prepare",
                    status="failed",
                    reason=step.reason,
                    duration_s=step.duration_s,
                )
                raise StepFailed(f"prepare failed: {exc}") from None
            self.has_eval = split.validation_records > 0
            say(
                f"Data: {split.train_records} training and {split.validation_records} held-back evaluation records from {data_path}"
            )
            from engine.runs.reuse import file_digest

            self.keys["data_train"] = file_digest(self.run_dir / "data" / "train.jsonl")
            self.keys["data_all"] = (
                self.keys["data_train"] + ":" + file_digest(self.run_dir / "data" / "validation.jsonl")
            )
            if self.config.model == "demo":
                from engine.steps.awq_quantize import calibration_texts
                from engine.steps.demo_model import ensure_demo_model

                # Built from the training split only: the held-back records stay unseen.
                texts = calibration_texts(
                    self.run_dir / "data" / "train.jsonl",
                    self.config.finetune.text_template,
                    [ds.prompt_field, ds.response_field],
                    10**9,
                )
                self.model_dir = str(ensure_demo_model(self.lab.models, texts, log=say))
            else:
                self.model_dir = self.config.model
            self.keys["model"] = fingerprint_model(self.model_dir)
            say(f"Base model: {self.model_dir}")
            say("Saved output model to " + str(self.run_dir / "data"))
        step.status = "done"
        step.ended_at = time.time()
        step.output = str(self.run_dir / "data")
        self.save()
        self.event("step_finished", step="prepare", status="done", reason=None, duration_s=step.duration_s)

    # -- keys and paths ------------------------------------------------------------------------------
    def step_paths(self, name: str) -> StepPaths:
        return step_paths(name, self.config, run=str(self.run_dir), model=self.model_dir)

    def compute_key(self, name: str) -> str:
        cfg = self.config
        ds = {"prompt_field": cfg.dataset.prompt_field, "response_field": cfg.dataset.response_field}
        if name == "quantize":
            settings = {
                **cfg.quantize.model_dump(exclude={"python", "env"}),
                "template": cfg.finetune.text_template,
                **ds,
            }
            key = step_key(name, settings, input_key=self.keys["model"], data_key=self.keys["data_train"])
        elif name == "finetune":
            settings = cfg.finetune.model_dump(exclude={"olive", "env"}) | ds
            key = step_key(name, settings, input_key=self.keys["quantize"], data_key=self.keys["data_all"])
        else:
            settings = cfg.optimize.model_dump(exclude={"olive", "env"})
            key = step_key(name, settings, input_key=self.keys["finetune"], data_key=None)
        self.keys[name] = key
        return key

    # -- reuse ---------------------------------------------------------------------------------------
    def reuse(self, step: StepState, from_run: str, output: Path) -> None:
        step.status = "running"
        step.started_at = time.time()
        self.save()
        dest = self.run_dir / step.name / "output"
        dest.parent.mkdir(parents=True, exist_ok=True)
        link_tree(output, dest)
        log_path = step_log_path(self.run_dir, step.name)
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(
                f"[{time.strftime('%Y-%m-%d %H:%M:%S')},000] [INFO] [supervisor.py:0:reuse] Reused the output of run "
                f"{from_run} (same settings, data and input model; key {step.key}): {dest}\n"
            )
        step.status = "reused"
        step.reused_from = from_run
        step.ended_at = time.time()
        self.save()
        self.event("reused", step=step.name, from_run=from_run)
        self.event("step_finished", step=step.name, status="reused", reason=None, duration_s=step.duration_s)

    # -- running one step ----------------------------------------------------------------------------
    def execute(self, step: StepState, paths: StepPaths) -> None:
        step_dir = self.run_dir / step.name
        step_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(paths.output, ignore_errors=True)
        env = dict(os.environ)
        env.update(
            PYTHONUNBUFFERED="1",
            OLIVE_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_TELEMETRY="1",
            PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
        )
        if self.config.model == "demo":
            env.setdefault("HF_HUB_OFFLINE", "1")
        env.update(getattr(self.config, step.name).env)  # the step's own variables ([<step>.env] in lab.toml)
        log_path = step_log_path(self.run_dir, step.name)
        parser = LogParser()
        meter = _gpu_meter(lambda: [p for p in [step.pid] if p], self.lab.root)
        step.status = "running"
        step.started_at = time.time()
        step.last_output_at = step.started_at
        # The step writes straight into its log file: nothing it prints waits on us, and the log survives
        # even if the supervisor dies. We follow the file to parse it.
        with open(log_path, "ab", buffering=0) as log:
            log.write(f"$ {shlex.join(step.command)}\n".encode())
            try:
                self.proc = subprocess.Popen(
                    step.command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    cwd=str(step_dir),
                    env=env,
                    start_new_session=True,
                )
            except OSError as exc:
                step.status = "failed"
                step.reason = f"could not start {step.command[0]}: {exc.strerror}"
                step.ended_at = time.time()
                self.save()
                self.event("step_finished", step=step.name, status="failed", reason=step.reason, duration_s=0)
                raise StepFailed(f"{step.name}: {step.reason}") from None
        step.pid = self.proc.pid
        self.save()
        self.event("step_started", step=step.name, command=step.command, pid=step.pid)
        with open(log_path, "rb") as reader:
            reader.readline()  # the command line we wrote
            cancelled = self.pump(step, parser, reader, meter)
        rc = self.proc.wait()
        self.proc = None
        for ev in parser.finish():
            self.handle(step, ev)
        step.exit_code = rc
        step.ended_at = time.time()
        step.progress = _progress(parser) or step.progress
        if meter is not None:
            step.gpu = step.gpu.model_validate(meter.summary())
        if cancelled:
            step.status = "cancelled"
            step.reason = "cancelled by the user"
            self.save()
            self.event(
                "step_finished",
                step=step.name,
                status="cancelled",
                reason=step.reason,
                duration_s=step.duration_s,
            )
            raise Cancelled
        missing = expected_outputs(step.name, Path(paths.output))
        if missing is None and not parser.no_output and rc == 0:
            if step.name == "optimize":
                self.name_adapter(Path(paths.output))
            step.status = "done"
            shutil.rmtree(
                step_dir / ".olive-cache", ignore_errors=True
            )  # copies of the models; ours are kept
            self.save()
            self.event(
                "step_finished", step=step.name, status="done", reason=None, duration_s=step.duration_s
            )
            return
        reason = parser.reason or (f"exited with status {rc}" if rc else None) or missing or "no output"
        if rc == 0 and (parser.no_output or missing):
            reason += " (Olive exited 0 anyway)"
        step.status = "failed"
        step.reason = reason
        self.save()
        self.event("error", step=step.name, reason=reason)
        self.event(
            "step_finished", step=step.name, status="failed", reason=reason, duration_s=step.duration_s
        )
        raise StepFailed(f"{step.name} failed: {reason}")

    def name_adapter(self, output: Path) -> None:
        """Name the adapter file after the data it learned, as the lab does ("travel"), not Olive's default."""
        olive_name = output / "adapter_weights.onnx_adapter"
        stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(self.config.dataset.path).stem).strip("-") or "adapter"
        target = output / f"{stem}.onnx_adapter"
        if olive_name.exists() and not target.exists():
            os.replace(olive_name, target)

    def pump(self, step: StepState, parser: LogParser, reader: Any, meter: Any) -> bool:
        """Parse the step's log as it grows until the step exits. True when cancelled."""
        assert self.proc is not None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        last_progress_event = 0.0
        progress_serial = 0
        last_gpu = 0.0
        exited = False
        pause = POLL_S
        while True:
            if self.cancel_requested:
                from engine.runs.proctree import stop_tree

                stop_tree(self.proc.pid, group=True, reap=self.proc.poll)
                return True
            data = reader.read(READ_SIZE)
            now = time.time()
            pause = POLL_S if data else min(POLL_IDLE_S, pause * 2)
            if data:
                step.last_output_at = now
                self._batching = True
                for ev in parser.feed(decoder.decode(data)):
                    self.handle(step, ev)
                self._batching = False
                self.events.flush()
                step.log_lines = parser.lines
            elif exited:
                return False
            else:
                exited = self.proc.poll() is not None  # read once more after the exit, then stop
                if not exited:
                    time.sleep(pause)
            if parser.progress_serial != progress_serial and now - last_progress_event >= PROGRESS_EVERY_S:
                progress_serial = parser.progress_serial
                last_progress_event = now
                step.progress = _progress(parser)
                assert step.progress is not None
                self.event("progress", step=step.name, **step.progress.model_dump())
            if meter is not None and now - last_gpu >= GPU_EVERY_S:
                last_gpu = now
                self.watch_resources(step, meter)
            self.save(force=False)

    def watch_resources(self, step: StepState, meter: Any) -> None:
        """Sample the GPUs and host for the step's figures, and warn once about trouble ahead."""
        try:
            from engine.gpu.meter import warnings

            sample = meter.sample()
            step.gpu = step.gpu.model_validate(meter.summary())  # live figures: the monitor shows them
            found = warnings(sample, self.lab.root)
        except Exception:  # monitoring must never stop a run
            return
        for message in found:
            if message not in self.state.warnings:
                self.state.warnings.append(message)
                self.event("warning", step=step.name, message=message)

    def handle(self, step: StepState, ev: ParsedEvent) -> None:
        data = ev.data
        if ev.kind == "pass_started":
            step.current_pass = f"{data['pass_name']}:{data['pass_type']}"
        elif ev.kind == "pass_finished":
            step.current_pass = None
        elif ev.kind == "loss":
            step.last_loss = data.get("loss")
            n_loss = self.loss_lines[step.name] = self.loss_lines.get(step.name, 0) + 1
            self.event("loss", step=step.name, train_step=n_loss * self.config.finetune.logging_steps, **data)
            return
        elif ev.kind == "eval_loss":
            step.last_eval_loss = data.get("eval_loss")
            n_loss = self.loss_lines.get(step.name, 0)
            self.event(
                "eval_loss", step=step.name, train_step=n_loss * self.config.finetune.logging_steps, **data
            )
            return
        elif ev.kind == "error":
            self.event("warning", step=step.name, message=data.get("message"))
            return
        self.event(ev.kind, step=step.name, **data)


def _progress(parser: LogParser) -> Progress | None:
    p = parser.progress
    if p is None:
        return None
    return Progress(n=p.n, total=p.total, rate=p.rate, eta_s=p.eta_s, desc=p.desc)


def _gpu_meter(pids, lab_dir: Path):
    """The step's GPU meter (peak VRAM, utilisation, energy); it also watches host RAM and disk."""
    try:
        from engine.gpu.meter import StepGpuMeter

        return StepGpuMeter(pids, lab_dir)
    except Exception:  # monitoring must never stop a run
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="engine.runs.supervisor")
    parser.add_argument("--daemonize", action="store_true")
    parser.add_argument("run_dir")
    args = parser.parse_args(argv)
    run_dir = Path(args.run_dir).resolve()
    if args.daemonize:
        if os.fork() > 0:
            os._exit(0)  # the launcher returns at once; the child carries on alone
        os.setsid()
    return Supervisor(run_dir).run()


if __name__ == "__main__":
    sys.exit(main())
