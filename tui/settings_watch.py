"""The app follows `lab.toml`: an edit made outside the app is reloaded, or, when the forms hold unsaved
edits, the app asks first (reload, or keep mine). A run started while they do asks too (save and run, run
the saved settings, or not now)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from engine.config import LabConfigError, load_config
from tui.message_routing import LAB_TOML_NOT_USED
from tui.messages import ConfigChanged
from tui.screens.confirm import ConfirmScreen

if TYPE_CHECKING:
    from collections.abc import Callable

    from textual.app import App
    from textual.signal import Signal

    from engine.config import LabConfig
    from engine.paths import LabPaths

    _App = App[int]  # the olive-lab app's return code
else:
    _App = object  # a mixin of the olive-lab app; typed as the app it is part of

LAB_TOML_POLL_S = 2.0  # how often the app looks for edits of lab.toml made outside it


def not_used(exc: Exception, file_name: str) -> str:
    """What the app says of a lab.toml it cannot use (once, for the checklist, the line and a refused start)."""
    said = str(exc).rstrip()
    stop = "" if said.endswith((".", "?", "!")) else "."
    return f"{said}{stop} Nothing runs until it is fixed; {file_name} is left as it is."


class EditHolder(Protocol):
    """A screen that can hold unsaved edits of the settings (Steps)."""

    def unsaved_text(self) -> str | None:
        """What its unsaved edits are, in a sentence (None: there are none)."""

    def drop_edits(self) -> None:
        """Show the settings in force again, dropping the edits."""

    def save_edits(self) -> bool:
        """Save the edits (as its save key does); whether they were saved."""


class LabTomlWatch(_App):
    if TYPE_CHECKING:  # provided by the app
        lab: LabPaths
        config_error: str | None
        config_error_signal: Signal[str]
        edit_holders: list[EditHolder]
        _lab_toml_seen: tuple[int, int] | None

        @property
        def config(self) -> LabConfig: ...
        def set_config(self, config: LabConfig) -> None: ...

    def unsaved_edits(self) -> list[str]:
        """What the screens' unsaved edits of the settings are, one sentence each."""
        return [text for holder in self.edit_holders if (text := holder.unsaved_text())]

    def start_with_saved_settings(self, start: Callable[[], object]) -> None:
        """Call `start` (which starts a run from the settings in force), asking first when a screen holds
        unsaved edits: save them and run with them, run the saved settings, or (Esc) not now."""

        unsaved = self.unsaved_edits()
        if not unsaved:
            start()
            return

        def answered(save: bool | None) -> None:
            if save is None:
                self.notify("Not started: your edits are still unsaved")
                return
            if save and not all(holder.save_edits() for holder in list(self.edit_holders)):
                return  # the screen said why it could not save
            start()

        question = (
            f"{' '.join(unsaved)}\n\nA run uses the saved settings ({self.lab.config.name}). Save your edits "
            "and run with them, or run the saved settings (your edits stay unsaved)?"
        )
        self.push_screen(
            ConfirmScreen(question, yes="Save and run", no="Run saved settings", cancel="Not now"), answered
        )

    def _lab_toml_signature(self) -> tuple[int, int] | None:
        try:
            st = self.lab.config.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _watch_lab_toml(self) -> None:
        """`lab.toml` edited outside the app: reload it, or ask first when the forms hold unsaved edits."""

        signature = self._lab_toml_signature()
        if signature == self._lab_toml_seen or isinstance(self.screen, ConfirmScreen):
            return
        self._lab_toml_seen = signature
        unsaved = self.unsaved_edits()
        if not unsaved or not self._lab_toml_reads():
            self.reload_settings()  # a file that does not read is said at once: there is nothing to reload yet
            return

        def answered(reload: bool | None) -> None:
            if reload and self.reload_settings():
                for holder in list(self.edit_holders):
                    holder.drop_edits()

        question = (
            f"{self.lab.config.name} changed outside the app.\n\n{' '.join(unsaved)}\n\n"
            "Reload it (your unsaved edits are dropped), or keep your edits (saving them writes the fields "
            "you changed into the file; its other changes stay)?"
        )
        self.push_screen(ConfirmScreen(question, yes="Reload", no="Keep mine"), answered)

    def say_config_error(self) -> None:
        """The one notice of a lab.toml that cannot be used (its text is `config_error`, from `not_used`), on the
        message line and to the screens that keep it in sight (Steps, whose form then holds other settings)."""
        if self.config_error:
            self.notify(self.config_error, title=LAB_TOML_NOT_USED, severity="error", timeout=30, markup=False)
            self.config_error_signal.publish(self.config_error)

    def _lab_toml_reads(self) -> bool:
        """Whether `lab.toml` reads as settings now (a reload would take it)."""
        try:
            load_config(self.lab)
        except LabConfigError:
            return False
        return True

    def reload_settings(self) -> bool:
        """Read `lab.toml` again; a broken file keeps the settings in force and refuses runs until fixed.
        Returns whether the file was taken."""

        try:
            config = load_config(self.lab)
        except LabConfigError as exc:
            self.config_error = not_used(exc, self.lab.config.name)
            self.say_config_error()
            self.post_message(ConfigChanged(self.config))
            return False
        self.set_config(config)
        self.notify(f"{self.lab.config.name} changed outside the app: reloaded")
        return True
