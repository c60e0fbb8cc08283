"""The one-line bar at the top of every mode's screen: the app's areas with their keys, the current one lit.

The footer has no room for the six mode keys at 80 columns, so they live here instead.
"""

from __future__ import annotations

from textual.widgets import Static

from tui import keymap

MODES: tuple[tuple[str, str], ...] = (
    ("home", "Checklist"),
    ("dataset", "Dataset"),
    ("steps", "Steps"),
    ("monitor", "Monitor"),
    ("gpu", "GPU"),
    ("chat", "Chat"),
)


class ModeBar(Static):
    """`olive-lab  1 Checklist  2 Dataset ...  ? keys`, with `current` highlighted."""

    DEFAULT_CSS = """
    ModeBar { dock: top; height: 1; background: $panel; color: $text-muted; }
    """

    def __init__(self, current: str, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.current = current

    def on_mount(self) -> None:
        self.update(self.text())

    def text(self) -> str:
        parts = []
        for mode, title in MODES:
            key = keymap.key_label(self.app, f"app.{mode}").split(" / ")[0]
            if mode == self.current:
                parts.append(f"[b $background on $primary] {key} {title} [/]")
            else:
                parts.append(f" [b $text]{key}[/] {title} ")
        help_key = keymap.key_label(self.app, "app.help").split(" / ")[0]
        return "[b $text]olive-lab[/] " + "".join(parts) + f"  [b $text]{help_key}[/] keys"
