"""What a step's runner (a child process here, engine.runs.local; an Azure ML job, engine.runs.remote) and a
sweep's branches (engine.runs.sweep) see of the supervisor that hosts them: a small typed interface, so they
neither reach into its private state nor import it. And the one loop that turns a step's output, bytes as they
come, into events and the step's live fields, for a local step's log and a job's log alike.
"""

from __future__ import annotations

import codecs
import subprocess
import threading
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from engine.config import LabConfig
from engine.paths import LabPaths
from engine.runs import events as ev
from engine.runs.state import RunState, RunStatus, StepState
from engine.runs.stepproc import progress_of
from engine.steps.commands import StepPaths
from engine.steps.logparse import LogParser, ParsedEvent


class StepHost(Protocol):
    """The supervisor, as its collaborators use it."""

    run_dir: Path
    lab: LabPaths
    config: LabConfig  # the run's settings (secret values masked)
    state: RunState
    secrets: dict[str, dict[str, str]]  # per step, its secret variables' values
    cancel_requested: bool
    cancel_event: threading.Event  # the same request, for the transfers that take one
    cancel_reason: tuple[RunStatus, str]  # how a step stopped by it ends: ("cancelled", why) or ("failed", why)

    def cancelling(self) -> bool:
        """Whether the run is to stop now (a cancel asked for, or a sweep branch's sweep gone)."""

    def pause(self, seconds: float) -> None:
        """A wait that a cancel cuts short."""

    def save(self, force: bool = True) -> None:
        """Write the run's state (at most every half second unless forced)."""

    def event(self, event: ev.Event) -> None:
        """Record an event (flushed at once, unless within `batch`)."""

    def batch(self) -> AbstractContextManager[None]:
        """Events recorded within are flushed once, at its end."""

    def handle(self, step: StepState, parsed: ParsedEvent) -> None:
        """What the log parser found: the step's live fields updated, its event recorded."""

    def conclude(self, step: StepState, paths: StepPaths, parser: LogParser, rc: int, why: str | None = None) -> None:
        """The verdict on a step that ended (here or as a job)."""

    def child(self, proc: subprocess.Popen[bytes] | None) -> None:
        """The step's child process now (None: none), which the host stops if it breaks while it runs."""


class LogFeed:
    """A step's output as it comes, bytes in: decoded, parsed, recorded as events (flushed once per chunk),
    and the step's live fields (its last output, log lines, progress) kept up to date."""

    def __init__(self, host: StepHost, step: StepState, progress_every_s: float = 0.0) -> None:
        self.host = host
        self.step = step
        self.parser = LogParser()
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.progress_every_s = progress_every_s
        self._progress_serial = 0
        self._progress_at = 0.0

    def feed(self, data: bytes) -> None:
        self.step.last_output_at = time.time()
        with self.host.batch():
            for parsed in self.parser.feed(self.decoder.decode(data)):
                self.host.handle(self.step, parsed)
        self.step.log_lines = self.parser.lines

    def progress(self) -> None:
        """The step's progress event, when the parser saw progress (at most once every `progress_every_s`)."""
        now = time.time()
        if self.parser.progress_serial == self._progress_serial or now - self._progress_at < self.progress_every_s:
            return
        self._progress_serial, self._progress_at = self.parser.progress_serial, now
        self.step.progress = progress_of(self.parser)
        if self.step.progress is not None:
            self.host.event(ev.ProgressEvent(step=self.step.name, **self.step.progress.model_dump()))

    def finish(self) -> None:
        """The output has ended: what the parser held back, then the step's last progress."""
        for parsed in self.parser.finish():
            self.host.handle(self.step, parsed)
        self.step.progress = progress_of(self.parser) or self.step.progress
