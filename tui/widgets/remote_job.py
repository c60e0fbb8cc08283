"""What the monitor says about a step that runs as an Azure ML job. The "now" panel: the job's status with
the time waited in it (`engine.runs.remote.describe`, from the clock the monitor ticks with, so it moves
while the state file stays as it is: a queued job writes nothing for minutes) and where it runs. The
full-width line under it: a cancel under way or why the poller stopped (the job goes on), the job's name
and its studio link on a line of its own, to copy.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from engine.runs.remote import describe
from engine.runs.state import STOPPED_STEP, RemoteJob, RunState, StepState
from tui.widgets.timeline import resolve_style

RESUMES = "the job goes on in Azure ML; polling resumes when olive-lab opens this lab again"


def remote_step(state: RunState | None) -> StepState | None:
    """The step to tell about: the running Azure ML step, else the last one that failed or was cancelled."""
    if state is None:
        return None
    running = next((s for s in state.steps if s.status == "running" and s.remote is not None), None)
    if running is not None:
        return running
    return next((s for s in reversed(state.steps) if s.remote is not None and s.status in STOPPED_STEP), None)


def studio_link(state: RunState | None) -> str | None:
    """The studio link of the newest step that ran (or runs) as an Azure ML job."""
    if state is None:
        return None
    return next((s.remote.studio_url for s in reversed(state.steps) if s.remote and s.remote.studio_url), None)


def job_status(job: RemoteJob, now: float, *, polled: bool = True) -> str:
    """For the "now" panel: the job's status and the time waited in it (as last seen, when nothing polls the
    job now), then where it runs."""
    where = "Azure ML"
    if job.vm_size:
        where += f" · {job.vm_size} × {job.nodes} node{'s' if job.nodes != 1 else ''}"
    return f"{'' if polled else 'last seen: '}{describe(job, now)}\n{where}"


def remote_lines(state: RunState | None, *, cancelling: bool = False, copy_key: str = "y") -> list[tuple[str, str]]:
    """(text, style) lines about the run's Azure ML step: a cancel under way or a stopped poller, the job's
    name and its studio link; none when the run has no such step."""
    step = remote_step(state)
    if state is None or step is None or step.remote is None:
        return []
    job = step.remote
    lines = []
    if cancelling:
        lines.append(("cancelling the Azure ML job… (Azure takes a minute or two to stop it)", "bold $warning"))
    elif state.poller_gone and not state.finished:
        lines.append((f"polling stopped: {state.poller_gone}; {RESUMES}", "bold $warning"))
    if job.job_name:
        link = f" · {copy_key} copies its studio link:" if job.studio_url else ""
        lines.append((f"job {job.job_name}{link}", ""))
    else:
        lines.append((f"{step.name}: {describe(job)}", ""))
    if job.studio_url:
        lines.append((job.studio_url, "$text-primary"))
    return lines


class RemoteJobLine(Static):
    """Shown while the run has an Azure ML step to tell about. Call `show(state)` when the state changes."""

    DEFAULT_CSS = """
    RemoteJobLine { height: auto; padding: 0 1; display: none; }
    RemoteJobLine.-shown { display: block; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.cancelling = False
        """A cancel is under way (cancelling a job takes Azure a while): say so instead of looking stuck."""
        self.copy_key = "y"
        self._plain: str | None = None

    def show(self, state: RunState | None) -> None:
        lines = remote_lines(state, cancelling=self.cancelling, copy_key=self.copy_key)
        text = Text()
        for i, (line, style) in enumerate(lines):
            text.append(("\n" if i else "") + line, style=resolve_style(self, style) if style else "")
        self.set_class(bool(lines), "-shown")
        if text.plain != self._plain:  # an update costs a layout pass; most ticks change nothing
            self._plain = text.plain
            self.update(text)
