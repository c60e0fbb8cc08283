"""CUDA chat on a model the chain built: the app's chat engine beside a bare onnxruntime-genai loop.

On a machine with an NVIDIA GPU and the cuda flavour's chat runtime (onnxruntime-gpu and
onnxruntime-genai-cuda of the CUDA 13 line), for an optimize step's output folder (`genai_config.json`, the
model and its `.onnx_adapter`):

1. a bare onnxruntime-genai loop on CUDA (Model, Tokenizer, Generator, generate_next_token, a token stream
   decoder), with the adapter active and with the all-zero "base" adapter;
2. the same prompts through the app's chat engine (`engine.chat.ChatModel(device="cuda")`), same search
   options (greedy, exactly `--tokens` answer tokens);
3. the app's chat screen in a headless Textual pilot: while an answer streams, the time from each key press
   (typed into the prompt) until the app has processed it and the prompt shows it.

Prints a table and writes JSON (`--json`): time to first token and tokens/s, the median of `--repeat` runs
after one warm-up, and the app/bare ratio (target >= 0.95). Exit 1 when CUDA was not used, the ratio misses
the target, or a check fails.

    python scripts/cuda_chat_check.py --model RUN/optimize/output [--tokens 256] [--repeat 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.chat import SamplingOptions
from engine.chat.models import BASE_ADAPTER, describe_model
from engine.chat.runtime import ChatModel
from engine.paths import LabPaths

PROMPT = "Plan three days in Rome for someone who likes old churches and quiet cafes."
TARGET = 0.95


def bare_run(og: Any, model: Any, tok: Any, adapters: Any, name: str | None, ids: Any, n: int) -> dict[str, float]:
    """One answer through onnxruntime-genai alone; the clock starts before the generator is made."""
    started = time.perf_counter()
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(ids) + n, min_length=len(ids) + n, do_sample=False)
    gen = og.Generator(model, params)
    if name is not None:
        gen.set_active_adapter(adapters, name)
    gen.append_tokens(ids)
    stream = tok.create_stream()
    first = None
    count = 0
    while not gen.is_done():
        gen.generate_next_token()
        token = int(gen.get_next_tokens()[0])
        if first is None:
            first = time.perf_counter()
        count += 1
        stream.decode(token)
    ended = time.perf_counter()
    del gen
    assert first is not None
    return {"ttft_s": first - started, "tokens_per_s": (count - 1) / (ended - first), "tokens": count}


def median_of(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def measure(chat: ChatModel, prompt_ids: Any, n: int, repeat: int) -> dict[str, Any]:
    """The app's answers and the bare loop's, run in turn (app first, then bare first, ...) so drift hits both.

    The bare loop drives the very og.Model and og.Adapters the app loaded, so only the app's own work differs
    (with a second og.Model on the same H100 the two instances differed by up to 10 % at 3.8 B parameters, one
    adapter slower, the other not)."""
    import onnxruntime_genai as og  # deferred: the CUDA build is what is measured

    model, tok, adapters = chat._model, chat._tokenizer, chat._adapters
    options = SamplingOptions(greedy=True, max_length=n, min_length=n)
    out: dict[str, Any] = {"app": {}, "bare": {}}
    for name in ("travel", BASE_ADAPTER):
        chat.answer(PROMPT, adapter=name, options=options)  # warm-up
        bare_run(og, model, tok, adapters, name, prompt_ids, n)
        app_runs, bare_runs = [], []
        for i in range(repeat):
            for side in ("app", "bare") if i % 2 == 0 else ("bare", "app"):
                if side == "bare":
                    bare_runs.append(bare_run(og, model, tok, adapters, name, prompt_ids, n))
                    continue
                stats = chat.answer(PROMPT, adapter=name, options=options).stats
                app_runs.append(
                    {
                        "ttft_s": stats.ttft_s or 0.0,
                        "tokens_per_s": stats.tokens_per_s or 0.0,
                        "tokens": stats.answer_tokens,
                    }
                )
        out["app"][name], out["bare"][name] = median_of(app_runs), median_of(bare_runs)
    try:  # no adapter at all (0.14.1 on the CPU once refused this for a model with extracted adapter inputs)
        out["bare"]["none"] = median_of([bare_run(og, model, tok, adapters, None, prompt_ids, n) for _ in range(2)])
    except Exception as exc:
        out["bare"]["none"] = {"error": str(exc).splitlines()[0][:200]}
    return out


async def key_latency(model_dir: Path, lab: LabPaths, presses: int, device: str) -> dict[str, Any]:
    """Key press -> processed and shown in the prompt, while the chat screen streams answers on CUDA."""
    from textual import events
    from textual.app import App

    from tui.screens.chat import ChatScreen
    from tui.widgets.chat_input import PromptInput

    class ChatApp(App[None]):
        def __init__(self) -> None:
            super().__init__()
            self.lab = lab

        def on_mount(self) -> None:
            self.push_screen(ChatScreen(model_dir=model_dir, device=device))  # type: ignore[arg-type]

    long = SamplingOptions(greedy=True, max_length=100_000, min_length=100_000)
    busy_ms: list[float] = []
    idle_ms: list[float] = []
    answers = 0
    app_ = ChatApp()
    async with app_.run_test(size=(120, 40)) as pilot:
        screen = app_.screen
        assert isinstance(screen, ChatScreen)
        for _ in range(600):
            if screen.session is not None:
                break
            await pilot.pause(0.05)
        assert screen.session is not None, "the chat screen did not load the model"
        device = screen.session.model.device
        screen.session.set_options(long)
        prompt = screen.query_one(PromptInput)

        async def press(key: str) -> float:
            """Post one key as the terminal would and wait until the prompt shows it: milliseconds."""
            before = prompt.value
            started = time.perf_counter()
            app_.post_message(events.Key(key, key))
            while prompt.value == before and time.perf_counter() - started < 5:
                await asyncio.sleep(0.0005)
            return (time.perf_counter() - started) * 1000

        for _ in range(presses // 4):  # idle: nothing generating
            idle_ms.append(await press("x"))
            await asyncio.sleep(0.01)
        prompt.value = ""
        while len(busy_ms) < presses and answers < 200:
            if not screen.busy:
                prompt.value = "Rome?"
                app_.post_message(events.Key("enter", None))
                answers += 1
                for _ in range(400):
                    if screen.busy:
                        break
                    await asyncio.sleep(0.005)
                continue
            elapsed = await press("y")
            if screen.busy:
                busy_ms.append(elapsed)
            await asyncio.sleep(0.005)
        await pilot.press("escape")

    def summary(ms: list[float]) -> dict[str, float]:
        ms = sorted(ms)
        return (
            {
                "n": len(ms),
                "median_ms": statistics.median(ms),
                "p95_ms": ms[int(0.95 * (len(ms) - 1))],
                "max_ms": ms[-1],
            }
            if ms
            else {"n": 0}
        )

    return {
        "device": device,
        "answers_started": answers,
        "while_streaming": summary(busy_ms),
        "idle": summary(idle_ms),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, type=Path, help="an optimize step's output folder")
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--presses", type=int, default=60)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cpu: a dry run of this script")
    args = parser.parse_args()

    import onnxruntime as ort
    import onnxruntime_genai as og

    from engine.gpu.nvml import NVML

    lab = LabPaths.at(tempfile.mkdtemp(prefix="olive-lab-cuda-chat-"))
    info = describe_model(args.model)
    started = time.perf_counter()
    chat = ChatModel(info, lab=lab, device=args.device)
    load_s = time.perf_counter() - started
    ids = chat._tokenizer.encode(chat.format_prompt([{"role": "user", "content": PROMPT}]))
    status = NVML.status()
    result: dict[str, Any] = {
        "gpu": sorted(set(status.names)),
        "driver": status.driver_version,
        "onnxruntime": f"{ort.__version__} {ort.get_available_providers()}",
        "onnxruntime_genai": og.__version__,
        "app_device": chat.device,
        "app_notice": chat.notice,
        "app_problems": chat.problems,
        "app_load_s": load_s,
        "prompt_tokens": len(ids),
        "answer_tokens": args.tokens,
    }
    result.update(measure(chat, ids, args.tokens, args.repeat))
    ratios = {
        name: result["app"][name]["tokens_per_s"] / result["bare"][name]["tokens_per_s"]
        for name in ("travel", BASE_ADAPTER)
    }
    result["ratio_tokens_per_s"] = ratios
    del chat
    result["keys"] = asyncio.run(key_latency(args.model, lab, args.presses, args.device))

    print(json.dumps(result, indent=1))
    print(f"\n{'':22}{'first token':>14}{'tokens/s':>12}")
    for side in ("bare", "app"):
        for name in ("travel", BASE_ADAPTER):
            r = result[side][name]
            print(f"{side + ' ' + name:22}{r['ttft_s'] * 1000:>11.2f} ms{r['tokens_per_s']:>12.0f}")
    checks = [
        (
            "the app loaded on " + args.device,
            chat_device_ok := result["app_device"] == args.device,
            result["app_notice"] or args.device,
        ),
        *((f"app/bare tokens/s {n}", r >= TARGET, f"{r:.3f}") for n, r in ratios.items()),
        (
            "key presses measured while streaming",
            result["keys"]["while_streaming"].get("n", 0) > 0,
            str(result["keys"]["while_streaming"]),
        ),
        (
            "the chat screen loaded on " + args.device,
            result["keys"]["device"] == args.device,
            result["keys"]["device"],
        ),
    ]
    for name, ok, detail in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name:40} {detail}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0 if chat_device_ok and all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
