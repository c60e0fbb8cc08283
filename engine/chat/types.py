"""The chat's data: sampling options, answers with their timings, turns and whole conversations.

Plain pydantic models, shared by the engine, the command line and the app, and saved as JSON in the lab.
"""

from __future__ import annotations

import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Finish = Literal["stop", "length", "cancelled"]
Device = Literal["auto", "cpu", "cuda"]


class SamplingOptions(BaseModel):
    """How an answer is generated. `max_length` counts the answer's tokens only, not the prompt's."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    max_length: int = Field(256, ge=1, le=131072, description="Most tokens in one answer")
    temperature: float = Field(0.7, ge=0.0, le=5.0, description="Randomness of sampling (0 = greedy)")
    top_p: float = Field(0.9, gt=0.0, le=1.0, description="Nucleus sampling: keep this share of probability")
    top_k: int = Field(50, ge=0, le=100000, description="Sample among the k likeliest tokens (0 = all)")
    greedy: bool = Field(False, description="Always take the likeliest token (deterministic)")
    seed: int | None = Field(None, ge=0, description="Random seed for sampling (None = random)")
    min_length: int = Field(0, ge=0, le=131072, description="Fewest tokens in one answer (end of text waits)")

    @property
    def sampling(self) -> bool:
        return not self.greedy and self.temperature > 0

    def search_options(self, prompt_tokens: int, budget: int) -> dict[str, int | float | bool]:
        """onnxruntime-genai search options, whose lengths count the prompt too (max_length sizes the KV cache)."""
        options: dict[str, int | float | bool] = {
            "max_length": int(prompt_tokens + budget),
            "do_sample": self.sampling,
        }
        if self.min_length:
            options["min_length"] = int(prompt_tokens + min(self.min_length, budget))
        if self.sampling:
            options.update(temperature=float(self.temperature), top_p=float(self.top_p), top_k=int(self.top_k))
            if self.seed is not None:
                options["random_seed"] = int(self.seed)
        return options


class AnswerStats(BaseModel):
    prompt_tokens: int
    answer_tokens: int
    ttft_s: float | None = Field(None, description="From the question to the first answer token")
    total_s: float
    tokens_per_s: float | None = Field(None, description="Answer tokens per second after the first one")
    trimmed_turns: int = Field(0, description="Oldest turns left out to fit the context")

    def line(self) -> str:
        parts = []
        if self.ttft_s is not None:
            parts.append(f"first token {self.ttft_s * 1000:.0f} ms")
        if self.tokens_per_s is not None:
            parts.append(f"{self.tokens_per_s:.1f} tok/s")
        parts.append(f"prompt {self.prompt_tokens} · answer {self.answer_tokens} tokens")
        if self.trimmed_turns:
            parts.append(f"{self.trimmed_turns} old turn(s) left out")
        return " · ".join(parts)


class Answer(BaseModel):
    text: str
    adapter: str
    finish: Finish = "stop"
    stats: AnswerStats


class Turn(BaseModel):
    user: str
    answer: Answer | None = None


class Comparison(BaseModel):
    prompt: str
    left: Answer
    right: Answer


def new_chat_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + f"-{int(time.time() * 1000) % 1000:03d}"


class Conversation(BaseModel):
    """One chat: what is saved in the lab and exported."""

    id: str = Field(default_factory=new_chat_id)
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    name: str = ""
    """A name the user gave the chat; empty: the title is the first question."""
    model: str = ""
    adapter: str = ""
    system_prompt: str = ""
    options: SamplingOptions = Field(default_factory=SamplingOptions)
    turns: list[Turn] = Field(default_factory=list)
    comparisons: list[Comparison] = Field(default_factory=list)

    @property
    def title(self) -> str:
        if self.name.strip():
            return self.name.strip()
        first = self.turns[0].user if self.turns else (self.comparisons[0].prompt if self.comparisons else "")
        first = " ".join(first.split())
        return (first[:57] + "...") if len(first) > 60 else (first or "(empty chat)")

    def messages(self, turns: list[Turn] | None = None) -> list[dict[str, str]]:
        """Chat-template messages: the system prompt, then each answered turn (user, assistant)."""
        out: list[dict[str, str]] = []
        if self.system_prompt.strip():
            out.append({"role": "system", "content": self.system_prompt})
        for turn in self.turns if turns is None else turns:
            out.append({"role": "user", "content": turn.user})
            if turn.answer is not None:
                out.append({"role": "assistant", "content": turn.answer.text})
        return out
