"""The composition root: the App, its modes, themes, keys and settings. Screens do the work.

Screens other than the checklist are imported when first opened, so the first frame comes fast.
`app.lab` and `app.config` are what every screen reads; `app.set_config()` is how a screen changes them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from logging.handlers import RotatingFileHandler
from typing import Any

from textual.app import App
from textual.screen import Screen
from textual.signal import Signal
from textual.worker import Worker, WorkerState

from engine.config import LabConfig, LabConfigError, build_config, load_config
from engine.paths import BUNDLED_THEMES, LabPaths
from tui import keymap
from tui.commands import LabCommands
from tui.messages import ConfigChanged
from tui.screens.home import HomeScreen
from tui.themes import VARIABLE_DEFAULTS, load_themes

log = logging.getLogger("olive_lab.app")

EXIT_AFTER_FIRST_FRAME = "OLIVE_LAB_EXIT_AFTER_FIRST_FRAME"
"""Set to 1 to quit as soon as the first frame is drawn (the start-up benchmark uses it)."""


def _dataset_screen() -> Screen:
    from tui.screens.dataset import DatasetScreen

    return DatasetScreen()


def _steps_screen() -> Screen:
    from tui.screens.steps import StepsScreen

    return StepsScreen()


def _monitor_screen() -> Screen:
    from tui.screens.monitor import MonitorScreen

    return MonitorScreen()


def _gpu_screen() -> Screen:
    from tui.screens.gpu import GpuScreen

    return GpuScreen()


def _chat_screen() -> Screen:
    from tui.screens.chat import ChatScreen

    return ChatScreen()


def setup_app_log(lab: LabPaths) -> RotatingFileHandler | None:
    """The app's own debug log, rotated at 1 MB (three old files kept). None if it cannot be written."""
    try:
        lab.app_log.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(lab.app_log, maxBytes=1_000_000, backupCount=3, encoding="utf-8")
    except OSError:
        return None  # a read-only lab still opens; it just keeps no log
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("olive_lab")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    return handler


class OliveLabApp(App[int]):
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
    ) -> None:
        """Args:
        lab: the lab folder.
        checks: the environment checks to run on the checklist (default: `engine.doctor.run_checks`).
        """
        super().__init__()
        self.lab = lab
        """The lab folder every screen works in."""
        self.config_error: str | None = None
        """Why `lab.toml` could not be used, if it could not (the app then runs on the demo defaults)."""
        self.config: LabConfig = self._load_config()
        """The settings in force; change them with `set_config`."""
        self.checks = checks
        self._log_handler: RotatingFileHandler | None = None
        self.config_changed_signal: Signal[LabConfig] = Signal(self, "config-changed")
        """Published with the new settings whenever they are saved or restored."""

    def _load_config(self) -> LabConfig:
        try:
            return load_config(self.lab)
        except LabConfigError as exc:
            self.config_error = (
                f"{exc}. Running on the demo defaults; {self.lab.config.name} is left as it is."
            )
            return build_config("demo")

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(VARIABLE_DEFAULTS)

    def on_mount(self) -> None:
        self._log_handler = setup_app_log(self.lab)
        log.info("app started on %s", self.lab.root)
        self._register_themes()
        self._apply_keys()
        if self.config_error:
            log.warning("settings: %s", self.config_error)
            self.notify(self.config_error, title="lab.toml not used", severity="error", timeout=30)

    def on_unmount(self) -> None:
        if self._log_handler is not None:
            log.info("app closed")
            logging.getLogger("olive_lab").removeHandler(self._log_handler)
            self._log_handler.close()

    def on_ready(self) -> None:
        if os.environ.get(EXIT_AFTER_FIRST_FRAME) == "1":
            self.exit(0)

    def _register_themes(self) -> None:
        themes, problems = load_themes([BUNDLED_THEMES, self.lab.private / "themes"])
        for theme in themes:
            self.register_theme(theme)
        for problem in problems:
            log.warning("theme skipped: %s", problem)
            self.notify(problem, title="Theme file skipped", severity="warning", timeout=20)
        wanted = self.config.theme
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            self.notify(f"theme {wanted!r} (lab.toml, field theme) is not installed", severity="warning")
            self.theme = "olive-dark" if "olive-dark" in self.available_themes else "textual-dark"

    def _apply_keys(self) -> None:
        keys = self.config.keys
        unknown = keymap.unknown_ids(keys)
        if unknown:
            self.notify(
                f"lab.toml [keys]: no binding with id {', '.join(unknown)} (see ? for the ids)",
                severity="warning",
            )
        self.set_keymap({k: v for k, v in keys.items() if k not in unknown})

    def set_config(self, config: LabConfig) -> None:
        """Make `config` the settings in force and tell every screen."""
        self.config = config
        self.config_error = None
        self._apply_keys()
        self.config_changed_signal.publish(config)
        self.post_message(ConfigChanged(config))

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def run_key_action(self, spec: keymap.KeySpec) -> None:
        """Run a binding's action from the palette, switching to its screen first when needed."""
        if spec.scope == "app":
            await self.run_action(spec.action)
            return
        if self.current_mode != spec.scope:
            await self.switch_mode(spec.scope)
        self.call_after_refresh(self._run_on_screen, spec.action)

    async def _run_on_screen(self, action: str) -> None:
        await self.run_action(action, self.screen)

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
