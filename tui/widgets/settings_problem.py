"""The line on top of the settings form while `lab.toml` cannot be read.

The form then holds settings that are not the file's (the demo defaults at start, or what the file said before
an outside edit broke it), and a save is refused so the file is never replaced by them (engine.config
`save_config`). The message line says so once and moves on; this stays in sight on the form until the file
reads again, with the app's one text of the problem (`config_error`: the file, the line, the field).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class SettingsProblem(Static):
    """Why the form does not show the file's settings, what it shows instead, and why a save is refused."""

    DEFAULT_CSS = """
    SettingsProblem { height: auto; padding: 0 1; background: $error 20%; display: none; }
    """

    def show(self, error: str | None, *, file_name: str, defaults: bool, save_key: str) -> None:
        """`error`: the app's text of the problem (None: the file reads, nothing to say); `defaults`: the form
        was filled with the demo defaults rather than what the file said before it broke."""
        self.display = bool(error)
        if not error:
            return
        shown = "the demo defaults, not your settings" if defaults else "its settings from before it broke"
        text = Text(f"✘ {file_name} could not be read: this form shows {shown}, and ", style="bold")
        text.append(f"{save_key} saves nothing until the file is fixed (this screen follows it).\n", style="bold")
        text.append(error)
        self.update(text)
