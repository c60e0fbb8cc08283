"""The chat transcript: user prompts, streamed Markdown answers with their timings, side-by-side compares.

The transcript owns its turns (each prompt with the answer the conversation goes on from) and names each answer
box; text arrives through the chat screen's message handlers by box name, never from a thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

from tui.messages import ChatAnswerDone, ChatAnswerFailed, ChatTokens

if TYPE_CHECKING:
    from engine.chat import Answer, ChatSession, Conversation


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

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.turns: list[tuple[UserPrompt, AnswerBox]] = []
        """The conversation's turns as shown (a compare is no turn: the conversation does not go on from it)."""
        self._boxes = 0

    def on_mount(self) -> None:
        self.anchor()

    def show_titles(self, session: ChatSession, compare: str | None, *, busy: bool, sampling_key: str) -> None:
        """The model above the transcript; below it the adapter (or the two compared) and the sampling."""
        model = session.model
        self.border_title = f"{model.info.label} · {model.device}"
        mode = f"compare: base | {compare}" if compare is not None else f"adapter: {session.adapter}"
        options = session.options
        sampling = (
            "greedy" if not options.sampling
            else f"temp {options.temperature:g} · top-p {options.top_p:g} · top-k {options.top_k}"
        )  # fmt: skip
        sampling += f" · max {options.max_length} tokens ({sampling_key})"
        self.border_subtitle = mode + " · " + sampling + (" · answering… (Esc stops)" if busy else "")

    @property
    def last_prompt(self) -> str | None:
        return self.turns[-1][0].text if self.turns else None

    def new_box(self, adapter: str) -> AnswerBox:
        self._boxes += 1
        return AnswerBox(adapter, id=f"answer-{self._boxes}")

    def box(self, box_id: str) -> AnswerBox | None:
        return next(iter(self.query(f"#{box_id}").results(AnswerBox)), None)

    def last_answer(self) -> str:
        """The newest answer's text ("" when none has any)."""
        boxes = [b for b in self.query(AnswerBox) if b.text.strip()]
        return boxes[-1].text.strip() if boxes else ""

    async def clear(self) -> None:
        self.turns.clear()
        await self.remove_children()

    async def show_conversation(self, conversation: Conversation) -> list[str]:
        """Draw a saved or continued conversation; returns its prompts, oldest first."""
        widgets: list[Static | Horizontal | Vertical] = []
        for turn in conversation.turns:
            user = UserPrompt(turn.user)
            box = AnswerBox(turn.answer.adapter if turn.answer else conversation.adapter, turn.answer)
            self.turns.append((user, box))
            widgets += [user, box]
        for comparison in conversation.comparisons:
            widgets += [
                UserPrompt(comparison.prompt),
                CompareRow(
                    AnswerBox(comparison.left.adapter, comparison.left),
                    AnswerBox(comparison.right.adapter, comparison.right),
                ),
            ]
        if widgets:
            await self.mount_all(widgets)
        return [w.text for w in widgets if isinstance(w, UserPrompt)]

    async def add_turn(self, text: str, adapter: str) -> AnswerBox:
        user, box = UserPrompt(text), self.new_box(adapter)
        self.turns.append((user, box))
        await self.mount_all([user, box])
        return box

    async def add_compare(self, text: str, left: str, right: str) -> list[AnswerBox]:
        boxes = [self.new_box(left), self.new_box(right)]
        await self.mount_all([UserPrompt(text), CompareRow(*boxes)])
        return boxes

    async def answer_again(self, adapter: str) -> AnswerBox:
        """A new answer box for the last prompt; the old answer stays on screen, dimmed, as an alternative."""
        user, old = self.turns[-1]
        box = self.new_box(adapter)
        await self.mount(box, after=old)
        old.mark_earlier()
        self.turns[-1] = (user, box)
        return box

    async def drop_last_turn(self) -> None:
        user, box = self.turns.pop()
        await user.remove()
        await box.remove()

    async def receive(self, message: ChatTokens | ChatAnswerDone | ChatAnswerFailed) -> None:
        """Text, the finished answer or the reason it failed, for the box the message names."""
        box = self.box(message.box)
        if box is None:
            return
        if isinstance(message, ChatTokens):
            await box.append(message.text)
        elif isinstance(message, ChatAnswerDone):
            await box.finish(message.answer)
        else:
            await box.fail(message.reason)
            if self.turns and self.turns[-1][1] is box:
                self.turns.pop()  # the session did not record this turn
