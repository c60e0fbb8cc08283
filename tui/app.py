"""The composition root: the App, its modes, themes, keys and settings. Screens do the work.

Screens other than the checklist are imported when first opened, so the first frame comes fast. For the
same reason the first frame is drawn from `lab.toml`'s raw `theme` and `[keys]`; the validated settings
(pydantic) and themes are read in a worker right after it, and their problems reported then. `app.config`
reads the settings at once if a screen asks first. `app.lab` and `app.config` are what every screen reads;
`app.set_config()` is how a screen changes them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, work
from textual.app import App
from textual.screen import ModalScreen, Screen
from textual.signal import Signal
from textual.worker import Worker, WorkerState

from engine.config import LabConfigError, build_config, load_config, save_config
from engine.paths import BUNDLED_THEMES, LabPaths
from tui import keymap
from tui.app_setup import DEFAULT_THEME, esc_then, read_early_settings, read_esc_digits_as_alt, setup_app_log
from tui.commands import LabCommands
from tui.message_routing import LAB_TOML_NOT_USED, MessageRouting
from tui.messages import ConfigChanged, SettingsLoaded
from tui.screens.confirm import ConfirmScreen
from tui.screens.help import HelpScreen
from tui.screens.home import HomeScreen
from tui.settings_watch import LAB_TOML_POLL_S, EditHolder, LabTomlWatch, not_used
from tui.theme_vars import VARIABLE_DEFAULTS
from tui.themes import bundled_theme, load_themes

if TYPE_CHECKING:
    from engine.config import LabConfig

log = logging.getLogger("olive_lab.app")

EXIT_AFTER_FIRST_FRAME = "OLIVE_LAB_EXIT_AFTER_FIRST_FRAME"
"""Set to 1 to quit as soon as the first frame is drawn (the start-up benchmark uses it)."""
FIRST_FRAME_STAMP = "OLIVE_LAB_FIRST_FRAME_STAMP"
"""A file to write the wall-clock time of the first frame into (the start-up benchmark reads it)."""


def _dataset_screen() -> Screen[None]:
    from tui.screens.dataset import DatasetScreen

    return DatasetScreen()


def _steps_screen() -> Screen[None]:
    from tui.screens.steps import StepsScreen

    return StepsScreen()


def _monitor_screen() -> Screen[None]:
    from tui.screens.monitor import MonitorScreen

    return MonitorScreen()


def _gpu_screen() -> Screen[None]:
    from tui.screens.gpu import GpuScreen

    return GpuScreen()


def _chat_screen() -> Screen[None]:
    from tui.screens.chat import ChatScreen

    return ChatScreen()


class OliveLabApp(MessageRouting, LabTomlWatch, App[int]):
    """olive-lab's terminal app."""

    TITLE = "olive-lab"
    CSS_PATH = "app.tcss"
    MODES = {
        "home": HomeScreen,
        "dataset": _dataset_screen,
        "steps": _steps_screen,
        "monitor": _monitor_screen,
        "gpu": _gpu_screen,
        "chat": _chat_screen,
    }
    DEFAULT_MODE = "home"
    COMMANDS = App.COMMANDS | {LabCommands}
    BINDINGS = keymap.bindings("app")

    def __init__(
        self,
        lab: LabPaths,
        *,
        checks: Callable[[LabPaths, LabConfig], list[Any]] | None = None,
        resume: Callable[[LabPaths], list[str]] | None = None,
    ) -> None:
        """Args:
        lab: the lab folder.
        checks: the environment checks to run on the checklist (default: `engine.doctor.run_checks`).
        resume: restarts the pollers of Azure ML jobs that went on alone; returns their runs' ids
            (default: `engine.runs.control.resume_remote`).
        """
        super().__init__()
        self.lab = lab
        """The lab folder every screen works in."""
        self.config_error: str | None = None
        self._lab_toml_seen: tuple[int, int] | None = None
        """Why `lab.toml` could not be used, if it could not (the app then runs on the demo defaults)."""
        self._config: LabConfig | None = None
        self._config_lock = threading.Lock()
        self._early_theme, self._early_keys = read_early_settings(lab.config)
        self._first_frame_done = False
        self._after_first_frame: list[Callable[[], object]] = []
        self.checks = checks
        self.resume = resume
        self._log_handler: RotatingFileHandler | None = None
        self.config_changed_signal: Signal[LabConfig] = Signal(self, "config-changed")
        """Published with the new settings whenever they are saved or restored."""
        self.config_error_signal: Signal[str] = Signal(self, "config-error")
        """Published with `config_error` whenever lab.toml is found unusable (Steps says so above its form)."""
        self.init_messages()
        self.edit_holders: list[EditHolder] = []
        """Screens that may hold unsaved edits of the settings (asked before quitting, reloading, running)."""

    @property
    def config(self) -> LabConfig:
        """The settings in force (read from `lab.toml` on first use); change them with `set_config`."""
        with self._config_lock:
            if self._config is None:
                self._config = self._load_config()
            return self._config

    @property
    def user_keys(self) -> dict[str, str]:
        """The user's key remaps (`lab.toml [keys]`), usable before the settings are validated."""
        return dict(self._config.keys) if self._config is not None else dict(self._early_keys)

    def _load_config(self) -> LabConfig:

        try:
            return load_config(self.lab)
        except LabConfigError as exc:
            self.config_error = not_used(exc, self.lab.config.name)
            return build_config("demo")

    def run_refusal(self) -> str | None:
        """Why no run may start now: a broken `lab.toml` is never replaced by defaults for a run."""
        if self.config_error:
            return f"Not started: {self.config_error}"
        return None

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(VARIABLE_DEFAULTS)

    def on_mount(self) -> None:
        self._log_handler = setup_app_log(self.lab)
        log.info("app started on %s", self.lab.root)
        read_esc_digits_as_alt()
        self._first_theme()
        self._apply_keys(self._early_keys, warn=False)

    async def on_event(self, event: events.Event) -> None:
        after_esc = None
        if isinstance(event, events.Key) and not event.is_forwarded and event.key.startswith("alt+"):
            bound = self.screen.active_bindings
            after_esc = esc_then(event.key, event.character, bound)
        if after_esc is None:
            await super().on_event(event)
            return
        esc = bound.get("escape")
        if esc is not None and esc.enabled:  # Esc's own work first (leave the field, close, stop) ...
            await self.run_action(esc.binding.action, esc.node)
        else:
            await super().on_event(events.Key("escape", None))
        self.post_message(events.Key(after_esc, after_esc))  # ... then its key, where Esc left the focus

    def on_unmount(self) -> None:
        if self._log_handler is not None:
            log.info("app closed")
            logging.getLogger("olive_lab").removeHandler(self._log_handler)
            self._log_handler.close()

    def on_ready(self) -> None:
        stamp = os.environ.get(FIRST_FRAME_STAMP)
        if stamp:
            Path(stamp).write_text(repr(time.time()), encoding="utf-8")
        if os.environ.get(EXIT_AFTER_FIRST_FRAME) == "1":
            self.exit(0)
            return
        self._first_frame_done = True
        self.load_settings()
        self.resume_pollers()
        self.warm_imports()
        for callback in self._after_first_frame:
            self.call_later(callback)
        self._after_first_frame.clear()

    @property
    def first_frame_done(self) -> bool:
        """Whether the first frame is on screen (work that imports pydantic waits for it)."""
        return self._first_frame_done

    def after_first_frame(self, callback: Callable[[], object]) -> None:
        """Call `callback` once the first frame is on screen (at once if it already is)."""
        if self._first_frame_done:
            self.call_later(callback)
        else:
            self._after_first_frame.append(callback)

    def _theme_folders(self) -> list[Path]:
        return [BUNDLED_THEMES, self.lab.private / "themes"]

    def _first_theme(self) -> None:
        """The wanted theme for the first frame: a bundled one unvalidated, a user's own one validated."""
        theme = bundled_theme(BUNDLED_THEMES, self._early_theme)
        if theme is not None:
            self.register_theme(theme)
            self.theme = theme.name
            return
        themes, problems = load_themes(self._theme_folders())
        self._use_themes(themes, problems, self._early_theme)

    @work(thread=True, exclusive=True, group="warm", exit_on_error=False, name="import the screens")
    def warm_imports(self) -> None:
        """Import the other screens' modules while the user reads the first one, so 2-6 open sooner."""
        import importlib

        for module in ("tui.screens.dataset", "tui.screens.steps", "tui.screens.monitor", "tui.screens.chat"):
            importlib.import_module(module)

    @work(thread=True, exclusive=True, group="resume", exit_on_error=False, name="resume Azure ML polling")
    def resume_pollers(self) -> None:
        """Follow again the Azure ML jobs that went on while no olive-lab was polling them (the laptop slept,
        the app was closed). Never in the way of the start: a failure goes to the app log only."""
        from engine.runs.control import resume_remote

        resume = self.resume or resume_remote
        try:
            resumed = resume(self.lab) if self.lab.runs.is_dir() else []
        except Exception:
            log.exception("resuming the pollers of Azure ML jobs failed")
            return
        for run_id in resumed:
            log.info("polling the Azure ML job of run %s again", run_id)
            self.call_from_thread(self.notify, f"polling the Azure ML job of run {run_id} again")

    @work(thread=True, exclusive=True, group="settings", exit_on_error=False, name="read settings")
    def load_settings(self) -> None:
        """Validate `lab.toml` and every theme file (after the first frame), then report the results."""
        config = self.config
        themes, problems = load_themes(self._theme_folders())
        self.post_message(SettingsLoaded(config, themes, problems))

    def on_settings_loaded(self, message: SettingsLoaded) -> None:
        if self.config_error:
            log.warning("settings: %s", self.config_error)
            self.say_config_error()
        self._use_themes(message.themes, message.problems, message.config.theme)
        self._apply_keys(message.config.keys)
        self._lab_toml_seen = self._lab_toml_signature()
        self.set_interval(LAB_TOML_POLL_S, self._watch_lab_toml)
        # after the theme just set is announced, so only the user's own choices are saved
        self.call_after_refresh(self._follow_theme_choice)

    def _follow_theme_choice(self) -> None:
        if self.is_running and not self._exit:  # a test may have closed the app already
            self.theme_changed_signal.subscribe(self, self._theme_chosen)

    def _theme_chosen(self, theme: Any) -> None:
        """A theme picked in the palette is kept in `lab.toml` (`theme`), so the next start uses it."""
        config = self._config
        if config is None or self.config_error or config.theme == theme.name:
            return
        self._save_theme(config, config.model_copy(update={"theme": theme.name}))

    @work(thread=True, exclusive=True, group="save-theme", exit_on_error=False, name="save the theme")
    def _save_theme(self, before: LabConfig, config: LabConfig) -> None:

        try:
            saved = save_config(self.lab, config, based_on=before)
        except LabConfigError as exc:
            self.call_from_thread(self.notify, f"theme not kept: {exc.full()}", severity="warning")
            return
        except OSError as exc:
            self.call_from_thread(self.notify, f"theme not kept: {self.lab.config} cannot be written ({exc.strerror})")
            return
        self.call_from_thread(self.set_config, saved)

    def _use_themes(self, themes: list[Any], problems: list[str], wanted: str) -> None:
        for theme in themes:
            self.register_theme(theme)
        for problem in problems:
            log.warning("theme skipped: %s", problem)
            self.notify(problem, title="Theme file skipped", severity="warning", timeout=20)
        if wanted not in {theme.name for theme in themes}:
            self.notify(f"theme {wanted!r} (lab.toml, field theme) is not installed", severity="warning")
            wanted = DEFAULT_THEME if DEFAULT_THEME in self.available_themes else "textual-dark"
        if self.theme != wanted:
            self.theme = wanted

    def _apply_keys(self, keys: dict[str, str], *, warn: bool = True) -> None:
        unknown = keymap.unknown_ids(keys)
        if unknown and warn:
            self.notify(
                f"lab.toml [keys]: no binding with id {', '.join(unknown)} (see ? for the ids)",
                severity="warning",
            )
        self.set_keymap({k: v for k, v in keys.items() if k not in unknown})

    def set_config(self, config: LabConfig) -> None:
        """Make `config` the settings in force and tell every screen."""
        with self._config_lock:
            self._config = config
        self._lab_toml_seen = self._lab_toml_signature()  # our own save is not an outside edit
        self.config_error = None
        self.withdraw(LAB_TOML_NOT_USED)  # read again: the error said when it could not be is no longer so
        self._apply_keys(config.keys)
        self.config_changed_signal.publish(config)
        self.post_message(ConfigChanged(config))

    def quit_concerns(self) -> list[str]:
        """What the user should know before the app closes: unsaved edits, a run still going."""
        concerns = self.unsaved_edits()
        from engine.runs import select

        try:
            entry = select.active(self.lab)
        except OSError:
            entry = None
        running = entry.dir.name if entry is not None else None
        if running:
            concerns.append(
                f"Run {running} is still going. It keeps running after the app closes; "
                "open the app again (or olive-lab runs attach) to follow it."
            )
        return concerns

    async def action_quit(self, ask: bool = False) -> None:
        """Quit, asking first when there are unsaved edits or a run is going (`ask`: always ask, for `q`)."""

        if isinstance(self.screen, ConfirmScreen):
            return
        concerns = self.quit_concerns()
        if not concerns and not ask:
            self.exit()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.exit()

        question = "\n\n".join([*concerns, "Quit anyway?"]) if concerns else "Quit olive-lab?"
        self.push_screen(ConfirmScreen(question, yes="Quit", no="Stay"), answered)

    def action_go(self, mode: str) -> None:
        """alt+1..6: switch screens from anywhere, a text box included; a dialog on top keeps the key."""
        if not isinstance(self.screen, ModalScreen):
            self.switch_mode(mode)  # not awaited: a new screen mounts through the loop this key holds

    def action_help(self) -> None:

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def run_key_action(self, spec: keymap.KeySpec) -> None:
        """Run a binding's action from the palette, switching to its screen first when needed."""
        if spec.scope == "app":
            await self.run_action(spec.action)
            return
        if self.current_mode != spec.scope:
            await self.switch_mode(spec.scope)
        self.call_after_refresh(self._run_on_screen, spec)

    async def _run_on_screen(self, spec: keymap.KeySpec) -> None:
        if not await self.run_action(spec.action, self.screen):  # the screen does not offer it now (check_action)
            self.notify(f"{spec.description}: not available now", severity="warning")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """One place that turns a failed worker into a readable message (and a log entry)."""
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            log.error("worker %s failed: %r", event.worker.name, error, exc_info=error)
            self.notify(f"{event.worker.name}: {error}", title="Something failed", severity="error")


def run_app(lab: str | None = None) -> int:
    """Open the app on the lab folder `lab` (default: the current folder); returns the exit status."""
    app = OliveLabApp(LabPaths.at(lab))
    app.run(headless=os.environ.get(EXIT_AFTER_FIRST_FRAME) == "1")
    return app.return_code or 0
