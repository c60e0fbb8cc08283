"""The chat transcript: user prompts, streamed Markdown answers with their timings, side-by-side compares.

Widgets only render; text arrives through the chat screen's message handlers, never from a thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

if TYPE_CHECKING:
    from engine.chat import Answer


class UserPrompt(Static):
    """One prompt as the user wrote it."""

    def __init__(self, text: str, **kwargs: object) -> None:
        super().__init__(f"[b]You[/b]  {escape(text)}", **kwargs)  # type: ignore[arg-type]
        self.text = text


def stats_text(answer: Answer) -> str:
    text = answer.stats.line()
    if answer.finish == "cancelled":
        text += " · stopped"
    elif answer.finish == "length":
        text += " · cut at max length"
    return text


class AnswerBox(Vertical):
    """One answer: who answered (adapter), the Markdown text as it streams, and its timings."""

    def __init__(self, adapter: str, answer: Answer | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.adapter = adapter
        self.answer = answer
        self.text = answer.text if answer else ""
        self._stream: MarkdownStream | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"[b]{escape(self.adapter)}[/b]", classes="answer-title")
        yield Markdown(self.text.strip(), classes="answer-text")
        stats = stats_text(self.answer) if self.answer else "thinking…"
        yield Static(escape(stats), classes="answer-stats")

    async def append(self, text: str) -> None:
        if self._stream is None:
            self._stream = Markdown.get_stream(self.query_one(Markdown))
        self.text += text
        await self._stream.write(text)

    async def finish(self, answer: Answer) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        self.answer = answer
        self.query_one(".answer-stats", Static).update(escape(stats_text(answer)))

    def mark_earlier(self) -> None:
        """This answer was regenerated: keep it, dimmed, as an earlier alternative."""
        self.add_class("-earlier")
        self.query_one(".answer-title", Static).update(f"[b]{escape(self.adapter)}[/b] · earlier answer")

    async def fail(self, reason: str) -> None:
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        self.add_class("-failed")
        self.query_one(".answer-stats", Static).update(f"[$error]{escape(reason)}[/]")


class CompareRow(Horizontal):
    """One prompt answered twice, side by side."""

    def __init__(self, left: AnswerBox, right: AnswerBox, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.left, self.right = left, right

    def compose(self) -> ComposeResult:
        yield self.left
        yield self.right


class ChatLog(VerticalScroll):
    """The scrolling transcript; stays pinned to the newest answer unless the user scrolls up.

    It takes no focus, so Tab goes between the boxes where typing lands; PgUp/PgDn scroll it from the prompt.
    """

    can_focus = False

    def on_mount(self) -> None:
        self.anchor()
