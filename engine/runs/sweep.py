"""A sweep: one run folder holding N branches, each a finetune with one setting changed, followed by its
optimize. The sweep's own steps (prepare, quantize) run once; each branch is a run folder of its own under
`branches/<label>/` (state, events, step logs, outputs: the monitor and `runs show` read it like any run),
whose data and quantized model are hard links to the sweep's. Branches on Azure ML compute run in parallel,
each its own job and poller; on this machine they run side by side, one per GPU (or per slot,
engine.runs.placement), the rest waiting their turn. When all have ended, each finished
branch answers the golden check and the sweep is compared side by side (`compare_branches`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.config import LabConfig
from engine.durations import format_duration
from engine.runs import events as ev
from engine.runs.host import StepHost
from engine.runs.proctree import stop_tree
from engine.runs.state import (
    ENDED_RUN,
    FINISHED_JOB,
    STATE_FILE,
    SUCCEEDED_STEP,
    SWEPT,
    RunState,
    RunStatus,
    Sweep,
    branch_dir,
    effective_status,
    read_state,
    shared_steps,
    supervisor_alive,
)
from engine.runs.sweep_rank import RANKED_STAGE, rank_branches, ranking_lines
from engine.steps.evaluation import run_evaluation
from engine.steps.grid import SweepError, branch_steps, plan_grid, with_values

if TYPE_CHECKING:
    from engine.runs.launch import StartRequest


def plan_sweep(config: LabConfig, texts: str | list[str], golden_limit: int = 8) -> Sweep:
    """The sweep of `--set` options (engine.steps.grid: each value read and checked once)."""
    grid = plan_grid(config, [texts] if isinstance(texts, str) else texts)
    return Sweep(setting=",".join(grid[0].values), values=[b.text for b in grid], branches=[b.label for b in grid],
                 golden_limit=golden_limit, grid=grid)  # fmt: skip


def branch_configs(config: LabConfig, sweep: Sweep) -> list[tuple[str, LabConfig]]:
    """Each branch's settings: the lab's, with the swept settings at the branch's (typed) values."""
    return [(branch.label, with_values(config, branch.values)) for branch in sweep.grid]


def pick_branch(run_dir: Path, label: str | None) -> Path:
    """The run folder of one branch of a sweep (or `run_dir` itself for a run that is not a sweep)."""
    sweep = read_state(run_dir).sweep
    if sweep is None:
        if label:
            raise SweepError(f"run {run_dir.name} is not a sweep: it has no branch {label!r}")
        return run_dir
    if label not in sweep.branches:
        raise SweepError(
            f"run {run_dir.name} is a sweep" + (f" with no branch {label!r}" if label else ""),
            "pick a branch with --branch: " + ", ".join(sweep.branches),
        )
    return branch_dir(run_dir, label)


def branch_request(sup: StepHost, label: str, config: LabConfig) -> StartRequest:
    """What a branch's supervisor makes its run folder from: its settings, the sweep's data and the outputs of
    the steps it shares (hard links, recorded as reused from the sweep), then the swept step and those after."""
    from engine.runs.launch import first_state

    assert sup.state.sweep is not None
    shared = shared_steps(sup.state.sweep.setting)
    steps = branch_steps(config)
    request = first_state(sup.lab, sup.state.id, config, [s for s in steps if s not in shared], steps)
    state = request.state
    state.branch = label  # the sweep's run (its id: job names, paths), this branch of it
    request.secrets = sup.secrets
    request.links.append((str(sup.run_dir / "data"), "data"))
    folder = branch_dir(sup.run_dir, label)
    for index, name in enumerate(steps):
        if name not in shared:
            continue
        step = sup.state.step(name)
        if step.status in SUCCEEDED_STEP:
            request.links.append((str(sup.run_dir / name / "output"), f"{name}/output"))
            state.steps[index] = step.model_copy(
                update={"status": "reused", "reused_from": sup.state.id, "output": str(folder / name / "output")}
            )
        else:  # the step is off (no quantize): the next one takes the model before it
            state.steps[index] = step.model_copy()
    return request


def _golden(sup: StepHost, folder: Path, limit: int) -> None:
    """The golden check of one finished branch, in a child process (it loads onnxruntime-genai); a cancel
    stops it at once, like a step."""
    from engine.runs.stepproc import Cancelled, die_with_parent

    ds = sup.config.dataset
    cmd = [sys.executable, "-m", "engine.steps.golden_check", "--lab", str(sup.lab.root),
           "--model", str(folder / "optimize" / "output"), "--data", str(folder / "data" / "validation.jsonl"),
           "--fields", f"{ds.prompt_field},{ds.response_field}", "--limit", str(limit),
           "--out", str(folder)]  # fmt: skip
    with open(folder / "golden.log", "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, preexec_fn=die_with_parent)  # fmt: skip
    while proc.poll() is None:
        if sup.cancelling():
            stop_tree(proc.pid, group=True, reap=proc.poll)
            raise Cancelled
        time.sleep(0.05)


def _cancel_branches(folders: dict[str, Path], running: list[str], asked: dict[str, float]) -> None:
    """Ask each running branch to cancel (once); kill a branch supervisor that does not answer in time (its
    waiting parent records the cancel), so the sweep closes within the cancel's promise."""
    from engine.runs.control import CANCEL_S, overdue, request_cancel

    now = time.monotonic()
    for label in running:
        state = read_state(folders[label])
        if label not in asked:
            request_cancel(state)
            asked[label] = now
        elif overdue(state, asked[label], now, CANCEL_S - 1.0) and state.supervisor_pid:
            with contextlib.suppress(OSError):
                os.kill(state.supervisor_pid, signal.SIGKILL)


def run_branches(sup: StepHost) -> tuple[RunStatus, str | None]:
    """Start the branches (all at once on Azure ML, one per free slot here), follow them to their end,
    score them. Returns the sweep's status and reason."""
    from engine.runs.launch import launch_supervisor
    from engine.runs.placement import SlotPool, slot_env, sweep_placement
    from engine.runs.stepproc import Cancelled, poller_lock_free
    from engine.steps.spec import remote_cluster

    plan = sup.state.sweep
    assert plan is not None
    configs = dict(branch_configs(sup.config, plan))
    folders = {label: branch_dir(sup.run_dir, label) for label in configs}
    parallel = any(remote_cluster(s, sup.config) for s in SWEPT)
    pending = [label for label in folders if not (folders[label] / STATE_FILE).exists()]  # made when started
    running = [label for label in folders if label not in pending and not read_state(folders[label]).finished]
    slots = None if parallel else SlotPool(sup.lab.slot_locks, sweep_placement(list(configs.values())))
    if slots is not None and pending:
        sup.event(ev.BranchesPlaced(note=f"{len(pending)} to run, {slots.placement.note}"))
    asked: dict[str, float] = {}
    on_slot: dict[str, int] = {}  # branch -> the slot it was started on
    while pending or running:
        if sup.cancelling():
            pending = []
            _cancel_branches(folders, running, asked)
        for label in list(running):  # the ended ones first: their slots are free for the next
            state = read_state(folders[label])
            if state.finished:
                running.remove(label)
                sup.event(ev.BranchEvent(branch=label, status=state.status, reason=state.reason))
            elif state.supervisor_pid and not supervisor_alive(state):
                if state.remote_step() is not None and poller_lock_free(folders[label]) and not sup.cancel_requested:
                    launch_supervisor(sup.lab, folders[label])  # its job goes on: poll it again
                elif state.remote_step() is None:
                    running.remove(label)
                    sup.event(ev.BranchEvent(branch=label, status="failed", reason="its supervisor is gone"))
        while pending and not sup.cancelling():
            busy = {on_slot[label] for label in running if label in on_slot}
            taken = slots.take(busy) if slots is not None else None  # a slot: its GPUs, its lock held by the branch
            if slots is not None and taken is None:
                break  # every slot is busy: the rest wait their turn
            label = pending.pop(0)
            slot, lock_fd = taken if taken else (None, None)
            devices = slot.devices if slot else None
            try:
                launch_supervisor(sup.lab, folders[label], branch_request(sup, label, configs[label]),
                                  extra_env=slot_env(slot), lock_fd=lock_fd)  # fmt: skip
            finally:
                if lock_fd is not None:
                    os.close(lock_fd)
            running.append(label)
            if slot is not None:
                on_slot[label] = slot.index
            on = f"{slot.where} (CUDA_VISIBLE_DEVICES={devices})" if slot and devices is not None else None
            sup.event(ev.BranchEvent(branch=label, status="running", devices=devices, on=on))
        sup.save(force=False)
        time.sleep(0.05) if sup.cancel_requested else sup.pause(0.5)
    if sup.cancelling():
        raise Cancelled
    ended = {label: read_state(folders[label]) for label in folders}
    for label, state in ended.items():
        if state.status == "done" and plan.golden_limit > 0:
            _golden(sup, folders[label], plan.golden_limit)
    failed = [f"{label}: {state.reason or state.status}" for label, state in ended.items() if state.status != "done"]
    if failed:
        return "failed", f"{len(failed)} of {len(ended)} branches did not finish ({'; '.join(failed)})"
    return "done", None


@dataclass
class BranchRow:
    """One branch in the side-by-side comparison."""

    label: str
    value: str
    status: str
    reason: str | None = None
    final_loss: float | None = None
    eval_loss: float | None = None
    golden: float | None = None  # the adapter's mean ROUGE-L on the held-back examples
    golden_gain: float | None = None  # ... minus the base model's
    duration_s: float | None = None
    node_minutes: float | None = None  # Azure ML compute used (nodes x minutes of its jobs)
    losses: list[tuple[float, float]] = field(default_factory=list)
    eval_losses: list[tuple[float, float]] = field(default_factory=list)
    devices: str | None = None  # the CUDA_VISIBLE_DEVICES a local branch ran with
    gpu_minutes: float | None = None  # this machine's GPUs used (GPUs x minutes of its steps that ran)
    held_out_loss: float | None = None  # the evaluate step's loss of the shipped model (sweep_rank.RANKED_STAGE)
    held_out_record_losses: list[float] = field(default_factory=list)  # ... per held-out record, in order
    rouge_l: float | None = None  # the same stage's ROUGE-L on the held-out split
    learning_rates: list[tuple[float, float]] = field(default_factory=list)
    grad_norms: list[tuple[float, float]] = field(default_factory=list)
    now: str = ""  # the running step and its progress ("finetune 12/20")


def node_minutes(state: RunState) -> float | None:
    total = None
    for step in state.steps:
        job = step.remote
        if job is not None and job.running_at and job.status in FINISHED_JOB:
            total = (total or 0.0) + job.nodes * (job.status_since - job.running_at) / 60  # running, not queued
    return total


def gpu_minutes(state: RunState) -> float | None:
    """GPUs of a local branch x the minutes its steps ran on them (reused and remote steps cost none)."""
    if not state.devices:
        return None
    gpus = len([d for d in state.devices.split(",") if d.strip()])
    ran = [s for s in state.steps if s.remote is None and s.status not in ("reused", "skipped", "pending")]
    return gpus * sum(s.duration_s or 0.0 for s in ran) / 60


def compare_branches(run_dir: Path) -> list[BranchRow]:
    from engine.chat.golden import load_golden
    from engine.runs.report import summarize_run

    state = read_state(run_dir)
    if state.sweep is None:
        raise SweepError(f"run {state.id} is not a sweep")
    rows = []
    ended = effective_status(state) in ENDED_RUN
    for label, value in zip(state.sweep.branches, state.sweep.values, strict=True):
        folder = branch_dir(run_dir, label)
        if not (folder / STATE_FILE).exists():  # never started: it waits, or (the sweep ended) never will run
            rows.append(BranchRow(label, value, "skipped" if ended else "pending", "not run" if ended else None))
            continue
        summary = summarize_run(folder)
        golden = load_golden(folder)
        evaluation = run_evaluation(folder)
        held_out = evaluation.stage(RANKED_STAGE) if evaluation is not None else None
        if held_out is not None and (held_out.error or held_out.loss is None):
            held_out = None
        rows.append(BranchRow(
            label, value, effective_status(summary.state), summary.state.reason, summary.final_loss,
            summary.final_eval_loss, golden.adapter_mean if golden else None,
            golden.adapter_mean - golden.base_mean if golden else None, summary.state.duration_s,
            node_minutes(summary.state), list(summary.digest.losses), list(summary.digest.eval_losses),
            devices=summary.state.devices, gpu_minutes=gpu_minutes(summary.state),
            held_out_loss=held_out.loss if held_out else None,
            held_out_record_losses=list(held_out.record_losses) if held_out else [],
            rouge_l=held_out.rouge_l if held_out else None,
            learning_rates=list(summary.digest.learning_rates), grad_norms=list(summary.digest.grad_norms),
            now=_running_now(summary.state),
        ))  # fmt: skip
    return rows


def _running_now(state: RunState) -> str:
    step = next((s for s in state.steps if s.status == "running"), None)
    if step is None:
        return ""
    p = step.progress
    return step.name + (f" {p.n}/{p.total}" if p and p.total else "")


def fmt_num(value: float | None, fmt: str = "{:.4f}") -> str:
    """A measure as the sweep tables show it: `-` when there is none."""
    return "-" if value is None else fmt.format(value)


def sweep_table(setting: str, rows: list[BranchRow]) -> str:
    """The comparison as text: one line per branch, the best of each measure marked."""

    best_held = min((r.held_out_loss for r in rows if r.held_out_loss is not None), default=None)
    best_eval = min((r.eval_loss for r in rows if r.eval_loss is not None), default=None)
    best_golden = max((r.golden for r in rows if r.golden is not None), default=None)
    width = max(22, len(setting), *(len(r.value) for r in rows))  # a grid's setting and values are longer
    head = (
        f"{setting:<{width}} {'status':<10} {'loss':>8} {'eval loss':>10} {'held-out':>9} {'golden':>8} "
        f"{'gain':>7} {'time':>8} {'node-min':>9} {'GPU-min':>8} {'GPUs':>5}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        mark_e = "*" if r.eval_loss is not None and r.eval_loss == best_eval else " "
        mark_h = "*" if r.held_out_loss is not None and r.held_out_loss == best_held else " "
        mark_g = "*" if r.golden is not None and r.golden == best_golden else " "
        lines.append(
            f"{r.value:<{width}} {r.status:<10} {fmt_num(r.final_loss):>8} {fmt_num(r.eval_loss):>9}{mark_e} "
            f"{fmt_num(r.held_out_loss, '{:.3f}'):>8}{mark_h} {fmt_num(r.golden, '{:.3f}'):>7}{mark_g} "
            f"{fmt_num(r.golden_gain, '{:+.3f}'):>7} "
            f"{format_duration(r.duration_s) if r.duration_s is not None else '-':>8} "
            f"{fmt_num(r.node_minutes, '{:.2f}'):>9} {fmt_num(r.gpu_minutes, '{:.2f}'):>8} {r.devices or '-':>5}"
        )
        if r.reason and r.status != "done":
            lines.append(f"{'':<{width}} {r.reason}")
    lines.append(
        "* the best of each: lowest eval loss, lowest held-out loss (ONNX int4 + adapter, the evaluate "
        "step), highest golden-check score (ROUGE-L of the adapter's answers)"
    )
    lines += ["", *ranking_lines(rank_branches(rows))]
    curves = [(r.value, r.losses) for r in rows if r.losses]
    if curves:
        top = max(v for _, losses in curves for _, v in losses)
        low = min(v for _, losses in curves for _, v in losses)
        lines += ["", f"training loss, one scale for all ({low:.3f} to {top:.3f}):"]
        lines += [f"{value:<{width}} {sparkline([v for _, v in losses], low, top)}" for value, losses in curves]
    return "\n".join(lines)


def sparkline(values: list[float], low: float, top: float, width: int = 56) -> str:
    """A loss curve in one line of block characters (resampled to `width`)."""
    bars = "▁▂▃▄▅▆▇█"
    if len(values) > width:
        values = [values[int(i * len(values) / width)] for i in range(width)]
    span = (top - low) or 1.0
    return "".join(bars[min(len(bars) - 1, int((v - low) / span * len(bars)))] for v in values)
