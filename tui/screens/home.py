"""The checklist: where the lab stands, what the machine lacks, and one key to run everything.

Reading runs and checking the machine happen in thread workers; results arrive as messages.
"""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static

from engine.errors import OliveLabError
from engine.runs.state import ACTIVE_RUN, RunFileError, read_state
from tui import keymap
from tui.messages import ChecklistLoaded, DoctorChecked, RunFailedToStart, RunStarted
from tui.widgets.checklist import LAB_TOML, Checklist, dataset_item, read_checklist, read_effects
from tui.widgets.mode_bar import ModeBar

if TYPE_CHECKING:
    from engine.config import LabConfig
    from engine.doctor import Check
    from tui.app import OliveLabApp

log = logging.getLogger("olive_lab.home")

RUN_POLL_S = 2.0
"""How often the checklist reads the runs again while the newest one is going (its supervisor writes them)."""


def _block(lead_markup: str, lead_plain: str, text: str, width: int, indent: int) -> list[str]:
    """`lead` then `text`, wrapped to `width` with later lines indented by `indent` (no wrapping when the
    width is not known yet: Textual wraps then)."""
    if width <= indent + 10:
        return [lead_markup + escape(text)]
    wrapped = textwrap.wrap(lead_plain + text, width=width, subsequent_indent=" " * indent)
    first = wrapped[0][len(lead_plain) :] if wrapped[0].startswith(lead_plain) else wrapped[0]
    return [lead_markup + escape(first)] + [escape(line) for line in wrapped[1:]]


def doctor_text(checks: list[Check], width: int = 0) -> str:
    """The checks that need attention, each with its fix in plain words; or a one-line all-clear. With a
    `width`, wrapped lines are indented under their check, so each problem reads as one block."""
    problems = [c for c in checks if c.status != "ok"]
    if not checks:
        return "No checks ran."
    if not problems:
        return f"[$step-done]✔ All {len(checks)} checks passed.[/]"
    lines = [f"{len(problems)} of {len(checks)} checks need attention:"]
    for check in problems:
        mark = "[b $step-failed]✘[/]" if check.status == "fail" else "[b $warning]![/]"
        lines += _block(f"{mark} [b]{escape(check.name)}[/b]: ", f"! {check.name}: ", check.detail, width, 2)
        if check.fix:
            lines += _block("    fix: ", "    fix: ", check.fix, width, 9)
    return "\n".join(lines)


class WrappedPanel(Static):
    """A panel whose text the screen wraps to its width by hand (hanging indents): wrapped again whenever that
    width changes, the terminal's or the body's scrollbar coming or going (else Textual wraps it again, and a
    word lands unindented: "│ environment;")."""

    def on_resize(self) -> None:
        if isinstance(self.screen, HomeScreen):
            self.screen.rewrap()


class HomeScreen(Screen[None]):
    """The lab's steps with done/next marks, the machine's problems, and `r` to run the pipeline."""

    SCOPE = "home"
    AUTO_FOCUS = "#checklist"
    _checks: list[Check] | None = None  # the last doctor results, drawn again when the width changes
    BINDINGS = keymap.bindings("home")

    @property
    def lab_app(self) -> OliveLabApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield ModeBar("home")
        with VerticalScroll(id="home-body"):
            yield Static(id="run-line")
            yield Checklist(id="checklist")
            yield WrappedPanel(id="effects")
            yield WrappedPanel("Checking this machine…", id="doctor")
        yield Footer(compact=True)

    _suggested: dict[str, str] = {}
    _run_id: str | None = None
    _run_status: str | None = None
    _statuses: dict[str, str] = {}

    def on_mount(self) -> None:
        self.query_one("#checklist").border_title = "Steps (Enter acts on a line)"
        self.query_one("#home-body").can_focus = False  # arrows and Enter belong to the checklist
        self.query_one(Checklist).focus()
        self.query_one("#doctor").border_title = "This machine"
        self.query_one("#effects").display = False  # until a run has an evaluation
        self.lab_app.config_changed_signal.subscribe(self, self._config_changed)
        self.load_checklist()
        self.lab_app.after_first_frame(self.load_checklist)  # now with the dataset check (it needs pydantic)
        self.lab_app.after_first_frame(self.run_doctor)  # the checks take a while: not before the first frame
        self.set_interval(RUN_POLL_S, self._follow_run)

    def _follow_run(self) -> None:
        """While the newest run is going and the checklist is shown, read it again: a run the app reattached to
        is followed here too, not only on the monitor."""
        if self._run_status in ACTIVE_RUN and self.app.screen is self:
            self.load_checklist()

    def action_scroll_body(self, pages: int) -> None:
        """PgUp/PgDn: the machine's checks below the steps, out of view at 80x24, are reached from the keyboard."""
        body = self.query_one("#home-body", VerticalScroll)
        body.scroll_page_down() if pages > 0 else body.scroll_page_up()

    def on_screen_resume(self) -> None:
        self.load_checklist()

    def _config_changed(self, config: LabConfig) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        self.load_checklist()
        self.run_doctor()

    @work(thread=True, exclusive=True, group="checklist", exit_on_error=False, description="Reading runs")
    def load_checklist(self) -> None:
        app = self.lab_app
        run_id, run_status, statuses, details = read_checklist(app.lab)
        problem, suggested = dataset_item(app.lab, app.config) if app.first_frame_done else (None, {})
        if problem:  # the next run would stop on it, whatever the newest run did
            statuses = {**statuses, "dataset": "failed"}
            details = {**details, "dataset": problem}
        if app.config_error:  # a broken lab.toml: a line of its own, first (nothing runs until it is fixed)
            statuses = {**statuses, LAB_TOML: "failed"}
            details = {**details, LAB_TOML: app.config_error}
        if run_status:
            details = {**details, "_run": run_status}
        self.post_message(ChecklistLoaded(run_id, statuses, details, suggested, read_effects(app.lab)))

    @work(thread=True, exclusive=True, group="doctor", exit_on_error=False, description="Checking the machine")
    def run_doctor(self) -> None:
        app = self.lab_app
        checks_fn = app.checks
        if checks_fn is None:
            try:
                from engine.doctor import run_checks
            except ImportError:
                self.post_message(DoctorChecked([]))
                return
            checks_fn = run_checks
        self.post_message(DoctorChecked(list(checks_fn(app.lab, app.config))))

    @on(ChecklistLoaded)
    def _show_checklist(self, message: ChecklistLoaded) -> None:
        self._suggested = message.suggested_fields
        self._statuses = message.statuses
        self._run_id = message.run_id
        details = dict(message.details)
        run_status = details.pop("_run", None)
        self._run_status = run_status
        checklist = self.query_one(Checklist)
        checklist.show(message.statuses, details)
        if self.focused is None and self.app.screen is self:
            checklist.focus()
        self._show_effects(message.effects)
        line = self.query_one("#run-line", Static)
        run_key = keymap.key_label(self.app, "home.run")
        if self.lab_app.config_error and run_status not in ACTIVE_RUN:
            name = self.lab_app.lab.config.name
            line.update(f"{name} has a problem (the first line below): fix it, then press [b]{run_key}[/b].")
        elif message.run_id is None:
            line.update(f"No runs yet: press [b]{run_key}[/b] to run the demo pipeline on the CPU")
        elif run_status in ACTIVE_RUN:
            monitor_key = keymap.key_label(self.app, "app.monitor")
            line.update(f"Run [b]{message.run_id}[/b] is {run_status}: press [b]{monitor_key}[/b] to watch it.")
        else:
            line.update(f"Newest run [b]{message.run_id}[/b] ({run_status}). Press [b]{run_key}[/b] to run again.")

    _effects: tuple[str, list[str]] | None = None  # drawn again when the width changes

    def _show_effects(self, effects: tuple[str, list[str]] | None) -> None:
        self._effects = effects
        panel = self.query_one("#effects", Static)
        if effects is not None and not panel.display:  # its width is known once it is laid out
            self.call_after_refresh(self._draw_effects)
        panel.display = effects is not None
        self._draw_effects()

    def _draw_effects(self) -> None:
        """The "what each step did" panel: the sample size, each step's change, and a warning where the
        held-out split is too small for that change to mean anything (wrapped lines indented under theirs)."""
        if self._effects is None:
            return
        panel = self.query_one("#effects", Static)
        source, lines = self._effects
        panel.border_title = f"What each step did ({source})"
        width, out = panel.content_size.width, []
        for line in lines:
            warning = line.strip().removeprefix("warning: ")
            if warning != line.strip():
                out += _block("  [b $warning]![/] ", "  ! ", warning, width, 4)
            else:
                out += _block("", "", line, width, 2)
        panel.update("\n".join(out))

    @on(DoctorChecked)
    def _show_doctor(self, message: DoctorChecked) -> None:
        self._checks = message.checks
        self._show_checks()

    def _show_checks(self) -> None:
        box = self.query_one("#doctor", Static)
        checks = self._checks
        text = doctor_text(checks, box.content_size.width) if checks else "Checks are not available in this build."
        box.update(text)

    def rewrap(self) -> None:
        """Wrap the panels' text again, to the width they have now."""
        if self._checks:
            self.call_after_refresh(self._show_checks)
        if self._effects:
            self.call_after_refresh(self._draw_effects)

    @on(OptionList.OptionSelected, "#checklist")
    async def _act(self, event: OptionList.OptionSelected) -> None:
        """Enter on a line: go where that step is fixed, watched or used."""
        name = event.option.id or ""
        status = self._statuses.get(name, "todo")
        if name == "dataset" and self._suggested:
            await self._use_suggested_fields()
        elif name == "dataset":
            await self.app.switch_mode("dataset")
        elif name == LAB_TOML:
            await self.app.switch_mode("steps")
        elif name in ("finetune", "optimize") and self._sweep_dir() is not None:
            from tui.screens.sweep_start import open_sweep

            await open_sweep(self.lab_app, self._sweep_dir())  # type: ignore[arg-type]
        elif name in ("quantize", "finetune", "optimize"):
            await self.app.switch_mode("monitor" if status in ("running", "failed", "done") else "steps")
        elif name == "chat":
            await self.app.switch_mode("chat")
        elif name == "upload":
            self.action_open_upload()

    def _sweep_dir(self) -> Path | None:
        """The newest run's folder when it is a sweep (its fine-tune and optimize lines open its branches)."""

        run_dir = self.lab_app.lab.run_dir(self._run_id) if self._run_id else None
        try:
            return run_dir if run_dir is not None and read_state(run_dir).sweep is not None else None
        except RunFileError:
            return None

    async def _use_suggested_fields(self) -> None:
        from tui.screens.steps import propose_fields

        await propose_fields(self.lab_app, self._suggested)

    def action_open_upload(self) -> None:
        """The checklist's "Upload to Azure ML" item (also in the palette: "azure", "upload")."""
        from tui.screens.upload import UploadScreen

        self.app.push_screen(UploadScreen())

    def action_run_pipeline(self) -> None:
        refusal = self.lab_app.run_refusal()
        if refusal:
            self.notify(refusal, title="lab.toml", severity="error", timeout=15)
            return
        self.lab_app.start_with_saved_settings(self._start_now)

    def _start_now(self) -> None:
        self.notify("Starting the pipeline…")
        self.start_pipeline()

    @work(thread=True, exclusive=True, group="start-run", exit_on_error=False, description="Starting the run")
    def start_pipeline(self) -> None:
        app = self.lab_app
        try:
            from engine.runs.control import start_run
        except ImportError:
            self.post_message(RunFailedToStart("the pipeline is not available in this build"))
            return
        try:
            run_id = start_run(app.lab, app.config)
        except OliveLabError as exc:  # a refusal the engine explains: its message and hint
            self.post_message(RunFailedToStart(exc.full()))
            return
        except Exception as exc:  # an unforeseen failure: logged with its traceback, shown in one line
            log.exception("start_run failed")
            self.post_message(RunFailedToStart(str(exc) or type(exc).__name__))
            return
        self.post_message(RunStarted(run_id))

    @on(RunStarted)
    async def _run_started(self, message: RunStarted) -> None:
        log.info("run %s started", message.run_id)
        self.notify(f"Run {message.run_id} started")
        await self.app.switch_mode("monitor")

    @on(RunFailedToStart)
    def _run_failed(self, message: RunFailedToStart) -> None:
        self.notify(message.reason, title="The pipeline did not start", severity="error", timeout=15)
        line = self.query_one("#run-line", Static)  # kept on screen: the toast goes, the reason stays
        line.update(f"[b $step-failed]✘ The pipeline did not start:[/] {escape(message.reason)}")
        self.load_checklist()
