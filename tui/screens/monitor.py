"""The monitor screen (placeholder until built)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static


class MonitorScreen(Screen):
    def compose(self) -> ComposeResult:
        yield Static("monitor: being built")
