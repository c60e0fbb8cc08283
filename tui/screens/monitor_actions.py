# (a mixin: the screen that inherits it provides the widgets, messages and the attributes used here)
"""The monitor's run actions: start, retry, run from a step, cancel, pick, compare, report, the step log in
$PAGER, and the toasts that announce what a run did.

A mixin of `MonitorScreen`, kept apart so the screen file stays about showing the run. Every action goes
through `engine.runs.control` (or the report writer) in a thread worker; results come back as messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.notifications import SeverityLevel

from engine.errors import OliveLabError
from engine.runs import events as ev
from engine.runs.state import STOPPED_STEP, UNSTARTED_STEP, effective_status
from engine.runs.view import format_duration
from engine.steps.spec import STEP_NAMES
from tui import keymap
from tui.messages import MonitorActionDone, RunStarted
from tui.screens.confirm import ConfirmScreen
from tui.widgets.curves import Curves
from tui.widgets.remote_job import RemoteJobLine, studio_link
from tui.widgets.run_picker import RunPicker, StepPicker
from tui.widgets.run_text import failed_step, failure_text, running_step

if TYPE_CHECKING:
    from textual.screen import Screen

    from engine.config import LabConfig
    from engine.paths import LabPaths
    from engine.runs.state import RunState

    _Screen = Screen[None]
else:
    _Screen = object  # a mixin of the monitor screen; typed as the screen it is part of


class RunActions(_Screen):
    """Actions on runs for a screen that has `lab`, `config`, `state`, `run_dir` and `show_run`."""

    if TYPE_CHECKING:  # provided by the monitor screen

        @property
        def lab(self) -> LabPaths: ...
        @property
        def config(self) -> LabConfig: ...
        def show_run(self, run_dir: Path, *, pinned: bool = False) -> None: ...

    state: RunState | None
    run_dir: Path | None
    _finished: list[str]
    _finished_timer: Any

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
        else:  # a stopped fine-tune goes on from its last checkpoint
            self._start(step, resume=step == "finetune")

    def action_run_from_step(self) -> None:
        def chosen(step: str | None) -> None:
            if step:
                self._start(step)

        self.app.push_screen(StepPicker(list(STEP_NAMES)), chosen)

    def _start(self, from_step: str | None, *, resume: bool = False) -> None:
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

    @work(thread=True, exclusive=True, group="monitor-start", exit_on_error=False, name="start run")
    def _start_worker(self, from_step: str | None, resume: bool = False) -> None:
        from engine.runs.control import start_run

        try:
            run_id = start_run(self.lab, self.config, from_step=from_step, resume=resume)
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
                    self.query_one(RemoteJobLine).cancelling = True
                    self.query_one(RemoteJobLine).show(self.state)
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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "copy_link":  # in the footer only while the run shown has an Azure ML job's link
            return studio_link(self.state) is not None
        if action == "branches":  # in the footer only while the run shown is a sweep
            return self.state is not None and self.state.sweep is not None
        return True

    def action_copy_link(self) -> None:
        link = studio_link(self.state)
        if link:
            self.app.copy_to_clipboard(link)
            self.notify(f"on the clipboard (if the terminal allows OSC 52): {link}", timeout=6, markup=False)

    def action_pick_run(self) -> None:
        def chosen(run_id: str | None) -> None:
            if run_id:
                self.show_run(self.lab.run_dir(run_id), pinned=True)

        self.app.push_screen(RunPicker(self.lab.runs), chosen)

    def action_chart(self, what: str) -> None:
        """The chart's keys: log scale, zoom in and out, every step, the next curve (tui/widgets/curves.py)."""

        self.query_one(Curves).act(what)  # the chart's legend says what it shows now

    def action_branches(self) -> None:
        """The sweep shown: its branches side by side (status, curves on one scale, scores), to pick from."""
        if self.state is None or self.state.sweep is None or self.run_dir is None:
            self.notify("The run shown is not a sweep (Steps: ctrl+b starts one).", severity="warning")
            return
        from tui.screens.sweep import SweepScreen

        self.app.push_screen(SweepScreen(self.run_dir))

    def action_export(self) -> None:
        """The run shown, exported with its model card (a sweep: pick the branch on its branches view)."""
        from engine.runs.models import finished_models
        from tui.screens.export import ExportScreen

        if self.state is not None and self.state.sweep is not None:
            self.action_branches()
            return
        model = next((m for m in finished_models(self.lab) if m.folder == self.run_dir), None)
        if model is None:
            self.notify("The run shown has no finished model to export.", severity="warning")
            return
        self.app.push_screen(ExportScreen(self.lab, model))

    def action_compare(self) -> None:
        if self.run_dir is None:
            self.notify("No run to compare.", severity="warning")
            return
        if self.state is not None and self.state.sweep is not None:  # a sweep compares its own branches
            self.action_branches()
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
        if message.action == "cancel":
            self.query_one(RemoteJobLine).cancelling = False
            self.query_one(RemoteJobLine).show(self.state)
        if message.error:
            self.notify(message.error, title=f"{message.action} failed", severity="error", timeout=20)
        elif message.result and message.action != "cancel":  # a cancel is told by the run's end
            self.notify(message.result)

    def _announce(self, events: list[ev.Event]) -> None:
        """One toast per thing that happened. Finished and reused steps are gathered into one toast (an
        all-reused run finishes six steps in half a second); a step that failed or was cancelled is told in
        the toast of the run's end, which comes a moment later, with the reason pinned on the screen."""
        for event in events:
            if isinstance(event, ev.StepFinished) and event.status in STOPPED_STEP:
                reason = f": {event.reason}" if event.reason else ""
                self._finished.append(f"{event.step} {event.status}{reason}")
                self._finished_timer = self._finished_timer or self.set_timer(3.0, self._announce_finished)
            elif isinstance(event, ev.StepFinished):
                took = format_duration(event.duration_s)
                done = f" in {took}" if took and event.status == "done" else ""
                self._finished.append(f"{event.step} {event.status}{done}")
                self._finished_timer = self._finished_timer or self.set_timer(0.6, self._announce_finished)
            elif isinstance(event, ev.RunFinished):
                self._announce_run_end(event)

    def _announce_run_end(self, event: ev.RunFinished) -> None:
        title = f"run {self.run_dir.name if self.run_dir else ''} {event.status}"
        steps = self._take_finished()
        self.app.bell()
        if event.status == "done":
            chat = keymap.key_label(self.app, "app.chat")
            self.notify(f"{steps}\nnext: press {chat} to chat with the model".lstrip(), title=title, timeout=10)
            return
        why = failure_text(self.state) or (f"✘ {event.reason}" if event.reason else "")
        if event.status == "cancelled":
            why = steps or "finished steps and all logs are kept"
        severity: SeverityLevel = "error" if event.status == "failed" else "warning"
        self.notify(why or "see the log", title=title, severity=severity, timeout=20, markup=False)

    def _take_finished(self) -> str:
        if self._finished_timer is not None:
            self._finished_timer.stop()
            self._finished_timer = None
        text = " · ".join(self._finished)
        self._finished.clear()
        return text

    def _announce_finished(self) -> None:
        text = self._take_finished()
        if text:
            failed = "failed" in text
            self.notify(text, severity="error" if failed else "information", timeout=20 if failed else 6)

    def action_open_log(self) -> None:
        """The shown run's current (or last) step log in $PAGER (default less), the app suspended meanwhile."""
        import os
        import shlex
        import subprocess

        if self.state is None or self.run_dir is None:
            self.notify("No run to show a log of.", severity="warning")
            return
        step = running_step(self.state) or next(
            (s for s in reversed(self.state.steps) if s.status not in UNSTARTED_STEP), None
        )
        path = self.run_dir / step.name / "step.log" if step is not None else self.run_dir / "supervisor.log"
        if not path.is_file():
            self.notify(f"{path} does not exist yet.", severity="warning")
            return
        pager = shlex.split(os.environ.get("PAGER") or "less -R")
        try:
            with self.app.suspend():
                subprocess.run([*pager, str(path)], check=False)
        except Exception as exc:  # no terminal to hand over (tests, headless): say where the file is
            self.notify(f"Cannot open a pager here ({exc}); the log is {path}", severity="warning")
