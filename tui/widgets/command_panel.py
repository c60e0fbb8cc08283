"""The Steps screen's command panel: the exact command of the step whose settings have the focus, live.

It owns which step it shows and whether it is shown whole; the screen hands it the settings to show.
"""

from __future__ import annotations

from textual.widgets import Static

from engine.config import LabConfig
from engine.paths import LabPaths
from tui import keymap
from tui.screens.steps_fields import shown_command

COMMAND_STEP = {"quantize": "quantize", "optimize": "optimize"}  # any other section shows finetune


class CommandPanel(Static):
    """The command of the focused section's step (finetune for the sections that have none)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.section = "finetune"

    @property
    def step(self) -> str:
        return COMMAND_STEP.get(self.section, "finetune")

    def show(self, config: LabConfig, lab: LabPaths, errors: dict[str, str]) -> None:
        """`config` is the form's last valid settings; `errors` the fields invalid now (the command waits)."""
        step = self.step
        where, text = shown_command(step, config, lab)
        if where:
            text = f"{step} {where}\n{text}"
        if errors:
            bad = ", ".join(sorted(errors))
            text = f"(not updated while {bad} {'is' if len(errors) == 1 else 'are'} invalid)\n" + text
        self.update(text)
        self.border_title = f"Command of {step}" + (" (Azure ML job)" if where else "")
        copy = keymap.key_label(self.app, "steps.copy_command")
        expand = keymap.key_label(self.app, "steps.expand_command")
        shown = "compact" if self.has_class("-expanded") else "whole"
        self.border_subtitle = f"{copy} copy · {expand} {shown}"

    def copy(self, config: LabConfig, lab: LabPaths) -> None:
        """Copy the command line through the terminal (OSC 52 works over SSH and in tmux)."""
        step = self.step
        self.app.copy_to_clipboard(shown_command(step, config, lab)[1])
        self.notify(f"The {step} command is on the clipboard (if the terminal allows OSC 52)", timeout=4)
