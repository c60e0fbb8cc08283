"""One turn's prompt: the conversation templated and encoded, its oldest turns left out until the prompt and
some answer fit the model's context.

The prompt is the newest turns that fit, whole: the smallest number of oldest turns is left out. Finding it by
templating and encoding the conversation again for each number of turns left out costs, once a long chat no
longer fits, the square of its length on every turn. Here each turn's length in tokens is measured once (the
turn templated on its own, between fixed neighbours) and kept; the lengths, added from the newest turn back,
say where the prompt starts; the prompt is then templated and encoded whole once, and checked against its
one-turn-longer neighbour, so it is exactly the prompt of the full search. A turn's cost is then the size of
the context, not of the chat.

Where a template's turns do not add up (a template that numbers turns, say), the estimate is off and the
check walks from it turn by turn to the same prompt; what makes the walk exact is only that leaving a turn out
never lengthens a prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Message = dict[str, str]
PHI3_ROLE = "<|{role}|>\n{content}<|end|>\n"
_PROBE: list[Message] = [{"role": "user", "content": "?"}]  # a fixed neighbour for measuring one turn
_KEPT_COSTS = 4096  # turns whose lengths are kept (several chats' worth; a chat's oldest turns drop out first)


class PromptTooLong(ValueError):
    """Even without any earlier turn the prompt leaves no room for an answer."""

    def __init__(self, tokens: int, context: int) -> None:
        super().__init__(f"{tokens} tokens, context {context}")
        self.tokens = tokens
        self.context = context


def phi3_prompt(messages: Sequence[Message]) -> str:
    """The Phi-3 chat format, used when the model ships no chat template."""
    return "".join(PHI3_ROLE.format(**m) for m in messages) + "<|assistant|>\n"


def turn_messages(history: Sequence[tuple[str, str]]) -> list[Message]:
    return [
        m
        for user, assistant in history
        for m in ({"role": "user", "content": user}, {"role": "assistant", "content": assistant})
    ]


@dataclass
class PreparedPrompt:
    ids: Any  # numpy int32 array
    budget: int  # most answer tokens
    trimmed_turns: int


class PromptBuilder:
    """Templates (`render`: messages -> text, generation prompt included) and encodes (`encode`: text -> ids)
    each turn's prompt for one model, keeping the length in tokens of each earlier turn it has seen."""

    def __init__(self, render: Callable[[Sequence[Message]], str], encode: Callable[[str], Any]) -> None:
        self.render = render
        self.encode = encode
        self._costs: dict[tuple[str, str], int] = {}
        self._probe_tokens: int | None = None

    def _tokens(self, messages: Sequence[Message]) -> Any:
        return self.encode(self.render(messages))

    def turn_cost(self, user: str, assistant: str) -> int:
        """The tokens one earlier turn adds to a prompt (measured once)."""
        key = (user, assistant)
        if (found := self._costs.get(key)) is not None:
            return found
        if self._probe_tokens is None:
            self._probe_tokens = len(self._tokens(_PROBE))
        cost = len(self._tokens([*turn_messages([key]), *_PROBE])) - self._probe_tokens
        if len(self._costs) >= _KEPT_COSTS:
            del self._costs[next(iter(self._costs))]
        self._costs[key] = cost
        return cost

    def prepare(
        self, system: str, history: Sequence[tuple[str, str]], prompt: str, *, context: int, max_length: int
    ) -> PreparedPrompt:
        """The prompt of the newest turns of `history` that fit with `prompt` and some answer (a quarter of the
        context, or `max_length` if less); PromptTooLong when not even `prompt` alone leaves room to answer."""
        head = [{"role": "system", "content": system}] if system.strip() else []
        tail = [{"role": "user", "content": prompt}]
        reserve = min(max_length, max(1, context // 4))
        found: dict[int, Any] = {}

        def ids(skip: int) -> Any:  # the prompt with the `skip` oldest turns left out
            if skip not in found:
                found[skip] = self._tokens(head + turn_messages(history[skip:]) + tail)
            return found[skip]

        def fits(skip: int) -> bool:
            return len(ids(skip)) + reserve <= context

        skip = self._estimate(history, len(ids(len(history))), context - reserve)
        if fits(skip):
            while skip > 0 and fits(skip - 1):
                skip -= 1
        else:
            while skip < len(history) and not fits(skip):
                skip += 1
        if fits(skip):
            return PreparedPrompt(ids(skip), min(max_length, context - len(ids(skip))), skip)
        alone = ids(len(history))  # nothing fits with the reserve: the prompt alone, if it leaves any room
        if len(alone) < context:
            return PreparedPrompt(alone, context - len(alone), len(history))
        raise PromptTooLong(len(alone), context)

    def _estimate(self, history: Sequence[tuple[str, str]], bare: int, room: int) -> int:
        """How many oldest turns to leave out so that the newest fit in `room` tokens with the `bare` prompt
        (measured turn lengths added from the newest back; only the turns that fit, and one more, are looked at)."""
        total, skip = bare, len(history)
        for index in range(len(history) - 1, -1, -1):
            total += self.turn_cost(*history[index])
            if total > room:
                break
            skip = index
        return skip
