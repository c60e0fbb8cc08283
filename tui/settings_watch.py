"""The app follows `lab.toml`: an edit made outside the app is reloaded, or, when the forms hold unsaved
edits, the app asks first (reload, or keep mine)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tui.messages import ConfigChanged

if TYPE_CHECKING:
    from collections.abc import Callable

    from textual.app import App as _App

    from engine.config import LabConfig
    from engine.paths import LabPaths
else:
    _App = object  # a mixin of the olive-lab app; typed as the app it is part of

LAB_TOML_POLL_S = 2.0  # how often the app looks for edits of lab.toml made outside it


class LabTomlWatch(_App):
    if TYPE_CHECKING:  # provided by the app
        lab: LabPaths
        config_error: str | None
        quit_guards: list[Callable[[], str | None]]
        _lab_toml_seen: tuple[int, int] | None

        @property
        def config(self) -> LabConfig: ...
        def set_config(self, config: LabConfig) -> None: ...

    def _lab_toml_signature(self) -> tuple[int, int] | None:
        try:
            st = self.lab.config.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _watch_lab_toml(self) -> None:
        """`lab.toml` edited outside the app: reload it, or ask first when the forms hold unsaved edits."""
        from tui.screens.confirm import ConfirmScreen

        signature = self._lab_toml_signature()
        if signature == self._lab_toml_seen or isinstance(self.screen, ConfirmScreen):
            return
        self._lab_toml_seen = signature
        unsaved = [text for guard in self.quit_guards if (text := guard())]
        if not unsaved:
            self.reload_settings()
            return

        def answered(reload: bool | None) -> None:
            if reload:
                self.reload_settings()

        question = (
            f"{self.lab.config.name} changed outside the app.\n\n{' '.join(unsaved)}\n\n"
            "Reload it (your unsaved edits are dropped), or keep your edits (saving them overwrites the file)?"
        )
        self.push_screen(ConfirmScreen(question, yes="Reload", no="Keep mine"), answered)

    def reload_settings(self) -> None:
        """Read `lab.toml` again; a broken file keeps the settings in force and refuses runs until fixed."""
        from engine.config import LabConfigError, load_config

        try:
            config = load_config(self.lab)
        except LabConfigError as exc:
            self.config_error = f"{exc}. Nothing runs until it is fixed; {self.lab.config.name} is left as it is."
            self.config_error_field = exc.field
            self.notify(self.config_error, title="lab.toml not used", severity="error", timeout=30)
            self.post_message(ConfigChanged(self.config))
            return
        self.set_config(config)
        self.notify(f"{self.lab.config.name} changed outside the app: reloaded")
