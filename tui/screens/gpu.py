"""The gpu screen (placeholder until built)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static


class GpuScreen(Screen):
    def compose(self) -> ComposeResult:
        yield Static("gpu: being built")
