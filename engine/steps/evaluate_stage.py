"""One framework's stages of the evaluate step, in a process of their own (so its memory is its own).

    python -m engine.steps.evaluate_stage JOB.json RESULT.json

The job names the framework (`torch` or `onnxruntime-genai`), its stages (model folder, adapter), the records
and the decoding limit; the result holds, per stage, each record's token loss on the reference answer given
its prompt, the greedy answers, their timings and the stage's peak resident memory. The onnxruntime-genai
process runs first and tokenizes the records with the model's tokenizer; the torch process takes those very
token ids (the same tokens for every stage) and also scores every stage's answers with ROUGE-L.
"""

from __future__ import annotations

import gc
import json
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

Step = Callable[[list[int]], int]  # one decoding step: the tokens to feed, the next token chosen greedily


class PeakMemory:
    """The process's peak resident memory while a block runs, sampled every 5 ms."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self.peak = 0

    @contextmanager
    def measure(self) -> Iterator[None]:
        done = threading.Event()
        self.peak = self._proc.memory_info().rss

        def sample() -> None:
            while not done.wait(0.005):
                self.peak = max(self.peak, self._proc.memory_info().rss)

        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()
            self.peak = max(self.peak, self._proc.memory_info().rss)


def token_losses(logprobs_of: Callable[[list[int]], Any], prompt: list[int], target: list[int]) -> list[float]:
    """Each target token's loss (-log p) given the prompt and the target tokens before it. `logprobs_of(ids)`
    gives the log-probabilities at every position of `ids` as a (len(ids), vocab) array."""
    ids = prompt + target
    logprobs = logprobs_of(ids)
    start = len(prompt) - 1
    return [-float(logprobs[start + i][token]) for i, token in enumerate(target)]


def greedy(step: Step, prompt: list[int], budget: int, eos: set[int]) -> tuple[list[int], float, float | None]:
    """Greedy decoding: (answer tokens, time to the first token, tokens per second after the first)."""
    started = time.perf_counter()
    token = step(prompt)
    first = time.perf_counter()
    tokens: list[int] = []
    while token not in eos:
        tokens.append(token)
        if len(tokens) >= budget:
            break
        token = step([token])
    ended = time.perf_counter()
    rate = (len(tokens) - 1) / (ended - first) if len(tokens) > 1 and ended > first else None
    return tokens, first - started, rate


def _measure(stage: dict[str, Any], memory: PeakMemory, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        with memory.measure():
            result = run()
    except Exception as exc:  # a stage that cannot be loaded or run is reported, the others still measured
        return {
            "stage": stage["stage"],
            "error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300],
        }
    return {"stage": stage["stage"], "peak_rss_mib": memory.peak / 2**20, **result}


def _summary(
    losses: list[list[float]], answers: list[list[int]], timings: list[tuple[float, float | None]]
) -> dict[str, Any]:
    rates = [r for _, r in timings if r is not None]
    flat = [x for record in losses for x in record]
    return {
        "loss": sum(flat) / len(flat) if flat else None,
        "scored_tokens": len(flat),
        "record_losses": [sum(r) / len(r) for r in losses if r],
        "answer_ids": answers,
        "ttft_s": sum(t for t, _ in timings) / len(timings) if timings else None,
        "tokens_per_s": sum(rates) / len(rates) if rates else None,
    }


# -- onnxruntime-genai -------------------------------------------------------------------------------


def onnx_stages(job: dict[str, Any]) -> dict[str, Any]:
    import numpy as np
    import onnxruntime_genai as og

    from engine.chat.models import zero_adapter

    memory = PeakMemory()
    stages = job["stages"]
    folder = Path(stages[0]["model"])
    state: dict[str, Any] = {}
    out: dict[str, Any] = {"stages": []}
    records = job["records"]
    with tempfile.TemporaryDirectory() as scratch:

        def run(stage: dict[str, Any]) -> dict[str, Any]:
            if "model" not in state:
                config = og.Config(str(folder))
                options: dict[str, Any] = {"log_severity_level": 4}
                if job.get("threads"):
                    options["intra_op_num_threads"] = job["threads"]
                config.overlay(json.dumps({"model": {"decoder": {"session_options": options}}}))
                config.clear_providers()
                state["model"] = model = og.Model(config)
                state["tokenizer"] = tok = og.Tokenizer(model)
                state["adapters"] = adapters = og.Adapters(model)
                adapter = Path(stage.get("adapter") or stage["zero_of"])
                adapters.load(str(adapter), "adapter")
                adapters.load(str(zero_adapter(adapter, Path(scratch))), "base")
                out["token_ids"] = [
                    [[int(t) for t in tok.encode(r["prompt_text"])], [int(t) for t in tok.encode(r["target_text"])]]
                    for r in records
                ]
            model, tok, adapters = state["model"], state["tokenizer"], state["adapters"]
            name = "adapter" if stage.get("adapter") else "base"
            eos = {int(t) for t in tok.eos_token_ids}

            def generator(length: int) -> Any:
                params = og.GeneratorParams(model)
                params.set_search_options(max_length=length, do_sample=False)
                gen = og.Generator(model, params)
                gen.set_active_adapter(adapters, name)
                return gen

            def logprobs_of(ids: list[int]) -> Any:
                gen = generator(len(ids) + 1)
                gen.append_tokens(ids)
                logits = np.asarray(gen.get_output("logits"), dtype=np.float64)[0]
                return logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)

            losses, answers, timings = [], [], []
            for prompt, target in out["token_ids"]:
                losses.append(token_losses(logprobs_of, prompt, target))
                gen = generator(len(prompt) + job["max_new_tokens"] + 1)

                def step(feed: list[int], gen: Any = gen) -> int:
                    gen.append_tokens(feed)
                    return int(np.argmax(np.asarray(gen.get_output("logits"))[0, -1]))

                ids, ttft, rate = greedy(step, prompt, job["max_new_tokens"], eos)
                answers.append(ids)
                timings.append((ttft, rate))
            result = _summary(losses, answers, timings)
            result["answers"] = [tok.decode(np.asarray(a, dtype=np.int32)) if a else "" for a in answers]
            return result

        for stage in stages:
            out["stages"].append(_measure(stage, memory, partial(run, stage)))
    return out


# -- torch (transformers, peft) ------------------------------------------------------------------------


def torch_stages(job: dict[str, Any]) -> dict[str, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    memory = PeakMemory()
    out: dict[str, Any] = {"stages": []}
    ids = job.get("token_ids")
    for stage in job["stages"]:

        def run(stage: dict[str, Any] = stage) -> dict[str, Any]:
            nonlocal ids
            tok = AutoTokenizer.from_pretrained(stage["model"])
            if ids is None:  # no onnxruntime-genai stage tokenized them: the same rule with this tokenizer
                ids = [
                    [tok(r["prompt_text"]).input_ids, tok(r["target_text"], add_special_tokens=False).input_ids]
                    for r in job["records"]
                ]
                out["token_ids"] = ids
            model: Any = AutoModelForCausalLM.from_pretrained(stage["model"], dtype="auto")
            if stage.get("adapter"):
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, stage["adapter"])
            model.eval()
            eos = set(_as_list(model.generation_config.eos_token_id)) | set(_as_list(tok.eos_token_id))

            def logprobs_of(seq: list[int]) -> Any:
                logits = model(torch.tensor([seq])).logits[0].float()
                return torch.log_softmax(logits, dim=-1)

            losses, answers, timings = [], [], []
            with torch.inference_mode():
                for prompt, target in ids:
                    losses.append(token_losses(logprobs_of, prompt, target))
                    cache: dict[str, Any] = {}

                    def step(feed: list[int], cache: dict[str, Any] = cache) -> int:
                        output = model(torch.tensor([feed]), past_key_values=cache.get("past"), use_cache=True)
                        cache["past"] = output.past_key_values
                        return int(output.logits[0, -1].argmax())

                    answer, ttft, rate = greedy(step, prompt, job["max_new_tokens"], eos)
                    answers.append(answer)
                    timings.append((ttft, rate))
            result = _summary(losses, answers, timings)
            result["answers"] = [tok.decode(a, skip_special_tokens=True) for a in answers]
            return result

        out["stages"].append(_measure(stage, memory, run))
        gc.collect()  # the stage's model is gone with `run`: free it before the next stage is measured
    out["rouge_l"] = _rouge(job, out)
    return out


def _as_list(value: Any) -> list[int]:
    return [int(v) for v in value] if isinstance(value, list | tuple) else [int(value)] if value is not None else []


def _rouge(job: dict[str, Any], out: dict[str, Any]) -> dict[str, float]:
    """Mean ROUGE-L of every stage's answers (this process's and the ones the job carries) against the references."""
    from engine.chat.golden import rouge_l

    references = [r["reference"] for r in job["records"]]
    answers = {s["stage"]: s["answers"] for s in out["stages"] if "answers" in s}
    answers.update(job.get("other_answers", {}))
    return {
        stage: sum(rouge_l(a.strip(), ref) for a, ref in zip(texts, references, strict=False)) / len(texts)
        for stage, texts in answers.items()
        if texts
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    job = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    result = torch_stages(job) if job["framework"] == "torch" else onnx_stages(job)
    Path(args[1]).write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
