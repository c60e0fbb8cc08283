"""What the chat engine costs over a bare onnxruntime-genai loop on the same model and settings.

Targets: the engine's decoding speed at least 0.95x the bare loop's, and at most 5 ms more time to the
first token. Both loops template and encode the prompt, activate the same adapter, decode greedily with a
fixed answer length, and are timed the same way; runs alternate and medians are reported.

    python -m benchmarks.bench_chat [--model DIR] [--tokens N] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from engine.chat import BASE_ADAPTER, ChatModel, SamplingOptions, resolve_model
from engine.paths import LabPaths

RATE_TARGET = 0.95
TTFT_OVERHEAD_TARGET_MS = 5.0
PROMPT = "What should I see in Lisbon in spring?"


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


def run(
    model: str | None = None, tokens: int = 200, repeats: int = 15, lab: str | None = None
) -> dict[str, Any]:
    labs = LabPaths.at(lab)
    info = resolve_model(labs, model)
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
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model or run folder (default: the lab's newest finished run)")
    parser.add_argument("--lab", help="lab folder (default: the current folder)")
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    figures = run(args.model, args.tokens, args.repeats, args.lab)
    for name, value in figures.items():
        print(f"{name:<20} {value}")
    ratio_ok = figures["rate_ratio"] >= RATE_TARGET
    ttft_ok = figures["ttft_overhead_ms"] <= TTFT_OVERHEAD_TARGET_MS
    print(f"rate ratio {figures['rate_ratio']} (target >= {RATE_TARGET}){'' if ratio_ok else '  UNDER'}")
    print(
        f"first-token overhead {figures['ttft_overhead_ms']} ms "
        f"(target <= {TTFT_OVERHEAD_TARGET_MS} ms){'' if ttft_ok else '  OVER'}"
    )


if __name__ == "__main__":
    main()
