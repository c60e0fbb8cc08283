"""Follow a run folder while it grows, for the monitor screen and anything else that watches a run.

Readers never write to the run folder and never re-read what they have read: `RunWatcher.poll()` stats the
state file, the events file and each step log, and reads only the bytes added since the last poll (byte
offsets per file). It copes with a run folder that appears later, a log that is truncated (reads it again
from the start, once) and a very long log on first attach (only its tail is read; the full log stays on
disk). `RunDigest` turns events into what a screen or a report shows: passes, progress and loss curves.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.fs import open_regular
from engine.runs import events as ev
from engine.runs.state import STATE_FILE, RunFileError, RunState, read_state, step_log_path
from engine.steps.logparse import classify_line
from engine.steps.spec import ALL_STEPS

MISSING_STATE_S = 15.0  # a run folder without state.json for this long is damaged, not starting
SUPERVISOR = "supervisor"
SUPERVISOR_LOG = "supervisor.log"

# A log line's kind: what `classify_line` says, plus "header" (a step's first line) and "note" (ours).
LogLine = tuple[str, str]

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
_MAX_PARTIAL = 64 * 1024
_MIB = 1024 * 1024


def clean_line(raw: str) -> str:
    """What a terminal would finally show for one line: the last `\\r` redraw, without colour codes."""
    line = raw.rstrip("\r")
    if "\r" in line:
        line = line.rsplit("\r", 1)[1]
    if "\x1b" in line:
        line = _ANSI_RE.sub("", line)
    return line


@dataclass
class RunUpdate:
    """What changed in a run folder since the previous poll."""

    run_dir: Path
    state: RunState | None = None  # set when state.json changed
    events: list[ev.Event] = field(default_factory=list)
    lines: list[LogLine] = field(default_factory=list)
    reset: bool = False  # the log view should start again (first poll, or a log was truncated)
    catching_up: bool = False  # this is history read on attach, not something that just happened
    log_grew_at: float | None = None  # wall time at which new log bytes were seen
    damaged_events: int = 0  # lines of events.jsonl that are not events (skipped)
    problem: str | None = None  # the run folder cannot be read: which file and why

    def __bool__(self) -> bool:
        return bool(self.state or self.events or self.lines or self.reset or self.problem)


@dataclass
class _LogTail:
    offset: int = 0
    partial: bytes = b""
    started: bool = False


class RunWatcher:
    """Incremental reader of one run folder. Not thread-safe: poll it from one thread (a worker)."""

    def __init__(self, run_dir: Path, *, backlog_bytes: int = 4 * _MIB, read_bytes: int = 8 * _MIB) -> None:
        self.run_dir = Path(run_dir)
        self.backlog_bytes = backlog_bytes
        self.read_bytes = read_bytes
        self.state: RunState | None = None
        self._state_sig: tuple[int, int] | None = None
        self._events_offset = 0
        self._tails: dict[str, _LogTail] = {}
        self._polls = 0
        self._first_seen = time.time()

    def poll(self) -> RunUpdate:
        first = self._polls == 0
        self._polls += 1
        update = RunUpdate(self.run_dir, reset=first, catching_up=first)
        if not self.run_dir.is_dir():
            return update
        update.state = self._read_state(update)
        found = ev.read_events(self.run_dir, self._events_offset)
        self._events_offset = found.offset
        update.events, update.damaged_events = found.events, found.damaged
        for step in self._step_order():
            self._read_log(step, update)
        for event in update.events:  # a sweep's branches run in folders of their own: say when each starts and ends
            if isinstance(event, ev.BranchEvent):
                why = f": {event.reason}" if event.reason else ""
                on = f" on {event.on}" if event.on else ""
                update.lines.append(("note", f"── branch {event.branch}: {event.status}{on}{why} ──"))
            elif isinstance(event, ev.BranchesPlaced):
                update.lines.append(("note", f"── branches: {event.note} ──"))
        if update.lines and not first:
            update.log_grew_at = time.time()
        return update

    def _read_state(self, update: RunUpdate) -> RunState | None:
        path = self.run_dir / STATE_FILE
        try:
            st = path.stat()
        except OSError:
            if self.state is None and time.time() - self._first_seen > MISSING_STATE_S:
                update.problem = f"{path}: missing (the run folder is damaged; `olive-lab runs rm` removes it)"
            return None
        sig = (st.st_mtime_ns, st.st_size)
        if sig == self._state_sig:
            return None
        try:
            state = read_state(self.run_dir)
        except RunFileError as exc:  # replaced atomically, so a failed read is a damaged file
            self._state_sig = sig
            update.problem = exc.full()
            return None
        self._state_sig = sig
        self.state = state
        return state

    def _step_order(self) -> list[str]:
        if self.state is not None and self.state.steps:
            steps = [s.name for s in self.state.steps]
        else:
            steps = [s for s in ALL_STEPS if step_log_path(self.run_dir, s).exists()]
        return [*steps, SUPERVISOR]  # the supervisor's own messages (why a run could not even start)

    def _read_log(self, step: str, update: RunUpdate) -> None:
        path = self.run_dir / SUPERVISOR_LOG if step == SUPERVISOR else step_log_path(self.run_dir, step)
        try:
            size = path.stat().st_size
        except OSError:
            return
        tail = self._tails.setdefault(step, _LogTail())
        if size < tail.offset:
            update.lines.append(("note", f"── {step}: log was truncated, reading it again from the start ──"))
            tail.offset, tail.partial = 0, b""
        if size == tail.offset:
            return
        skipped = 0
        if not tail.started and size - tail.offset > self.backlog_bytes:
            skipped = size - self.backlog_bytes
            tail.offset = skipped
        with open_regular(path) as fh:
            fh.seek(tail.offset)
            data = fh.read(min(size - tail.offset, self.read_bytes))
        tail.offset += len(data)
        if skipped:
            cut = data.find(b"\n") + 1  # start on a whole line
            data = data[cut:]
        if not tail.started:
            tail.started = True
            update.lines.append(("header", f"── {step} ──"))
            if skipped:
                update.lines.append(
                    (
                        "note",
                        f"… first {skipped / _MIB:.1f} MiB of this log not shown here (full log: {path})",
                    )
                )
        data = tail.partial + data
        end = data.rfind(b"\n") + 1
        rest = data[end:]
        if len(rest) > _MAX_PARTIAL:  # a bar redrawn with \r for ever: keep only its last drawing
            rest = rest[rest.rfind(b"\r") + 1 :][-_MAX_PARTIAL:]
        tail.partial = rest
        if end:
            for raw in data[:end].decode("utf-8", "replace").split("\n")[:-1]:
                text = clean_line(raw)
                update.lines.append((classify_line(text), text))


@dataclass
class RunDigest:
    """What the events say so far: the pass and progress of each step, the loss curves, notable events."""

    passes: dict[str, str] = field(default_factory=dict)
    progress: dict[str, dict[str, Any]] = field(default_factory=dict)
    losses: list[tuple[float, float]] = field(default_factory=list)  # (train_step, loss) of finetune
    eval_losses: list[tuple[float, float]] = field(default_factory=list)
    learning_rates: list[tuple[float, float]] = field(default_factory=list)
    grad_norms: list[tuple[float, float]] = field(default_factory=list)  # where the trainer logs them
    cache_hits: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    saved: dict[str, str] = field(default_factory=dict)
    sign_in: dict[str, ev.SignInCode] = field(default_factory=dict)  # a device code a step waits on
    max_points: int = 20_000

    @classmethod
    def of_run(cls, run_dir: Path) -> RunDigest:
        digest = cls()
        digest.apply(ev.read_events(run_dir).events)
        return digest

    def apply(self, events: list[ev.Event]) -> None:
        for event in events:
            step = event.step
            if isinstance(event, ev.PassStarted):
                name, kind = event.pass_name, event.pass_type
                self.passes[step] = f"{name}:{kind}" if name and kind else name or kind  # as in state.json
            elif isinstance(event, ev.ProgressEvent):
                self.progress[step] = event.model_dump(include={"n", "total", "rate", "eta_s", "desc"})
            elif isinstance(event, ev.LossEvent) and _is_number(event.loss):
                self._add(self.losses, (event.train_step, event.loss))
                if event.learning_rate is not None and _is_number(event.learning_rate):
                    self._add(self.learning_rates, (event.train_step, event.learning_rate))
                if event.grad_norm is not None and _is_number(event.grad_norm):
                    self._add(self.grad_norms, (event.train_step, event.grad_norm))
            elif isinstance(event, ev.EvalLossEvent) and _is_number(event.eval_loss):
                self._add(self.eval_losses, (event.train_step, event.eval_loss))
            elif isinstance(event, ev.CacheHit):
                self.cache_hits.append(f"{step}: {event.detail}")
            elif isinstance(event, ev.Warning_):
                self.warnings.append(f"{step}: {event.message}")
            elif isinstance(event, ev.ErrorEvent):
                self.errors[step] = event.reason
            elif isinstance(event, ev.Saved):
                self.saved[step] = event.path
            elif isinstance(event, ev.SignInCode):
                self.sign_in[step] = event
            elif isinstance(event, (ev.StepStarted, ev.StepFinished)):
                self.passes.pop(step, None)
                if isinstance(event, ev.StepFinished):
                    self.progress.pop(step, None)

    def _add(self, points: list[tuple[float, float]], point: tuple[float, float]) -> None:
        points.append(point)
        if len(points) > self.max_points:  # keep the curve's shape, halve its resolution
            del points[1:-1:2]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
