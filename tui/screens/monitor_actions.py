"""The monitor's run actions: start, retry, run from a step, cancel, pick, compare and report.

A mixin of `MonitorScreen`, kept apart so the screen file stays about showing the run. Every action goes
through `engine.runs.control` (or the report writer) in a thread worker; results come back as messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual import work

from engine.errors import OliveLabError
from engine.runs.state import effective_status
from engine.steps.spec import STEP_NAMES
from tui.messages import MonitorActionDone, RunStarted
from tui.widgets.run_picker import RunPicker, StepPicker
from tui.widgets.run_text import failed_step, running_step

if TYPE_CHECKING:
    from engine.config import LabConfig
    from engine.paths import LabPaths
    from engine.runs.state import RunState


class RunActions:
    """Actions on runs for a screen that has `lab`, `config`, `state`, `run_dir` and `show_run`."""

    lab: LabPaths
    config: LabConfig
    state: RunState | None
    run_dir: Path | None

    def action_start_run(self) -> None:
        self._start(None)

    def action_retry(self) -> None:
        step = failed_step(self.state)
        if step is None:
            self.notify(
                "Nothing to retry: the run shown has no failed or cancelled step.", severity="warning"
            )
            return
        if step not in STEP_NAMES:  # preparing the data failed: run everything again
            self._start(None)
        else:
            self._start(step)

    def action_run_from_step(self) -> None:
        def chosen(step: str | None) -> None:
            if step:
                self._start(step)

        self.app.push_screen(StepPicker(list(STEP_NAMES)), chosen)

    def _start(self, from_step: str | None) -> None:
        refusal = getattr(self.app, "run_refusal", lambda: None)()
        if refusal:
            self.notify(refusal, title="lab.toml", severity="error", timeout=15)
            return
        self.notify("starting the pipeline" + (f" from {from_step}" if from_step else "") + "…")
        self._start_worker(from_step)

    @work(thread=True, exclusive=True, group="monitor-start", exit_on_error=False, name="start run")
    def _start_worker(self, from_step: str | None) -> None:
        from engine.runs.control import start_run

        try:
            run_id = start_run(self.lab, self.config, from_step=from_step)
        except OliveLabError as exc:
            self.post_message(MonitorActionDone("start", error=exc.full()))
            return
        except OSError as exc:
            self.post_message(MonitorActionDone("start", error=str(exc)))
            return
        self.post_message(RunStarted(run_id))

    def on_run_started(self, message: RunStarted) -> None:
        self.show_run(self.lab.run_dir(message.run_id))

    def action_cancel_run(self) -> None:
        state = self.state
        if state is None or state.finished or effective_status(state) == "lost":
            self.notify("No run is going: there is nothing to cancel.", severity="warning")
            return
        step = running_step(state)
        question = (
            f"Cancel run {state.id}?\n\n"
            + (f"The running step ({step.name}) is stopped; " if step else "")
            + "finished steps and all logs are kept."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._cancel_worker(state.id)

        from tui.screens.confirm import ConfirmScreen

        self.app.push_screen(ConfirmScreen(question, yes="Cancel the run", no="Keep running"), answered)

    @work(thread=True, exclusive=True, group="monitor-cancel", exit_on_error=False, name="cancel run")
    def _cancel_worker(self, run_id: str) -> None:
        from engine.runs.control import cancel_run

        try:
            state = cancel_run(self.lab, run_id)
        except (OliveLabError, OSError) as exc:
            self.post_message(MonitorActionDone("cancel", error=str(exc)))
            return
        self.post_message(MonitorActionDone("cancel", result=f"run {run_id}: {state.status}"))

    def action_pick_run(self) -> None:
        def chosen(run_id: str | None) -> None:
            if run_id:
                self.show_run(self.lab.run_dir(run_id), pinned=True)

        self.app.push_screen(RunPicker(self.lab.runs), chosen)

    def action_compare(self) -> None:
        if self.run_dir is None:
            self.notify("No run to compare.", severity="warning")
            return
        current = self.run_dir

        def chosen(run_id: str | None) -> None:
            if run_id:
                from tui.screens.compare import CompareScreen

                self.app.push_screen(CompareScreen(current, self.lab.run_dir(run_id)))

        self.app.push_screen(
            RunPicker(self.lab.runs, title=f"Compare {current.name} with which run?", exclude=current.name),
            chosen,
        )

    def action_report(self) -> None:
        if self.run_dir is None:
            self.notify("No run to report on.", severity="warning")
            return
        self._report_worker(self.run_dir)

    @work(thread=True, exclusive=True, group="monitor-report", exit_on_error=False, name="write report")
    def _report_worker(self, run_dir: Path) -> None:
        from engine.runs.report import ReportError, write_report

        try:
            path = write_report(run_dir)
        except (ReportError, OSError) as exc:
            self.post_message(MonitorActionDone("report", error=str(exc)))
            return
        self.post_message(MonitorActionDone("report", result=f"report written to {path}"))

    def on_monitor_action_done(self, message: MonitorActionDone) -> None:
        if message.error:
            self.notify(message.error, title=f"{message.action} failed", severity="error", timeout=20)
        elif message.result:
            self.notify(message.result)

