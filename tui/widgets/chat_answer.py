"""The chat's answering: a worker that asks the session and forwards the streamed text as messages.

A widget that is not drawn. It owns the stop switch of the answer under way; tokens leave its thread only as
`ChatTokens` messages, batched about 20 times a second, and bubble on to the chat screen with `ChatAnswerDone`,
`ChatAnswerFailed` and, last, `ChatIdle`.
"""

from __future__ import annotations

import threading
import time
from typing import Literal

from textual import work
from textual.widget import Widget

from engine.chat import BASE_ADAPTER, AnswerStream, ChatError, ChatSession
from tui.messages import ChatAnswerDone, ChatAnswerFailed, ChatIdle, ChatTokens

BATCH_S = 0.05
Mode = Literal["ask", "edit", "regenerate", "compare"]


class Answerer(Widget):
    """Not drawn: answers one prompt at a time into the answer boxes it is given (by id)."""

    DEFAULT_CSS = "Answerer { display: none; }"

    def __init__(self) -> None:
        super().__init__()
        self._cancel: threading.Event | None = None

    @property
    def busy(self) -> bool:
        """True while an answer is being generated."""
        return self._cancel is not None

    def stop(self) -> bool:
        """Stop the answer under way after its current token; False when there is none."""
        if self._cancel is None:
            return False
        self._cancel.set()
        return True

    def start(self, session: ChatSession, mode: Mode, text: str, boxes: list[str], right: str = BASE_ADAPTER) -> None:
        self._cancel = threading.Event()
        self._answer_worker(session, mode, text, boxes, right, self._cancel)

    def on_chat_idle(self, message: ChatIdle) -> None:
        self._cancel = None  # the message goes on to the screen

    @work(thread=True, exclusive=True, group="chat", exit_on_error=False, name="chat answer")
    def _answer_worker(
        self, session: ChatSession, mode: Mode, text: str, boxes: list[str], right: str, cancel: threading.Event
    ) -> None:
        try:
            if mode == "compare":
                streams = list(session.compare_streams(text, BASE_ADAPTER, right, cancel))
            elif mode == "edit":
                streams = [session.edit_last(text, cancel)]
            elif mode == "regenerate":
                streams = [session.regenerate(cancel)]
            else:
                streams = [session.ask(text, cancel)]
            for box, stream in zip(boxes, streams, strict=True):
                self._pump(box, stream)
        except ChatError as exc:
            for box in boxes:
                self.post_message(ChatAnswerFailed(box, str(exc)))
        finally:
            self.post_message(ChatIdle())

    def _pump(self, box: str, stream: AnswerStream) -> None:
        """Forward the stream's text in batches (one message per BATCH_S at most), then the answer."""
        pending: list[str] = []
        last = time.monotonic()
        for text in stream:
            pending.append(text)
            now = time.monotonic()
            if now - last >= BATCH_S:
                self.post_message(ChatTokens(box, "".join(pending)))
                pending.clear()
                last = now
        if pending:
            self.post_message(ChatTokens(box, "".join(pending)))
        if stream.answer is not None:
            self.post_message(ChatAnswerDone(box, stream.answer))
