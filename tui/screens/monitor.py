"""The monitor: one screen that shows a pipeline run as it happens, or as it ended.

It only reads the run folder (through `engine.runs.watch` in a worker thread), so closing the app never stops a
run and reopening it finds the run again with its whole log. The screen follows one run and wires its widgets:
the panels draw the run (`tui.widgets.run_panels`), the find box searches the log (`tui.widgets.log_search`),
the toasts tell what happened (`tui.widgets.run_toasts`), and the run actions (start, cancel, retry, ...) go
through `tui.widgets.run_control`, whose calls reach `engine.runs.control` and its detached supervisor.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import get_current_worker

from engine.config import LabConfig
from engine.gpu.sampler import Sampler
from engine.paths import LabPaths
from engine.runs import events as ev
from engine.runs import select
from engine.runs.state import RunState, sweep_of
from engine.runs.view import as_seen
from engine.runs.watch import RunDigest, RunWatcher
from tui import keymap
from tui.messages import MonitorActionDone, MonitorRunUpdated, RunStarted
from tui.widgets.curves import Curves
from tui.widgets.gpu_strip import GpuStrip
from tui.widgets.log_search import LogSearch
from tui.widgets.log_view import LogView
from tui.widgets.mode_bar import ModeBar
from tui.widgets.remote_job import RemoteJobLine, studio_link
from tui.widgets.run_control import RunControl, config_of, lab_of
from tui.widgets.run_panels import EvaluationPanel, FailureReason, LivePanel, RunTitle
from tui.widgets.run_picker import RunPicker
from tui.widgets.run_text import running_step
from tui.widgets.run_toasts import RunToasts
from tui.widgets.timeline import Timeline

POLL_LIVE_S = 0.1
POLL_FINISHED_S = 1.0
GPU_IDLE_PCT = 5.0
CHART_ROWS = 7  # the curves' height at 24 rows; a taller terminal gives them half of each row beyond
TOP_ROWS = 12


class MonitorScreen(Screen[None]):
    """The run shown: its steps, the running step's progress, the loss, GPU and host, and the log."""

    SCOPE = "monitor"
    BINDINGS = keymap.bindings("monitor")
    DEFAULT_CSS = """
    MonitorScreen { layout: vertical; }
    #mon-title { height: auto; max-height: 2; padding: 0 1; background: $panel; }
    #mon-top { height: auto; max-height: 12; }
    #mon-timeline { width: 32; height: auto; border: round $primary 40%; }
    #mon-live { width: 1fr; height: auto; border: round $primary 40%; padding: 0 1; }
    #mon-progress { height: auto; }
    #mon-loss { height: 7; }
    #mon-gpu { height: auto; max-height: 3; padding: 0 1; }
    #mon-reason { height: auto; padding: 0 1; background: $error 25%; color: $text; display: none; }
    #mon-reason.-shown { display: block; }
    #mon-remote { background: $primary 12%; }
    #mon-eval { height: auto; max-height: 10; padding: 0 1; border-top: solid $primary 40%; display: none; }
    #mon-eval.-shown { display: block; }
    MonitorScreen.-log-zoomed #mon-top, MonitorScreen.-log-zoomed #mon-gpu, MonitorScreen.-log-zoomed #mon-remote,
    MonitorScreen.-log-zoomed #mon-eval {
        display: none;
    }
    #mon-search { display: none; dock: bottom; }
    #mon-search.-shown { display: block; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.run_dir: Path | None = None
        self.state: RunState | None = None
        self.digest = RunDigest()
        self.pinned_by_user = False
        self._generation = 0
        self._log_grew_at: float | None = None
        self._sampler: Any = None
        self._own_sampler = False
        self._has_link = False
        self._sweep_pinned = False  # while a branch is followed: whether the user had chosen its sweep
        self._runs_stamp: int | None = None  # the runs folder's mtime when the newest run was last looked for

    # set-up ------------------------------------------------------------------------------------------

    @property
    def lab(self) -> LabPaths:
        return lab_of(self.app)

    @property
    def config(self) -> LabConfig:
        return config_of(self.app)

    def compose(self) -> ComposeResult:
        yield ModeBar("monitor")
        yield RunTitle(id="mon-title")
        with Horizontal(id="mon-top"):
            yield Timeline(id="mon-timeline")
            yield LivePanel(id="mon-live")
        yield GpuStrip(id="mon-gpu")
        yield RemoteJobLine(id="mon-remote")
        yield FailureReason(id="mon-reason")
        yield EvaluationPanel(id="mon-eval")
        yield (log := LogView(id="mon-log"))
        yield LogSearch(
            log, placeholder="find in the log: Enter searches, n / N next / previous, Esc closes", id="mon-search"
        )
        yield RunControl()
        yield RunToasts()
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one(Timeline).border_title = "steps"
        self.query_one(RemoteJobLine).copy_key = keymap.key_label(self.app, "monitor.copy_link")
        self.query_one(LogView).focus()
        self._start_sampler()
        self.on_resize()
        self._show_resources()
        self.set_interval(1.0, self._tick)
        run_dir = self._run_to_show()
        if run_dir is not None:
            self.show_run(run_dir)
        else:
            self.query_one(RunTitle).show_empty()
            self.query_one(Timeline).show(None)

    def on_resize(self) -> None:
        """The curves grow with a tall terminal (at 80x24 they keep CHART_ROWS; the log gets the rest)."""
        extra = max(0, (self.app.size.height - 24) // 2)
        self.query_one("#mon-loss").styles.height = CHART_ROWS + extra
        self.query_one("#mon-top").styles.max_height = TOP_ROWS + extra

    def on_unmount(self) -> None:
        if self._own_sampler and self._sampler is not None:
            self._sampler.stop()

    def on_screen_resume(self) -> None:
        """Coming back to the monitor: follow a run that started meanwhile, unless the user chose one."""
        if not self.pinned_by_user:
            run_dir = self._run_to_show()
            if run_dir is not None and run_dir != self.run_dir:
                self.show_run(run_dir)

    def _run_to_show(self) -> Path | None:
        running = select.active(self.lab)
        if running:
            return running.dir
        newest = select.newest(self.lab)
        return newest.dir if newest else None

    def _start_sampler(self) -> None:
        self._sampler = getattr(self.app, "gpu_sampler", None)
        if self._sampler is None:
            self._sampler = Sampler(interval=2.0, lab_dir=self.lab.root).start()
            self._own_sampler = True

    # following a run ---------------------------------------------------------------------------------

    def show_run(self, run_dir: Path, *, pinned: bool = False) -> None:
        """Show `run_dir` from its beginning, then follow it."""
        if self.run_dir is not None and sweep_of(run_dir) == self.run_dir:
            self._sweep_pinned = self.pinned_by_user  # back to the sweep as it was followed
        self._generation += 1
        self.run_dir = run_dir
        self.state = None
        self.digest = RunDigest()
        self.pinned_by_user = pinned
        self._log_grew_at = None
        self.query_one(LivePanel).reset_stall()
        self.query_one(LogView).reset()
        self._refresh_all()
        self.query_one(LivePanel).show_chart(self.state, self.digest)
        self._watch(run_dir, self._generation)

    @work(thread=True, exclusive=True, group="monitor-watch", exit_on_error=False, name="run watcher")
    def _watch(self, run_dir: Path, generation: int) -> None:
        worker = get_current_worker()
        watcher = RunWatcher(run_dir, backlog_bytes=2 * 1024 * 1024, read_bytes=1024 * 1024)
        while not worker.is_cancelled:
            update = watcher.poll()
            if update:
                self.post_message(MonitorRunUpdated(generation, update))
            while self.message_queue_size > 4 and not worker.is_cancelled:
                time.sleep(0.02)  # the screen is behind: let it catch up before reading more
            done = watcher.state is not None and watcher.state.finished
            worker.cancelled_event.wait(POLL_FINISHED_S if done else POLL_LIVE_S)

    def on_monitor_run_updated(self, message: MonitorRunUpdated) -> None:
        if message.generation != self._generation:
            return
        update = message.update
        if update.lines:
            self.query_one(LogView).append(update.lines)
        if update.log_grew_at:
            self._log_grew_at = update.log_grew_at
        if update.events:
            self.digest.apply(update.events)
            if any(isinstance(e, (ev.LossEvent, ev.EvalLossEvent)) for e in update.events):
                self.query_one(LivePanel).show_chart(self.state, self.digest)
        if update.problem:
            self.query_one(RunTitle).show_problem(self.run_dir, update.problem)
        if update.state is not None:
            self.state = self._as_seen(update.state)
            self._refresh_all()
        else:
            self.query_one(LivePanel).show_progress(self.state, self.digest, time.time())
        if update.events and not update.catching_up:  # after the state, so a failed run's toast has its reason
            self.query_one(RunToasts).announce(update.events, self.run_dir.name if self.run_dir else "", self.state)

    # drawing -----------------------------------------------------------------------------------------

    def _refresh_all(self) -> None:
        state = self.state
        self.query_one(RunTitle).show(self.run_dir, state, pinned=self.pinned_by_user)
        self.query_one(Timeline).show(state)
        self.query_one(FailureReason).show(state)
        live = self.query_one(LivePanel)
        live.show_progress(state, self.digest, time.time())
        self._refresh_remote()
        live.show_chart_note(state)
        self.query_one(EvaluationPanel).show(self.run_dir, state)

    def _refresh_remote(self) -> None:
        """The Azure ML step's line; the copy-link key shows in the footer while there is a link."""
        self.query_one(RemoteJobLine).show(self.state)
        step = running_step(self.state)
        self.query_one(LivePanel).show_job(step.remote if step is not None else None)
        if self._has_link != bool(studio_link(self.state)):
            self._has_link = not self._has_link
            self.refresh_bindings()

    def _as_seen(self, state: RunState) -> RunState:
        """A lost run's state with its timers stopped at the supervisor's last sign of life."""
        return as_seen(self.run_dir, state)[1] if self.run_dir is not None else state

    def _tick(self) -> None:
        now = time.time()
        if self.state is not None and not self.state.finished and self.state.ended_at is None:
            seen = self._as_seen(self.state)
            if seen is not self.state:  # the supervisor has just been found gone: stop the clocks
                self.state = seen
                self._refresh_all()
                return
            self.query_one(Timeline).tick(now)
            self.query_one(RunTitle).show(self.run_dir, self.state, pinned=self.pinned_by_user)
            live = self.query_one(LivePanel)
            live.check_stall(self.state, now, self._log_grew_at, self.config.stall_minutes, self._gpu_idle())
            live.show_progress(self.state, self.digest, now)
        self._show_resources()
        if not self.pinned_by_user and (self.run_dir is None or (self.state is not None and self.state.finished)):
            self._follow_newest()

    def _follow_newest(self) -> None:
        """Show a run started elsewhere (the CLI, another window). A new run folder is renamed into runs/,
        which changes the folder's mtime: until it does, nothing is read."""
        try:
            stamp = self.lab.runs.stat().st_mtime_ns
        except OSError:
            return  # no runs folder: no run
        if stamp == self._runs_stamp:
            return
        self._runs_stamp = stamp
        newest = select.newest(self.lab)
        if newest is not None and newest.dir != self.run_dir:
            self.show_run(newest.dir)

    def _show_resources(self) -> None:
        sample = self._sampler.latest() if self._sampler is not None else None
        if sample is None:
            return
        self.query_one("#mon-gpu", GpuStrip).update_sample(sample)

    def _gpu_idle(self) -> bool:
        sample = self._sampler.latest() if self._sampler is not None else None
        if sample is None or not sample.gpus:
            return True  # nothing says it is busy
        return all((g.util_gpu_pct or 0.0) < GPU_IDLE_PCT for g in sample.gpus)

    # what the run actions tell ----------------------------------------------------------------------

    def on_run_started(self, message: RunStarted) -> None:
        self.show_run(self.lab.run_dir(message.run_id))

    def on_run_control_cancelling(self, message: RunControl.Cancelling) -> None:
        line = self.query_one(RemoteJobLine)
        line.cancelling = True
        line.show(self.state)

    def on_monitor_action_done(self, message: MonitorActionDone) -> None:
        if message.action == "cancel":
            line = self.query_one(RemoteJobLine)
            line.cancelling = False
            line.show(self.state)

    # key actions -------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "copy_link":  # in the footer only while the run shown has an Azure ML job's link
            return studio_link(self.state) is not None
        if action == "branches":  # in the footer only while the run shown is a sweep or one of its branches
            return self._sweep_shown() is not None
        return True

    def action_start_run(self) -> None:
        self.query_one(RunControl).start(None)

    def action_retry(self) -> None:
        self.query_one(RunControl).retry(self.state)

    def action_run_from_step(self) -> None:
        self.query_one(RunControl).run_from_step()

    def action_cancel_run(self) -> None:
        self.query_one(RunControl).cancel(self.state)

    def action_copy_link(self) -> None:
        self.query_one(RunControl).copy_link(self.state)

    def _sweep_shown(self) -> Path | None:
        """The sweep shown, or the one whose branch is shown."""
        if self.run_dir is not None and (sweep := sweep_of(self.run_dir)) is not None:
            return sweep
        return self.run_dir if self.state is not None and self.state.sweep is not None else None

    def action_branches(self) -> None:
        branch, sweep = self.run_dir, self._sweep_shown()
        if branch is not None and sweep is not None and sweep != branch:  # a branch followed: back to its sweep
            self.show_run(sweep, pinned=self._sweep_pinned)
            from tui.screens.sweep import SweepScreen

            self.app.push_screen(SweepScreen(sweep, chosen=branch.name))
            return
        self.query_one(RunControl).branches(self.state, self.run_dir)

    def action_export(self) -> None:
        self.query_one(RunControl).export(self.state, self.run_dir)

    def action_compare(self) -> None:
        self.query_one(RunControl).compare(self.state, self.run_dir)

    def action_report(self) -> None:
        self.query_one(RunControl).report(self.run_dir)

    def action_open_log(self) -> None:
        self.query_one(RunControl).open_log(self.state, self.run_dir)

    def action_pick_run(self) -> None:
        def chosen(run_id: str | None) -> None:
            if run_id:
                self.show_run(self.lab.run_dir(run_id), pinned=True)

        self.app.push_screen(RunPicker(self.lab.runs), chosen)

    def action_chart(self, what: str) -> None:
        """The chart's keys: log scale, zoom in and out, every step, the next curve (tui/widgets/curves.py)."""
        self.query_one(Curves).act(what)  # the chart's legend says what it shows now

    def action_follow(self) -> None:
        self.query_one(LogView).resume_follow()

    def action_toggle_wrap(self) -> None:
        log = self.query_one(LogView)
        log.wrap = not log.wrap
        self.notify("long log lines " + ("wrap" if log.wrap else "are cut: ← → scroll"), timeout=3)

    def action_toggle_zoom(self) -> None:
        self.toggle_class("-log-zoomed")

    def action_toggle_errors(self) -> None:
        log = self.query_one(LogView)
        log.errors_only = not log.errors_only
        log.border_title = "errors and warnings only (e: all lines)" if log.errors_only else None

    def action_search(self) -> None:
        self.query_one(LogSearch).open()

    def action_close_search(self) -> None:
        search = self.query_one(LogSearch)
        if search.has_class("-shown"):
            search.close()
        elif self.run_dir is not None and sweep_of(self.run_dir) is not None:  # a branch followed: its sweep
            self.action_branches()

    def action_find_next(self) -> None:
        self.query_one(LogSearch).find(forward=False)

    def action_find_prev(self) -> None:
        self.query_one(LogSearch).find(forward=True)
