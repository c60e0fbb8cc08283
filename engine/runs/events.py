"""A run's events file (`events.jsonl`): the typed union of what happened, its one writer and its one reader.

One JSON object a line, append-only, written by the supervisor alone. Every reader (the monitor, `runs attach
--json`, the report) goes through `read_events`, which skips a damaged line and counts it instead of
failing, so one bad line never hides the rest of a run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Literal, TextIO

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from engine.fs import open_regular

EVENTS_FILE = "events.jsonl"


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")

    t: float = Field(default_factory=lambda: round(time.time(), 3))
    step: str = ""


class RunStarted(_Event):
    kind: Literal["run_started"] = "run_started"
    steps: list[str] = Field(default_factory=list)


class RunFinished(_Event):
    kind: Literal["run_finished"] = "run_finished"
    status: str
    reason: str | None = None


class StepStarted(_Event):
    kind: Literal["step_started"] = "step_started"
    command: list[str] = Field(default_factory=list)
    pid: int | None = None


class StepFinished(_Event):
    kind: Literal["step_finished"] = "step_finished"
    status: str
    reason: str | None = None
    duration_s: float | None = None


class Reused(_Event):
    kind: Literal["reused"] = "reused"
    from_run: str


class ProgressEvent(_Event):
    kind: Literal["progress"] = "progress"
    n: int = 0
    total: int | None = None
    rate: float | None = None
    eta_s: float | None = None
    desc: str = ""


class LossEvent(_Event):
    kind: Literal["loss"] = "loss"
    train_step: float
    loss: float
    learning_rate: float | None = None
    grad_norm: float | None = None
    epoch: float | None = None


class EvalLossEvent(_Event):
    kind: Literal["eval_loss"] = "eval_loss"
    train_step: float
    eval_loss: float
    epoch: float | None = None


class TrainDone(_Event):
    kind: Literal["train_done"] = "train_done"
    train_runtime: float | None = None
    train_loss: float | None = None


class PassStarted(_Event):
    kind: Literal["pass_started"] = "pass_started"
    pass_name: str = ""
    pass_type: str = ""


class PassFinished(_Event):
    kind: Literal["pass_finished"] = "pass_finished"
    pass_name: str = ""
    seconds: float | None = None


class PassFailed(_Event):
    kind: Literal["pass_failed"] = "pass_failed"
    pass_name: str | None = None


class CacheHit(_Event):
    kind: Literal["cache_hit"] = "cache_hit"
    detail: str = ""


class Saved(_Event):
    kind: Literal["saved"] = "saved"
    path: str = ""


class NoOutput(_Event):
    kind: Literal["no_output"] = "no_output"
    message: str = ""


class Warning_(_Event):
    kind: Literal["warning"] = "warning"
    message: str = ""


class BranchEvent(_Event):
    """A sweep's branch started or ended (its own run folder holds its steps' events)."""

    kind: Literal["branch"] = "branch"
    branch: str
    status: str
    reason: str | None = None
    devices: str | None = None  # the CUDA_VISIBLE_DEVICES it was started with (a local sweep's slot)
    on: str | None = None  # that slot in words: "GPU 0 (NVIDIA H100 80GB HBM3)", "slot 1"


class BranchesPlaced(_Event):
    """How a local sweep placed its branches on this machine's GPUs (or CPU slots)."""

    kind: Literal["placed"] = "placed"
    note: str


class SignInCode(_Event):
    """A step (register, a remote step) waits for a device-code sign-in: open `url` and enter `code` (once per
    sign-in, not per step)."""

    kind: Literal["sign_in_code"] = "sign_in_code"
    url: str
    code: str
    expires_at: str | None = None
    unencrypted_cache: bool = False  # the sign-in will be kept in a 0600 file: no keyring on this machine


class ErrorEvent(_Event):
    kind: Literal["error"] = "error"
    reason: str = ""


Event = Annotated[
    RunStarted
    | RunFinished
    | StepStarted
    | StepFinished
    | Reused
    | ProgressEvent
    | LossEvent
    | EvalLossEvent
    | TrainDone
    | PassStarted
    | PassFinished
    | PassFailed
    | CacheHit
    | Saved
    | NoOutput
    | Warning_
    | SignInCode
    | BranchEvent
    | BranchesPlaced
    | ErrorEvent,
    Field(discriminator="kind"),
]
_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(line: bytes | str) -> Event:
    """One events line as its typed event; ValueError when it is not one."""
    try:
        return _ADAPTER.validate_json(line)
    except ValidationError as exc:
        raise ValueError(str(exc).splitlines()[0]) from None


class EventWriter:
    """Appends events through one open file; `flush` makes them visible to readers."""

    def __init__(self, run_dir: Path) -> None:
        self._fh: TextIO = open(run_dir / EVENTS_FILE, "a", encoding="utf-8")

    def write(self, event: Event) -> Event:
        self._fh.write(event.model_dump_json() + "\n")
        return event

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


class EventsRead(BaseModel):
    events: list[Event] = Field(default_factory=list)
    offset: int = 0
    damaged: int = 0  # lines that are not events (skipped)
    first_damaged_line: int | None = None


def read_events(run_dir: Path, offset: int = 0, *, limit: int | None = None) -> EventsRead:
    """Events appended since byte `offset` (a partial last line is left for later) and the new offset."""
    path = run_dir / EVENTS_FILE
    out = EventsRead(offset=offset)
    try:
        with open_regular(path) as fh:
            fh.seek(offset)
            data = fh.read() if limit is None else fh.read(limit)
    except OSError:
        return out
    end = data.rfind(b"\n") + 1
    out.offset = offset + end
    for number, raw in enumerate(data[:end].splitlines(), 1):
        if not raw.strip():
            continue
        try:
            out.events.append(parse_event(raw))
        except ValueError:
            out.damaged += 1
            out.first_damaged_line = out.first_damaged_line or number
    return out
