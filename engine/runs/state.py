"""A run's folder is the source of truth: its state file, events file and step logs.

The supervisor is the only writer. The app and the CLI only read, so they can attach, detach and reattach at
any moment. Layout of `runs/<id>/`:

    state.json        RunState, replaced atomically on every change
    events.jsonl      one JSON object per line, append-only (pass boundaries, progress, loss, verdicts)
    settings.toml     the settings this run was started with (the lab's profile plus changes)
    supervisor.log    the supervisor's own messages
    data/             train.jsonl and validation.jsonl: the split the steps saw
    <step>/step.log   the step's full output (stdout and stderr, as printed)
    <step>/output/    the step's output model
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from engine.fs import atomic_write_text

StepStatus = Literal["pending", "running", "done", "reused", "failed", "cancelled", "skipped"]
RunStatus = Literal["starting", "running", "done", "failed", "cancelled"]
FINISHED_RUN = ("done", "failed", "cancelled")
FINISHED_STEP = ("done", "reused", "failed", "cancelled", "skipped")

STATE_FILE = "state.json"
SUPERVISOR_START_S = 15.0
EVENTS_FILE = "events.jsonl"


class Progress(BaseModel):
    n: int = 0
    total: int | None = None
    rate: float | None = None  # items per second
    eta_s: float | None = None
    desc: str = ""


class StepGpu(BaseModel):
    peak_vram_mib: float | None = None
    mean_util_pct: float | None = None
    energy_j: float | None = None
    samples: int = 0


class StepState(BaseModel):
    name: str
    status: StepStatus = "pending"
    command: list[str] = Field(default_factory=list)
    started_at: float | None = None
    ended_at: float | None = None
    pid: int | None = None
    exit_code: int | None = None
    key: str | None = None
    reused_from: str | None = None
    reason: str | None = None
    output: str | None = None
    current_pass: str | None = None
    progress: Progress | None = None
    last_loss: float | None = None
    last_eval_loss: float | None = None
    log_lines: int = 0
    last_output_at: float | None = None
    gpu: StepGpu = Field(default_factory=StepGpu)

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at


class RunState(BaseModel):
    id: str
    lab: str
    profile: str
    status: RunStatus = "starting"
    created_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    ended_at: float | None = None
    supervisor_pid: int | None = None
    reason: str | None = None
    cancel_requested: bool = False
    steps: list[StepState] = Field(default_factory=list)
    settings: dict[str, Any] = Field(default_factory=dict)
    warnings: list[str] = Field(default_factory=list)

    def step(self, name: str) -> StepState:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_RUN

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at


def write_state(run_dir: Path, state: RunState) -> None:
    """Replace state.json atomically so a reader never sees half a file."""
    atomic_write_text(run_dir / STATE_FILE, state.model_dump_json(indent=1), private=True)


def read_state(run_dir: Path) -> RunState:
    return RunState.model_validate_json((run_dir / STATE_FILE).read_text(encoding="utf-8"))


class EventWriter:
    """Appends events to events.jsonl through one open file; `flush` makes them visible to readers."""

    def __init__(self, run_dir: Path) -> None:
        self._fh = open(run_dir / EVENTS_FILE, "a", encoding="utf-8")

    def write(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"t": round(time.time(), 3), "kind": kind, **fields}
        self._fh.write(json.dumps(event, default=str) + "\n")
        return event

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def read_events(run_dir: Path, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Events appended since byte `offset`, and the new offset (a partial last line is left for later)."""
    path = run_dir / EVENTS_FILE
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    events = [json.loads(line) for line in data[:end].splitlines() if line.strip()]
    return events, offset + end


def step_log_path(run_dir: Path, step: str) -> Path:
    return run_dir / step / "step.log"


def iter_runs(runs_root: Path) -> Iterator[tuple[Path, RunState | None]]:
    """Every run folder, newest first, with its state (None where the state cannot be read)."""
    if not runs_root.is_dir():
        return
    for run_dir in sorted((p for p in runs_root.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True):
        try:
            yield run_dir, read_state(run_dir)
        except (OSError, ValueError):
            yield run_dir, None


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def effective_status(state: RunState) -> str:
    """The status a reader should show: a 'running' run whose supervisor is gone has died."""
    if not state.finished and state.supervisor_pid and not pid_alive(state.supervisor_pid):
        return "lost"
    if state.status == "starting" and not state.supervisor_pid and time.time() - state.created_at > SUPERVISOR_START_S:
        return "lost"  # its supervisor never came up
    return state.status
