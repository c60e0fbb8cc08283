"""The chat screen (placeholder until built)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static


class ChatScreen(Screen):
    def compose(self) -> ComposeResult:
        yield Static("chat: being built")
