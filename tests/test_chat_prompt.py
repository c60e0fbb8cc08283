"""A chat turn's prompt (engine.chat.prompt) is exactly the one the whole conversation templated and encoded
again for each number of left-out turns gave, and its cost does not grow with the conversation."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

import pytest

from engine.chat.prompt import PromptBuilder, PromptTooLong, phi3_prompt
from tests.helpers import full_render_prompt

_TOKEN = re.compile(r"<\|[a-z]+\|>|\w+|\s|[^\w\s]")
WORDS = "Lisbon Kyoto museum tram night train market pastel de nata river view castle food ? ! , .".split()


def encode(text: str) -> list[int]:
    """A toy tokenizer: special tokens, words, single spaces and marks (the ids do not matter, their order does)."""
    return [hash(piece) % 50_000 for piece in _TOKEN.findall(text)]


def numbered(messages: Sequence[dict[str, str]]) -> str:
    """A template whose turns do not add up: each message is numbered from the start of the conversation."""
    return "".join(f"[{i}] {m['role']}: {m['content']}\n" for i, m in enumerate(messages)) + "assistant:"


def _chat(rng: random.Random, turns: int) -> list[tuple[str, str]]:
    say = lambda: " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 40)))  # noqa: E731
    return [(say(), say()) for _ in range(turns)]


@pytest.mark.parametrize("render", [phi3_prompt, numbered], ids=["phi3", "numbered"])
def test_every_turn_of_a_long_chat_gets_the_full_renders_prompt(render) -> None:
    rng = random.Random(7)
    for context in (64, 300, 2048):
        builder = PromptBuilder(render, encode)  # kept across the turns, as a loaded model keeps it
        history = _chat(rng, 60)
        for turn in range(len(history) + 1):
            system = "You are a travel guide." if turn % 3 else ""
            prompt = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 30)))
            max_length = rng.choice((16, 200, 4000))
            expected = full_render_prompt(render, encode, system, history[:turn], prompt, context, max_length)
            try:
                got = builder.prepare(system, history[:turn], prompt, context=context, max_length=max_length)
            except PromptTooLong:
                assert expected is None
                continue
            assert (list(got.ids), got.budget, got.trimmed_turns) == expected, (context, turn)


def test_a_turns_cost_does_not_grow_with_the_chat() -> None:
    """Characters templated for one turn, with a context that holds a few turns: as many at turn 400 as at turn
    40, where the full render's search templated the whole chat again for each turn it left out."""
    rendered = [0]

    def counting(messages: Sequence[dict[str, str]]) -> str:
        text = phi3_prompt(messages)
        rendered[0] += len(text)
        return text

    def new(turn: int) -> int:
        rendered[0] = 0
        builder.prepare("", history[:turn], "Where next?", context=512, max_length=64)
        return rendered[0]

    def old(turn: int) -> int:
        rendered[0] = 0
        full_render_prompt(counting, encode, "", history[:turn], "Where next?", 512, 64)
        return rendered[0]

    history = _chat(random.Random(3), 400)
    builder = PromptBuilder(counting, encode)
    costs = [new(turn) for turn in range(len(history))]  # turn by turn, as a chat goes
    assert sum(costs[390:]) <= 1.5 * sum(costs[30:40])
    assert old(395) > 5 * old(35) and old(395) > 20 * costs[395]


def test_a_prompt_that_cannot_fit_says_its_length() -> None:
    builder = PromptBuilder(phi3_prompt, encode)
    with pytest.raises(PromptTooLong) as caught:
        builder.prepare("", [("hi", "hello")], "Lisbon " * 100, context=64, max_length=16)
    assert caught.value.tokens > 64 and caught.value.context == 64
