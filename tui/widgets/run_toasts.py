"""The toasts that tell what a followed run did: its finished steps gathered into one toast, and its end.

An all-reused run finishes six steps in half a second, so finished steps are gathered for a moment and told
together; a step that failed or was cancelled is told in the toast of the run's end, which comes a moment later,
with the reason pinned on the screen.
"""

from __future__ import annotations

from textual.notifications import SeverityLevel
from textual.timer import Timer
from textual.widget import Widget

from engine.durations import format_duration
from engine.runs import events as ev
from engine.runs.state import STOPPED_STEP, RunState
from tui import keymap
from tui.widgets.run_text import failure_text


class RunToasts(Widget):
    """Not drawn: it keeps the steps finished since its last toast, and the timer that tells them."""

    DEFAULT_CSS = "RunToasts { display: none; }"

    def __init__(self) -> None:
        super().__init__()
        self._finished: list[str] = []
        self._timer: Timer | None = None

    def announce(self, events: list[ev.Event], run_name: str, state: RunState | None) -> None:
        """One toast per thing that happened in `events` (`state` is the run's, read after them)."""
        for event in events:
            if isinstance(event, ev.StepFinished) and event.status in STOPPED_STEP:
                reason = f": {event.reason}" if event.reason else ""
                self._gather(f"{event.step} {event.status}{reason}", 3.0)
            elif isinstance(event, ev.StepFinished):
                took = format_duration(event.duration_s)
                done = f" in {took}" if took and event.status == "done" else ""
                self._gather(f"{event.step} {event.status}{done}", 0.6)
            elif isinstance(event, ev.RunFinished):
                self._run_end(event, run_name, state)

    def _gather(self, line: str, delay: float) -> None:
        self._finished.append(line)
        self._timer = self._timer or self.set_timer(delay, self._tell_finished)

    def _run_end(self, event: ev.RunFinished, run_name: str, state: RunState | None) -> None:
        title = f"run {run_name} {event.status}"
        steps = self._take_finished()
        self.app.bell()
        if event.status == "done":
            chat = keymap.key_label(self.app, "app.chat")
            self.notify(f"{steps}\nnext: press {chat} to chat with the model".lstrip(), title=title, timeout=10)
            return
        why = failure_text(state) or (f"✘ {event.reason}" if event.reason else "")
        if event.status == "cancelled":
            why = steps or "finished steps and all logs are kept"
        severity: SeverityLevel = "error" if event.status == "failed" else "warning"
        self.notify(why or "see the log", title=title, severity=severity, timeout=20, markup=False)

    def _take_finished(self) -> str:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        text = " · ".join(self._finished)
        self._finished.clear()
        return text

    def _tell_finished(self) -> None:
        text = self._take_finished()
        if text:
            failed = "failed" in text
            self.notify(text, severity="error" if failed else "information", timeout=20 if failed else 6)
