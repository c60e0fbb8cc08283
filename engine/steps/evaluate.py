"""The evaluate step's program: every stage of a run measured on the held-out split, side by side.

    python -m engine.steps.evaluate --run RUN --model BASE --data RUN/data/validation.jsonl \\
        --template T --fields prompt,response --records 8 --new-tokens 16 --threads 1 --output RUN/evaluate/output

Stages (each one the run has): the original model, the AWQ-scaled model, the fine-tuned model (torch + PEFT
adapter), the ONNX int4 model without the adapter (the all-zero adapter) and with it (onnxruntime-genai).
Each record is rendered with the lab's text template; the text before the response is the prompt, the
response and the template's closing text are scored (mean token loss), and a greedy answer of at most
`--new-tokens` tokens is scored against the reference with ROUGE-L. The frameworks run one after the other
in child processes of their own (engine.steps.evaluate_stage), so each stage's peak memory is that process's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from engine.data.records import load_records, render
from engine.durations import format_duration
from engine.errors import OliveLabError
from engine.fs import atomic_write_text
from engine.steps.evaluation import EVALUATION_FILE, Evaluation, StageResult, comparisons, evaluation_table
from engine.steps.logparse import stamped

RESPONSE_MARK = "\x00olive-lab-response\x00"


def _say(message: str, level: str = "INFO") -> None:
    print(stamped(message, level=level, origin="evaluate.py:0:evaluate"), flush=True)


def folder_size(*paths: Path, skip_suffix: str = "") -> int:
    """Bytes of the files under `paths` (a file counts itself); names ending in `skip_suffix` left out."""
    total = 0
    for path in paths:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
        total += sum(
            f.stat().st_size
            for f in files
            if not (skip_suffix and f.name.endswith(skip_suffix)) and ".olive-cache" not in f.parts
        )
    return total


def find_stages(run: Path, base_model: str) -> list[dict[str, Any]]:
    """The stages this run has, in pipeline order, each with its framework, model, adapter and size."""
    stages: list[dict[str, Any]] = []
    base = Path(base_model).expanduser()
    stages.append({"stage": "original", "framework": "torch", "model": base_model, "size": folder_size(base)})
    if (run / "quantize" / "output" / "config.json").is_file():
        awq = run / "quantize" / "output"
        stages.append({"stage": "awq", "framework": "torch", "model": str(awq), "size": folder_size(awq)})
    tuned = run / "finetune" / "output"
    if (tuned / "adapter" / "adapter_config.json").is_file():
        stages.append(
            {
                "stage": "finetuned",
                "framework": "torch",
                "model": str(tuned / "model"),
                "adapter": str(tuned / "adapter"),
                "size": folder_size(tuned / "model", tuned / "adapter"),
            }
        )
    onnx = run / "optimize" / "output"
    adapters = sorted(onnx.glob("*.onnx_adapter"))
    if (onnx / "genai_config.json").is_file() and adapters:
        size = folder_size(onnx, skip_suffix=".onnx_adapter")
        stages.append({"stage": "onnx", "framework": "onnxruntime-genai", "model": str(onnx), "size": size,
                       "zero_of": str(adapters[0])})  # base answers: the all-zero twin of the adapter  # fmt: skip
        stages.append({"stage": "onnx_adapter", "framework": "onnxruntime-genai", "model": str(onnx),
                       "adapter": str(adapters[0]), "size": size + adapters[0].stat().st_size})  # fmt: skip
    return stages


def held_out(data: Path, template: str, fields: list[str]) -> list[dict[str, str]]:
    """Each held-out record as (prompt text, target text, reference): the template rendered around the response."""

    response_field = fields[1]
    out = []
    for record in load_records(data, fields):
        full = render(template, {**record.data, response_field: RESPONSE_MARK})
        if RESPONSE_MARK not in full:
            raise ValueError(f"the text template has no {{{response_field}}} placeholder: there is no answer to score")
        before, _, after = full.partition(RESPONSE_MARK)
        response = str(record.data[response_field])
        out.append({"prompt_text": before, "target_text": response + after, "reference": response})
    return out


def run_child(job: dict[str, Any], scratch: Path) -> dict[str, Any]:
    """One framework's stages in a child process; a child that dies leaves its stages marked not measured."""
    name = job["framework"]
    job_file, result_file = scratch / f"{name}.job.json", scratch / f"{name}.result.json"
    job_file.write_text(json.dumps(job), encoding="utf-8")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "engine.steps.evaluate_stage", str(job_file), str(result_file)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    if proc.returncode != 0 or not result_file.is_file():
        lines = (proc.stdout or "").strip().splitlines()
        for line in lines[-8:-1]:  # the context of its last line, for the log
            print(line, flush=True)
        tail = lines[-1:] or [f"exit status {proc.returncode}"]
        _say(f"{name}: the measuring process failed: {tail[0]}", "WARNING")
        return {
            "stages": [
                {"stage": s["stage"], "error": f"the {name} process failed: {tail[0]}"[:300]} for s in job["stages"]
            ]
        }
    _say(f"{name}: {len(job['stages'])} stage(s) measured in {format_duration(time.monotonic() - started)}")
    result: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
    return result


def evaluate(
    run: Path,
    base_model: str,
    data: Path,
    template: str,
    fields: list[str],
    limit: int,
    new_tokens: int,
    threads: int = 0,
) -> Evaluation:
    started, load = time.monotonic(), os.getloadavg()[0]  # the speeds below depend on what else runs
    records = held_out(data, template, fields)
    chosen = records[:limit]
    stages = find_stages(run, base_model)
    _say(
        f"Measuring {len(stages)} stages on {len(chosen)} of {len(records)} held-out records, "
        f"greedy answers of at most {new_tokens} tokens"
    )
    results: dict[str, dict[str, Any]] = {}
    ids = None
    other: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for framework in ("onnxruntime-genai", "torch"):  # onnxruntime-genai first: it tokenizes for both
            mine = [s for s in stages if s["framework"] == framework]
            if not mine:
                continue
            job = {"framework": framework, "stages": mine, "records": chosen, "max_new_tokens": new_tokens,
                   "token_ids": ids, "other_answers": other, "threads": threads}  # fmt: skip
            out = run_child(job, Path(tmp))
            ids = out.get("token_ids", ids)
            for found in out["stages"]:
                results[found["stage"]] = found
                if "answers" in found:
                    other[found["stage"]] = found["answers"]
            for stage, score in out.get("rouge_l", {}).items():
                results.setdefault(stage, {})["rouge_l"] = score
    measured = []
    for s in stages:
        found = results.get(s["stage"], {"error": "not measured"})
        fields_ = {k: v for k, v in found.items() if k in StageResult.model_fields and k != "stage"}
        measured.append(
            StageResult(
                stage=s["stage"],
                framework=s["framework"],
                path=s.get("adapter") or s["model"],
                size_bytes=s["size"],
                **fields_,
            )
        )
    evaluation = Evaluation(
        run_id=run.name, data=str(data), held_out_records=len(records), records=len(chosen),
        max_new_tokens=new_tokens, scored_tokens=sum(len(t) for _, t in ids or []), stages=measured,
        duration_s=time.monotonic() - started, cpus=len(os.sched_getaffinity(0)), load_average=load,
    )  # fmt: skip
    evaluation.comparisons = comparisons(measured)
    return evaluation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="engine.steps.evaluate")
    parser.add_argument("--run", required=True)
    parser.add_argument("--model", required=True, help="the run's base model (folder or id)")
    parser.add_argument("--data", required=True)
    parser.add_argument("--template", required=True)
    parser.add_argument("--fields", required=True, help="prompt_field,response_field")
    parser.add_argument("--records", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads of each framework (0: its default)")
    parser.add_argument("--output", required=True)
    args = parser.parse_args(argv)

    try:
        result = evaluate(Path(args.run), args.model, Path(args.data), args.template, args.fields.split(",", 1),
                          args.records, args.new_tokens, args.threads)  # fmt: skip
    except (OliveLabError, OSError, ValueError) as exc:
        print(f"{type(exc).__name__}: {exc}", flush=True)  # the log parser takes this line as the reason
        return 1
    for line in evaluation_table(result).splitlines():
        _say(line, "WARNING" if line.strip().startswith("warning:") else "INFO")
    if not any(s.loss is not None for s in result.stages):
        print("RuntimeError: no stage could be measured (see the lines above)", flush=True)
        return 1
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output / EVALUATION_FILE, result.model_dump_json(indent=1) + "\n")
    _say(f"Saved output model to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
