"""What the monitor does to runs: start, retry, run from a step, cancel, compare, report, export, a sweep's
branches, the studio link and the step log in $PAGER.

A widget that is not drawn: it owns the workers, and the monitor screen's key actions hand it the run they act
on. Every action goes through `engine.runs.control` (or the report writer) in a thread worker; results come back
as messages (`RunStarted`, `MonitorActionDone`) that bubble on to the screen.
"""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import App
from textual.message import Message
from textual.widget import Widget

from engine.config import LabConfig, load_config
from engine.errors import OliveLabError
from engine.paths import LabPaths
from engine.runs.state import UNSTARTED_STEP, RunState, effective_status
from engine.steps.spec import STEP_NAMES
from tui import keymap
from tui.messages import MonitorActionDone, RunStarted
from tui.screens.confirm import ConfirmScreen
from tui.widgets.remote_job import studio_link
from tui.widgets.run_picker import RunPicker, StepPicker
from tui.widgets.run_text import failed_step, running_step


def lab_of(app: App[object]) -> LabPaths:
    """The app's lab folder (a bare app in tests may have none: the default lab then)."""
    lab = getattr(app, "lab", None)
    return lab if isinstance(lab, LabPaths) else LabPaths.at()


def config_of(app: App[object]) -> LabConfig:
    config = getattr(app, "config", None)
    return config if isinstance(config, LabConfig) else load_config(lab_of(app))


class RunControl(Widget):
    """Not drawn: the monitor's actions on runs, each given the run it acts on."""

    DEFAULT_CSS = "RunControl { display: none; }"

    class Cancelling(Message):
        """The user confirmed cancelling a run whose step is an Azure ML job (Azure takes a while)."""

    @property
    def lab(self) -> LabPaths:
        return lab_of(self.app)

    def start(self, from_step: str | None = None, *, resume: bool = False) -> None:
        refusal = getattr(self.app, "run_refusal", lambda: None)()
        if refusal:
            self.notify(refusal, title="lab.toml", severity="error", timeout=15)
            return

        def start() -> None:
            what = " from the last checkpoint" if resume else (f" from {from_step}" if from_step else "")
            self.notify("starting the pipeline" + what + "…")
            self._start_worker(from_step, resume)

        ask = getattr(self.app, "start_with_saved_settings", None)  # the lab app asks about unsaved edits
        if ask is not None:
            ask(start)
        else:
            start()

    def retry(self, state: RunState | None) -> None:
        if state is not None and state.sweep is not None:  # the engine starts a sweep afresh, never part of one
            keys = keymap.key_label(self.app, "steps.sweep")
            self.notify(f"A sweep is not retried: start it again ({keys} on Steps).", severity="warning")
            return
        if state is None:
            self.notify("No run yet: there is nothing to retry.", severity="warning")
            return
        step = failed_step(state)
        if step is None:
            self.notify("Nothing to retry: the run shown has no failed or cancelled step.", severity="warning")
            return
        if step not in STEP_NAMES:  # preparing the data failed: run everything again
            self.start(None)
        else:  # a stopped fine-tune goes on from its last checkpoint
            self.start(step, resume=step == "finetune")

    def run_from_step(self) -> None:
        def chosen(step: str | None) -> None:
            if step:
                self.start(step)

        self.app.push_screen(StepPicker(list(STEP_NAMES)), chosen)

    @work(thread=True, exclusive=True, group="monitor-start", exit_on_error=False, name="start run")
    def _start_worker(self, from_step: str | None, resume: bool = False) -> None:
        from engine.runs.control import start_run

        try:
            run_id = start_run(self.lab, config_of(self.app), from_step=from_step, resume=resume)
        except OliveLabError as exc:
            self.post_message(MonitorActionDone("start", error=exc.full()))
            return
        except OSError as exc:
            self.post_message(MonitorActionDone("start", error=str(exc)))
            return
        self.post_message(RunStarted(run_id))

    def cancel(self, state: RunState | None) -> None:
        if state is None or state.finished or effective_status(state) == "lost":
            self.notify("No run is going: there is nothing to cancel.", severity="warning")
            return
        step = running_step(state)
        job = step.remote if step is not None else None
        question = (
            f"Cancel run {state.id}?\n\n"
            + (f"The running step ({step.name}) is stopped; " if step else "")
            + "finished steps and all logs are kept."
            + (f"\n\nIts Azure ML job on {job.cluster} is cancelled too (Azure takes a while)." if job else "")
        )

        def answered(yes: bool | None) -> None:
            if yes:
                if job is not None:  # the wait is Azure's: say so, so the run does not look stuck
                    self.post_message(self.Cancelling())
                    self.notify("cancelling the Azure ML job…", timeout=10)
                self._cancel_worker(state.id)

        self.app.push_screen(ConfirmScreen(question, yes="Cancel the run", no="Keep running"), answered)

    @work(thread=True, exclusive=True, group="monitor-cancel", exit_on_error=False, name="cancel run")
    def _cancel_worker(self, run_id: str) -> None:
        from engine.runs.control import cancel_run

        try:
            state = cancel_run(self.lab, run_id)
        except (OliveLabError, OSError) as exc:
            self.post_message(MonitorActionDone("cancel", error=str(exc)))
            return
        except Exception:  # unforeseen: end the "cancelling…" line; the app reports and logs the error
            self.post_message(MonitorActionDone("cancel"))
            raise
        self.post_message(MonitorActionDone("cancel", result=f"run {run_id}: {state.status}"))

    def copy_link(self, state: RunState | None) -> None:
        link = studio_link(state)
        if link:
            self.app.copy_to_clipboard(link)
            self.notify(f"on the clipboard (if the terminal allows OSC 52): {link}", timeout=6, markup=False)

    def branches(self, state: RunState | None, run_dir: Path | None) -> None:
        """The sweep shown: its branches side by side (status, curves on one scale, scores), to pick from."""
        if state is None or state.sweep is None or run_dir is None:
            keys = keymap.key_label(self.app, "steps.sweep")
            self.notify(f"The run shown is not a sweep (Steps: {keys} starts one).", severity="warning")
            return
        from tui.screens.sweep import SweepScreen

        self.app.push_screen(SweepScreen(run_dir))

    def export(self, state: RunState | None, run_dir: Path | None) -> None:
        """The run shown, exported with its model card (a sweep: pick the branch on its branches view)."""
        from engine.runs.models import finished_models
        from tui.screens.export import ExportScreen

        if state is not None and state.sweep is not None:
            self.branches(state, run_dir)
            return
        model = next((m for m in finished_models(self.lab) if m.folder == run_dir), None)
        if model is None:
            self.notify("The run shown has no finished model to export.", severity="warning")
            return
        self.app.push_screen(ExportScreen(self.lab, model))

    def compare(self, state: RunState | None, run_dir: Path | None) -> None:
        if run_dir is None:
            self.notify("No run to compare.", severity="warning")
            return
        if state is not None and state.sweep is not None:  # a sweep compares its own branches
            self.branches(state, run_dir)
            return
        current = run_dir

        def chosen(run_id: str | None) -> None:
            if run_id:
                from tui.screens.compare import CompareScreen

                self.app.push_screen(CompareScreen(current, self.lab.run_dir(run_id)))

        self.app.push_screen(
            RunPicker(self.lab.runs, title=f"Compare {current.name} with which run?", exclude=current.name),
            chosen,
        )

    def report(self, run_dir: Path | None) -> None:
        if run_dir is None:
            self.notify("No run to report on.", severity="warning")
            return
        self._report_worker(run_dir)

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
        """Told here; the message goes on to the screen, which ends a "cancelling…" line."""
        if message.error:
            self.notify(message.error, title=f"{message.action} failed", severity="error", timeout=20)
        elif message.result and message.action != "cancel":  # a cancel is told by the run's end
            self.notify(message.result)

    def open_log(self, state: RunState | None, run_dir: Path | None) -> None:
        """The run's current (or last) step log in $PAGER (default less), the app suspended meanwhile."""
        import os
        import shlex
        import subprocess

        if state is None or run_dir is None:
            self.notify("No run to show a log of.", severity="warning")
            return
        step = running_step(state) or next((s for s in reversed(state.steps) if s.status not in UNSTARTED_STEP), None)
        path = run_dir / step.name / "step.log" if step is not None else run_dir / "supervisor.log"
        if not path.is_file():
            self.notify(f"{path} does not exist yet.", severity="warning")
            return
        pager = shlex.split(os.environ.get("PAGER") or "less -R")
        try:
            with self.app.suspend():
                subprocess.run([*pager, str(path)], check=False)
        except Exception as exc:  # no terminal to hand over (tests, headless): say where the file is
            self.notify(f"Cannot open a pager here ({exc}); the log is {path}", severity="warning")
