"""What the chat engine costs over a bare onnxruntime-genai loop on the same model and settings, and how
quickly the chat screen answers keys while the model writes.

Targets: the engine's decoding speed at least 0.95x the bare loop's, and at most 5 ms more time to the
first token. Both loops template and encode the prompt, activate the same adapter, decode greedily with a
fixed answer length, and are timed the same way; runs alternate and medians are reported.

A turn's prompt costs the same late in a long chat as early on: preparing turn 1000 (a chat far longer than
the context, its oldest turns left out) takes at most 2x the time of turn 10.

Key latency p95 <= 100 ms while generating: the real ChatScreen runs headless (App.run_test) and answers
long greedy prompts back to back (Ctrl+R starts the next one); meanwhile a key arrives every ~50 ms, typing
into the prompt and scrolling the conversation, each timed from its arrival to the next frame.

    python -m benchmarks.bench_chat [--model DIR] [--tokens N] [--repeats N] [--key-seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from textual.app import App

from benchmarks.keytimer import KeyTimer
from engine.chat import BASE_ADAPTER, ChatModel, SamplingOptions, describe_model
from engine.paths import LabPaths
from engine.runs.models import chosen_model
from tui.screens.chat import ChatScreen
from tui.widgets.chat_input import PromptInput
from tui.widgets.chat_view import ChatLog

RATE_TARGET = 0.95
TTFT_OVERHEAD_TARGET_MS = 5.0
KEY_LATENCY_TARGET_MS = 100.0
PREPARE_GROWTH_TARGET = 2.0  # turn 1000's prompt preparation against turn 10's
PROMPT = "What should I see in Lisbon in spring?"
# type into the prompt and rub it out, Shift+Tab to the conversation, scroll it, `i` back to the prompt
KEYS = (*"lisbon", *["backspace"] * 6, "shift+tab", "pageup", "pageup", "pagedown", "end", "i")


class BareLoop:
    """The loop from onnxruntime-genai's own examples, nothing else."""

    def __init__(self, model_dir: Path, adapter_path: Path | None) -> None:
        import onnxruntime_genai as og

        self.og = og
        config = og.Config(str(model_dir))
        config.clear_providers()
        self.model = og.Model(config)
        self.tokenizer = og.Tokenizer(self.model)
        self.adapters = og.Adapters(self.model)
        if adapter_path is not None:
            self.adapters.load(str(adapter_path), "adapter")
        self.adapter = "adapter" if adapter_path is not None else None

    def answer(self, prompt: str, tokens: int) -> tuple[float, float, int]:
        og = self.og
        began = time.perf_counter()
        text = self.tokenizer.apply_chat_template(
            json.dumps([{"role": "user", "content": prompt}]), add_generation_prompt=True
        )
        ids = self.tokenizer.encode(text)
        params = og.GeneratorParams(self.model)
        params.set_search_options(max_length=len(ids) + tokens, min_length=len(ids) + tokens, do_sample=False)
        generator = og.Generator(self.model, params)
        if self.adapter:
            generator.set_active_adapter(self.adapters, self.adapter)
        generator.append_tokens(ids)
        stream = self.tokenizer.create_stream()
        first = None
        count = 0
        while not generator.is_done():
            generator.generate_next_token()
            token = generator.get_next_tokens()[0]
            if first is None:
                first = time.perf_counter()
            stream.decode(token)
            count += 1
        ended = time.perf_counter()
        assert first is not None
        return first - began, (count - 1) / (ended - first), count


class ChatApp(App[None]):
    """The chat screen alone, on a scratch lab (answered chats are saved there), with a given model."""

    def __init__(self, lab: LabPaths, model_dir: Path) -> None:
        super().__init__()
        self.lab = lab
        self._chat = ChatScreen(model_dir, device="cpu")

    def on_mount(self) -> None:
        self.push_screen(self._chat)


async def _until(check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the chat screen did not get there in time")
        await asyncio.sleep(0.02)


async def _key_latency(model_dir: Path, answer_tokens: int, seconds: float) -> dict[str, Any]:
    """Keys every ~50 ms for `seconds` while the screen keeps generating; latencies of keys sent mid-answer."""
    with tempfile.TemporaryDirectory() as tmp:
        app = ChatApp(LabPaths.at(tmp), model_dir)
        timer = KeyTimer(app)  # type: ignore[arg-type]
        latencies: list[float] = []
        scrolled: list[bool] = []
        rates: list[float] = []
        answers = pressed = 0
        async with app.run_test(size=(120, 40), message_hook=timer.hook):
            await _until(lambda: isinstance(app.screen, ChatScreen) and app.screen.session is not None, 120)
            screen = app.screen
            assert isinstance(screen, ChatScreen) and screen.session is not None
            session = screen.session
            session.set_options(SamplingOptions(greedy=True, max_length=answer_tokens, min_length=answer_tokens))
            screen.query_one(PromptInput).value = PROMPT
            await timer.press("enter")
            await _until(lambda: screen.busy, 10)
            log = screen.query_one(ChatLog)
            end = time.monotonic() + seconds
            i = 0
            while time.monotonic() < end:
                if not screen.busy:  # the answer is finished: note its speed and ask again
                    answer = session.conversation.turns[-1].answer if session.conversation.turns else None
                    if answer is not None and answer.stats.tokens_per_s:
                        rates.append(answer.stats.tokens_per_s)
                    answers += 1
                    await timer.press("ctrl+r")
                    await _until(lambda: screen.busy, 10)
                    continue
                key = KEYS[i % len(KEYS)]
                latency = await timer.press(key)
                pressed += 1
                if screen.busy:  # still generating when the frame came
                    latencies.append(latency)
                    if key.startswith("page"):
                        scrolled.append(screen.focused is log)
                i += 1
                await asyncio.sleep(0.05)
            answers += int(screen.busy)
            screen.action_stop()
            await _until(lambda: not screen.busy, 30)
    if not latencies:
        raise RuntimeError("no key was timed while the model was generating")
    latencies.sort()
    return {
        "keys_pressed": pressed,
        "keys_timed_while_generating": len(latencies),
        "key_latency_p50_ms": round(statistics.median(latencies), 1),
        "key_latency_p95_ms": round(latencies[int(0.95 * (len(latencies) - 1))], 1),
        "key_latency_max_ms": round(latencies[-1], 1),
        "scroll_keys_reaching_log": f"{sum(scrolled)}/{len(scrolled)}",
        "answers_during_key_test": answers,
        "app_tokens_per_s": round(statistics.median(rates), 1) if rates else None,
    }


def _prepare_ms(engine: ChatModel, turns: int, repeats: int = 15) -> float:
    """Median milliseconds to prepare turn `turns`' prompt of a chat that went turn by turn until then."""
    history = [(f"{PROMPT} Day {i}, with the trams and the river.", f"See the castle and the tiles {i}. " * 3)
               for i in range(turns)]  # fmt: skip
    options = SamplingOptions(greedy=True, max_length=64)
    for turn in range(turns):  # the chat so far: each earlier turn was prepared once
        engine.prepare("", history[:turn], history[turn][0], options)
    took = []
    for _ in range(repeats):
        began = time.perf_counter()
        engine.prepare("", history, PROMPT, options)
        took.append(time.perf_counter() - began)
    return statistics.median(took) * 1000


def run(
    model: str | None = None,
    tokens: int = 200,
    repeats: int = 15,
    lab: str | None = None,
    key_seconds: float = 10.0,
) -> dict[str, Any]:
    labs = LabPaths.at(lab)
    info = describe_model(chosen_model(labs, model))
    adapter_path = info.adapters[0].path if info.adapters else None
    with tempfile.TemporaryDirectory() as tmp:
        engine = ChatModel(info, lab=LabPaths.at(tmp), device="cpu")
        bare = BareLoop(info.path, adapter_path)
        adapter = info.adapters[0].name if info.adapters else BASE_ADAPTER
        budget = min(tokens, (info.context_length or 2048) - 64)
        options = SamplingOptions(greedy=True, max_length=budget, min_length=budget)
        for _ in range(2):  # warm both up
            bare.answer(PROMPT, budget)
            engine.answer(PROMPT, adapter=adapter, options=options)
        bare_ttft, bare_rate, engine_ttft, engine_rate = [], [], [], []
        for _ in range(repeats):
            ttft, rate, _count = bare.answer(PROMPT, budget)
            bare_ttft.append(ttft)
            bare_rate.append(rate)
            stats = engine.answer(PROMPT, adapter=adapter, options=options).stats
            assert stats.ttft_s is not None and stats.tokens_per_s is not None
            engine_ttft.append(stats.ttft_s)
            engine_rate.append(stats.tokens_per_s)
        prepare_10, prepare_1000 = _prepare_ms(engine, 10), _prepare_ms(engine, 1000)
    # long answers for the key test, so it spends its time mid-answer (the KV cache is sized by the budget)
    long_answer = max(budget, min(2000, (info.context_length or 2048) - 128))
    keys = asyncio.run(_key_latency(info.path, long_answer, key_seconds))
    bare_r, engine_r = statistics.median(bare_rate), statistics.median(engine_rate)
    bare_t, engine_t = statistics.median(bare_ttft), statistics.median(engine_ttft)
    return {
        "model": str(info.path),
        "answer_tokens": budget,
        "repeats": repeats,
        "bare_tokens_per_s": round(bare_r, 1),
        "engine_tokens_per_s": round(engine_r, 1),
        "rate_ratio": round(engine_r / bare_r, 3),
        "bare_ttft_ms": round(bare_t * 1000, 2),
        "engine_ttft_ms": round(engine_t * 1000, 2),
        "ttft_overhead_ms": round((engine_t - bare_t) * 1000, 2),
        "prepare_turn_10_ms": round(prepare_10, 2),
        "prepare_turn_1000_ms": round(prepare_1000, 2),
        "prepare_growth": round(prepare_1000 / prepare_10, 2),
        "key_test_answer_tokens": long_answer,
        **keys,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model or run folder (default: the lab's newest finished run)")
    parser.add_argument("--lab", help="lab folder (default: the current folder)")
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--key-seconds", type=float, default=10.0, help="how long to press keys mid-answer")
    args = parser.parse_args()
    figures = run(args.model, args.tokens, args.repeats, args.lab, args.key_seconds)
    for name, value in figures.items():
        print(f"{name:<30} {value}")
    ratio_ok = figures["rate_ratio"] >= RATE_TARGET
    ttft_ok = figures["ttft_overhead_ms"] <= TTFT_OVERHEAD_TARGET_MS
    print(f"rate ratio {figures['rate_ratio']} (target >= {RATE_TARGET}){'' if ratio_ok else '  UNDER'}")
    print(
        f"first-token overhead {figures['ttft_overhead_ms']} ms "
        f"(target <= {TTFT_OVERHEAD_TARGET_MS} ms){'' if ttft_ok else '  OVER'}"
    )
    growth_ok = figures["prepare_growth"] <= PREPARE_GROWTH_TARGET
    print(
        f"prompt preparation at turn 1000 / turn 10: {figures['prepare_growth']}x "
        f"(target <= {PREPARE_GROWTH_TARGET}x){'' if growth_ok else '  OVER'}"
    )
    keys_ok = figures["key_latency_p95_ms"] <= KEY_LATENCY_TARGET_MS
    print(
        f"key latency p95 while generating {figures['key_latency_p95_ms']} ms "
        f"(target <= {KEY_LATENCY_TARGET_MS} ms){'' if keys_ok else '  OVER'}"
    )


if __name__ == "__main__":
    main()
