"""A conversation with a loaded model: multi-turn history, regenerate, edit-and-resend, compare.

The session owns the `Conversation` (what is saved and exported); the model owns the runtime. A turn is
added to the conversation when its answer stream ends (a cancelled answer is kept, marked as cancelled).
"""

from __future__ import annotations

import threading
import time

from engine.chat.models import BASE_ADAPTER, ChatError
from engine.chat.runtime import AnswerStream, ChatModel
from engine.chat.types import Answer, Comparison, Conversation, SamplingOptions, Turn


class ChatSession:
    def __init__(self, model: ChatModel, conversation: Conversation | None = None) -> None:
        self.model = model
        self.conversation = conversation or Conversation(model=str(model.info.path))
        if not self.conversation.model:
            self.conversation.model = str(model.info.path)
        if not self.conversation.adapter or self.conversation.adapter not in model.adapter_names:
            self.conversation.adapter = self.default_adapter()

    def default_adapter(self) -> str:
        """The run's own adapter when there is one, else the base model."""
        names = [n for n in self.model.adapter_names if n != BASE_ADAPTER]
        return names[0] if names else BASE_ADAPTER

    # --- settings ----------------------------------------------------------------------------------

    @property
    def adapter(self) -> str:
        return self.conversation.adapter

    def set_adapter(self, name: str) -> None:
        self.model.check_adapter(name)
        self.conversation.adapter = name

    @property
    def options(self) -> SamplingOptions:
        return self.conversation.options

    def set_options(self, options: SamplingOptions) -> None:
        self.conversation.options = options

    def set_system_prompt(self, text: str) -> None:
        self.conversation.system_prompt = text

    # --- turns -------------------------------------------------------------------------------------

    def history(self) -> list[tuple[str, str]]:
        return [(t.user, t.answer.text) for t in self.conversation.turns if t.answer is not None]

    def ask(self, text: str, cancel: threading.Event | None = None) -> AnswerStream:
        """Start answering `text` after the history; the turn is recorded when the stream ends."""
        if not text.strip():
            raise ChatError("the prompt is empty")
        stream = self.model.stream(
            text,
            system=self.conversation.system_prompt,
            history=self.history(),
            adapter=self.adapter,
            options=self.options,
            cancel=cancel,
        )
        stream.on_done(lambda answer: self._record(text, answer))
        return stream

    def _record(self, text: str, answer: Answer) -> None:
        self.conversation.turns.append(Turn(user=text, answer=answer))
        self.conversation.updated_at = time.time()

    @property
    def last_prompt(self) -> str | None:
        return self.conversation.turns[-1].user if self.conversation.turns else None

    def drop_last_turn(self) -> Turn:
        if not self.conversation.turns:
            raise ChatError("there is no turn to take back")
        return self.conversation.turns.pop()

    def regenerate(self, cancel: threading.Event | None = None) -> AnswerStream:
        """Answer the last prompt again (the previous answer is replaced)."""
        turn = self.drop_last_turn()
        try:
            return self.ask(turn.user, cancel)
        except ChatError:
            self.conversation.turns.append(turn)
            raise

    def edit_last(self, text: str, cancel: threading.Event | None = None) -> AnswerStream:
        """Replace the last prompt with `text` and answer it."""
        turn = self.drop_last_turn()
        try:
            return self.ask(text, cancel)
        except ChatError:
            self.conversation.turns.append(turn)
            raise

    def reset(self) -> None:
        """A new, empty conversation with the same model, adapter, system prompt and options."""
        old = self.conversation
        self.conversation = Conversation(
            model=old.model, adapter=old.adapter, system_prompt=old.system_prompt, options=old.options
        )

    # --- compare -----------------------------------------------------------------------------------

    def compare_streams(
        self, text: str, left: str, right: str, cancel: threading.Event | None = None
    ) -> tuple[AnswerStream, AnswerStream]:
        """One prompt (no history), two adapters: iterate the left stream, then the right one."""
        if not text.strip():
            raise ChatError("the prompt is empty")
        cancel = cancel or threading.Event()
        kwargs = {"system": self.conversation.system_prompt, "options": self.options, "cancel": cancel}
        first = self.model.stream(text, adapter=left, **kwargs)  # type: ignore[arg-type]
        second = self.model.stream(text, adapter=right, **kwargs)  # type: ignore[arg-type]

        def record(answer: Answer) -> None:
            if first.answer is not None:
                self.conversation.comparisons.append(Comparison(prompt=text, left=first.answer, right=answer))

        second.on_done(record)
        return first, second
