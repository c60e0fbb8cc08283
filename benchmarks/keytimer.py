"""Key latency as a user feels it: from a key's arrival to the first frame after the app handled it."""

from __future__ import annotations

import asyncio
import time

from textual import events
from textual.app import App
from textual.message import Message


class KeyTimer:
    """Sends keys the way a terminal does and times each until the frame after it is handled.

    Pilot.press waits for the whole process to go idle, which never happens while a log streams, so the
    latency is measured from the key's arrival to the first screen refresh after the app has handled it.
    """

    def __init__(self, app: App) -> None:
        self.app = app
        self.sent: dict[int, float] = {}
        self.done: dict[int, float] = {}

    def hook(self, message: Message) -> None:
        key = id(message)
        if isinstance(message, events.Key) and key in self.sent and key not in self.done:
            self.done[key] = 0.0
            self.app.call_after_refresh(self._finished, key)

    def _finished(self, key: int) -> None:
        self.done[key] = time.perf_counter()

    async def press(self, name: str) -> float:
        event = events.Key(name, name if len(name) == 1 else None)
        event.set_sender(self.app)
        key = id(event)
        self.sent[key] = time.perf_counter()
        assert self.app._driver is not None
        self.app._driver.send_message(event)
        while not self.done.get(key):
            await asyncio.sleep(0.001)
        return (self.done.pop(key) - self.sent.pop(key)) * 1000
