"""The monitor: one screen that shows a pipeline run as it happens, or as it ended.

It only reads the run folder (through `engine.runs.watch` in a worker thread), so closing the app never stops a
run and reopening it finds the run again with its whole log. Starting, cancelling and retrying go through
`engine.runs.control`, whose detached supervisor owns the run.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from textual.worker import get_current_worker

from engine.config import LabConfig, load_config
from engine.gpu.sampler import Sampler
from engine.paths import LabPaths
from engine.runs import events as ev
from engine.runs import select
from engine.runs.state import SUCCEEDED_STEP, RunState, effective_status
from engine.runs.view import as_seen, format_duration
from engine.runs.watch import RunDigest, RunWatcher
from engine.steps.evaluation import evaluation_table, run_evaluation
from tui import keymap
from tui.messages import MonitorRunUpdated
from tui.screens.monitor_actions import RunActions
from tui.widgets.curves import Curve, Curves
from tui.widgets.field_input import FieldInput
from tui.widgets.gpu_strip import GpuStrip
from tui.widgets.log_view import LogView
from tui.widgets.mode_bar import ModeBar
from tui.widgets.remote_job import RemoteJobLine, studio_link
from tui.widgets.run_text import (
    chart_empty_text,
    failure_text,
    progress_text,
    running_step,
)
from tui.widgets.timeline import Timeline

POLL_LIVE_S = 0.1
POLL_FINISHED_S = 1.0
GPU_IDLE_PCT = 5.0


class MonitorScreen(RunActions, Screen[None]):
    """The run shown: its steps, the running step's progress, the loss, GPU and host, and the log."""

    SCOPE = "monitor"
    BINDINGS = keymap.bindings("monitor")
    DEFAULT_CSS = """
    MonitorScreen { layout: vertical; }
    #mon-title { height: 1; padding: 0 1; background: $panel; }
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
        self.search_term = ""
        self._generation = 0
        self._log_grew_at: float | None = None
        self._stall_warned: str | None = None
        self._sampler: Any = None
        self._own_sampler = False
        self._shown_text: dict[str, str] = {}
        self._finished: list[str] = []
        self._finished_timer: Any = None
        self._has_link = False

    # set-up ------------------------------------------------------------------------------------------

    @property
    def lab(self) -> LabPaths:
        lab = getattr(self.app, "lab", None)
        return lab if isinstance(lab, LabPaths) else LabPaths.at()

    @property
    def config(self) -> LabConfig:
        config = getattr(self.app, "config", None)
        return config if isinstance(config, LabConfig) else load_config(self.lab)

    def compose(self) -> ComposeResult:
        yield ModeBar("monitor")
        yield Static("", id="mon-title")
        with Horizontal(id="mon-top"):
            yield Timeline(id="mon-timeline")
            with Vertical(id="mon-live"):
                yield Static("", id="mon-progress")
                yield Curves(id="mon-loss")
        yield GpuStrip(id="mon-gpu")
        yield RemoteJobLine(id="mon-remote")
        yield Static("", id="mon-reason")
        yield Static("", id="mon-eval")
        yield LogView(id="mon-log")
        yield FieldInput(
            placeholder="find in the log: Enter searches, n / N next / previous, Esc closes", id="mon-search"
        )
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#mon-timeline", Timeline).border_title = "steps"
        self.query_one("#mon-live", Vertical).border_title = "now"
        self.query_one(RemoteJobLine).copy_key = keymap.key_label(self.app, "monitor.copy_link")
        self.query_one(LogView).focus()
        self._start_sampler()
        self._show_resources()
        self.set_interval(1.0, self._tick)
        run_dir = self._run_to_show()
        if run_dir is not None:
            self.show_run(run_dir)
        else:
            self._render_empty()

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
        self._generation += 1
        self.run_dir = run_dir
        self.state = None
        self.digest = RunDigest()
        self.pinned_by_user = pinned
        self._log_grew_at = None
        self._stall_warned = None
        self.query_one(LogView).reset()
        self._refresh_all()
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
        log = self.query_one(LogView)
        if update.lines:
            log.append(update.lines)
        if update.log_grew_at:
            self._log_grew_at = update.log_grew_at
        if update.events:
            self.digest.apply(update.events)
            if any(isinstance(e, (ev.LossEvent, ev.EvalLossEvent)) for e in update.events):
                self._refresh_chart()
        if update.problem:
            self._set_text("#mon-title", f"run {self.run_dir.name if self.run_dir else ''} · unreadable: {update.problem}")
        if update.state is not None:
            self.state = self._as_seen(update.state)
            self._refresh_all()
        else:
            self._refresh_progress()
        if update.events and not update.catching_up:
            self._announce(update.events)  # after the state, so a failed run's toast has its reason

    # drawing -----------------------------------------------------------------------------------------

    def _render_empty(self) -> None:
        self._set_text("#mon-title", "No runs yet in this lab. Press r to start the pipeline.")
        self.query_one(Timeline).show(None)

    def _refresh_all(self) -> None:
        self._refresh_title()
        self.query_one(Timeline).show(self.state)
        self._refresh_reason()
        self._refresh_progress()
        self._refresh_remote()
        self._refresh_chart()
        self._refresh_evaluation()

    def _refresh_evaluation(self) -> None:
        """The evaluate step's compact table, once the step is done (read once per run and step status)."""
        step = next((s for s in self.state.steps if s.name == "evaluate"), None) if self.state else None
        done = step is not None and step.status in SUCCEEDED_STEP and self.run_dir is not None
        key = f"{self.run_dir}:{step.status if step else ''}"
        if self._shown_text.get("#mon-eval:key") == key:
            return
        self._shown_text["#mon-eval:key"] = key
        evaluation = run_evaluation(self.run_dir) if done and self.run_dir is not None else None
        self.query_one("#mon-eval", Static).set_class(evaluation is not None, "-shown")
        self._set_text("#mon-eval", evaluation_table(evaluation, compact=True) if evaluation else "")

    def _refresh_title(self) -> None:
        if self.run_dir is None:
            return
        state = self.state
        if state is None:
            self._set_text("#mon-title", f"run {self.run_dir.name} · waiting for the run folder…")
            return
        status = effective_status(state)
        took = format_duration(state.duration_s if state.ended_at else None)
        parts = [f"run {state.id}", state.profile, status]
        if took:
            parts.append(took)
        if state.sweep is not None:
            parts.append(f"sweep of {state.sweep.setting}: {len(state.sweep.branches)} branches ({keymap.key_label(self.app, 'monitor.branches')})")
        if self.pinned_by_user:
            parts.append("(chosen with p)")
        self._set_text("#mon-title", " · ".join(parts))

    def _refresh_reason(self) -> None:
        reason = self.query_one("#mon-reason", Static)
        text = failure_text(self.state)
        reason.set_class(bool(text), "-shown")
        reason.update(Text(text or ""))

    def _refresh_progress(self, now: float | None = None) -> None:
        text = (
            progress_text(self.state, self.digest, time.time() if now is None else now) + self._stall_line()
        )
        self._set_text("#mon-progress", text)

    def _refresh_remote(self) -> None:
        """The Azure ML step's line; the copy-link key shows in the footer while there is a link."""
        self.query_one(RemoteJobLine).show(self.state)
        job = step.remote if (step := running_step(self.state)) is not None else None
        self.query_one(Curves).display = job is None or not (job.waiting or not job.job_name)  # no loss yet
        if self._has_link != bool(studio_link(self.state)):
            self._has_link = not self._has_link
            self.refresh_bindings()

    def _set_text(self, selector: str, text: str) -> None:
        """Update a Static only when its text changes (each update costs a layout pass)."""
        if self._shown_text.get(selector) != text:
            self._shown_text[selector] = text
            self.query_one(selector, Static).update(Text(text))

    def _refresh_chart(self) -> None:
        chart = self.query_one(Curves)
        chart.empty_text = chart_empty_text(self.state)
        d = self.digest
        chart.set_panel("loss", [Curve("train", d.losses, "primary"), Curve("eval", d.eval_losses, "warning", dots=True)])
        chart.set_panel("learning rate", [Curve("learning rate", d.learning_rates, "secondary")])
        chart.set_panel("grad norm", [Curve("grad norm", d.grad_norms, "accent")])

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
            self._refresh_title()
            self._check_stall(now)
            self._refresh_progress(now)
        self._show_resources()
        if not self.pinned_by_user and (
            self.run_dir is None or (self.state is not None and self.state.finished)
        ):
            newest = select.newest(self.lab)  # a run started elsewhere (the CLI, another window)
            if newest is not None and newest.dir != self.run_dir:
                self.show_run(newest.dir)

    def _show_resources(self) -> None:
        sample = self._sampler.latest() if self._sampler is not None else None
        if sample is None:
            return
        self.query_one("#mon-gpu", GpuStrip).update_sample(sample)

    # stall watch -------------------------------------------------------------------------------------

    def _check_stall(self, now: float) -> None:
        step = running_step(self.state)
        if step is None or step.remote is not None:  # a job's GPU is not this machine's: no stall guess
            self._stall_warned = None
            return
        last = max(t for t in (step.last_output_at, self._log_grew_at, step.started_at, 0.0) if t is not None)
        silent_min = (now - last) / 60
        if silent_min < self.config.stall_minutes or not self._gpu_idle():
            self._stall_warned = None
            return
        if self._stall_warned != step.name:
            self._stall_warned = step.name
            self.app.bell()
            self.notify(
                f"{step.name} has printed nothing for {silent_min:.0f} min and the GPU is idle: it may be stuck",
                severity="warning",
                timeout=30,
            )

    def _gpu_idle(self) -> bool:
        sample = self._sampler.latest() if self._sampler is not None else None
        if sample is None or not sample.gpus:
            return True  # nothing says it is busy
        return all((g.util_gpu_pct or 0.0) < GPU_IDLE_PCT for g in sample.gpus)

    def _stall_line(self) -> str:
        if not self._stall_warned:
            return ""
        return f"\n⚠ {self._stall_warned}: no output for {self.config.stall_minutes:g}+ min, GPU idle"

    # log actions -------------------------------------------------------------------------------------

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
        search = self.query_one("#mon-search", Input)
        search.add_class("-shown")
        search.value = self.search_term
        search.focus()

    def action_close_search(self) -> None:
        search = self.query_one("#mon-search", Input)
        if search.has_class("-shown"):
            search.remove_class("-shown")
            self.query_one(LogView).focus()

    @on(Input.Submitted, "#mon-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        self.search_term = event.value
        self.action_close_search()
        self._find(forward=False, fresh=True)

    def action_find_next(self) -> None:
        self._find(forward=False)

    def action_find_prev(self) -> None:
        self._find(forward=True)

    def _find(self, *, forward: bool, fresh: bool = False) -> None:
        if not self.search_term:
            self.notify("Press / to search the log first.", severity="warning")
            return
        log = self.query_one(LogView)
        start = None
        if fresh:
            log.match_line = -1
        found = log.find(self.search_term, forward=forward, start=start)
        if found is None:
            where = "after" if forward else "before"
            scope = "the match" if log.match_line >= 0 else "the end"
            self.notify(f"{self.search_term!r}: no more lines {where} {scope}", severity="warning")

