"""Check that the quantize step really runs AWQ on CUDA, on a machine with an NVIDIA GPU.

Builds the demo model from the bundled travel texts, then runs the quantize step's own program
(`python -m engine.steps.awq_quantize`) with `--device cuda` and with `--device auto`, sampling the GPU
with the run supervisor's `StepGpuMeter` every 0.2 s while it runs. Each run must: exit 0; show the pass
starting, finishing and saving, and AWQ's progress bar, to the one log parser; leave a complete output
(`expected_outputs`) whose config.json has no `quantization_config`; hold weights that differ from the
input model's (the AWQ scales were applied); say in its log that it ran on cuda; and be seen on the GPU
(peak VRAM above 0, its process marked as the lab's). With `--big`, a random-weight Phi-3 with hidden size
1024 and 4 layers is also quantized with group size 128, and timed.

    python scripts/gpu_quantize_check.py [--work DIR] [--big]

Prints a PASS/FAIL table and timings; exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.gpu.meter import StepGpuMeter  # noqa: E402
from engine.steps.logparse import LogParser  # noqa: E402

DATA = ROOT / "data" / "travel.jsonl"
TEMPLATE = "<|user|>\n{prompt}<|end|>\n<|assistant|>\n{response}<|end|>"
FIELDS = ["prompt", "response"]
TRAIN_RECORDS = 64
SAMPLE_EVERY_S = 0.2
STEP_TIMEOUT_S = 600.0


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class QuantizeRun:
    """One run of the quantize program and what was seen while it ran."""

    label: str
    device: str
    output: Path
    returncode: int
    wall_s: float
    log: str
    parser: LogParser
    meter: dict[str, float | int | None]
    process_seen: bool
    progress_seen: bool
    pass_seconds: float | None = None
    events: list[str] = field(default_factory=list)


def step_env() -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OLIVE_DISABLE_TELEMETRY": "1", "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def prepare(work: Path) -> tuple[Path, Path, float]:
    """The demo model built from the travel texts and a small train.jsonl; returns (model, data, seconds)."""
    from engine.steps.demo_model import ensure_demo_model

    started = time.perf_counter()
    model = ensure_demo_model(log=lambda line: print(f"  {line}", flush=True))  # the per-user demo model
    data = work / "train.jsonl"
    lines = [line for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    data.write_text("\n".join(lines[:TRAIN_RECORDS]) + "\n", encoding="utf-8")
    return model, data, time.perf_counter() - started


def run_quantize(
    label: str,
    model: Path,
    data: Path,
    output: Path,
    *,
    device: str,
    group_size: int,
    samples: int,
    seq_len: int,
) -> QuantizeRun:
    """Run the quantize program as a subprocess, feeding its output to the log parser and sampling the GPU.
    The command comes from the lab's own builder, exactly as a run would start it."""
    from engine.config import build_config
    from engine.steps.commands import StepPaths
    from engine.steps.spec import step_argv

    config = build_config(
        "demo",
        {"quantize": {"device": device, "group_size": group_size, "calib_samples": samples, "calib_seq_len": seq_len}},
    )
    assert data.name == "train.jsonl"  # the builder reads <data_dir>/train.jsonl
    argv = step_argv("quantize", config, StepPaths(str(model), str(data.parent), str(output)))
    parser = LogParser()
    chunks: list[str] = []
    events: list[str] = []
    progress_seen = False
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=ROOT, env=step_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )

    def read() -> None:
        nonlocal progress_seen
        assert proc.stdout is not None
        while chunk := proc.stdout.read(4096):
            chunks.append(chunk)
            events.extend(event.kind for event in parser.feed(chunk))
            progress_seen = progress_seen or parser.progress is not None
        events.extend(event.kind for event in parser.finish())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    meter = StepGpuMeter(lambda: [proc.pid], lab_dir=output.parent)
    process_seen = False
    while proc.poll() is None:
        sample = meter.sample()
        process_seen = process_seen or any(p.is_lab for gpu in sample.gpus for p in gpu.processes)
        if time.perf_counter() - started > STEP_TIMEOUT_S:
            proc.kill()
        time.sleep(SAMPLE_EVERY_S)
    reader.join(timeout=30)
    wall = time.perf_counter() - started
    log = "".join(chunks)
    pass_seconds = None
    for line in log.splitlines():
        if "Pass awq:AutoAWQ finished in " in line:
            pass_seconds = float(line.rsplit(" finished in ", 1)[1].split()[0])
    return QuantizeRun(
        label=label,
        device=device,
        output=output,
        returncode=proc.returncode,
        wall_s=wall,
        log=log,
        parser=parser,
        meter=meter.summary(),
        process_seen=process_seen,
        progress_seen=progress_seen,
        pass_seconds=pass_seconds,
        events=events,
    )


def weights_changed(before: Path, after: Path) -> tuple[int, int]:
    """(tensors whose values changed by more than fp16 rounding, tensors compared) between two models."""
    import torch
    from safetensors.torch import load_file

    def load(folder: Path) -> dict[str, torch.Tensor]:
        tensors: dict[str, torch.Tensor] = {}
        for file in sorted(folder.glob("*.safetensors")):
            tensors.update(load_file(str(file)))
        return tensors

    old, new = load(before), load(after)
    compared = changed = 0
    for name, tensor in old.items():
        other = new.get(name)
        if other is None or other.shape != tensor.shape or tensor.dim() == 0:
            continue
        compared += 1
        a, b = tensor.float(), other.float()
        scale = a.abs().max().clamp_min(1e-6)
        if ((a - b).abs().max() / scale).item() > 1e-2:
            changed += 1
    return changed, compared


def check_run(run: QuantizeRun, model: Path, want_device: str = "cuda") -> list[Check]:
    """Everything a quantize run on the GPU must show, as named PASS/FAIL checks."""
    from engine.runs.reuse import expected_outputs

    label = run.label
    checks = [Check(f"{label}: exit status 0", run.returncode == 0, f"exit {run.returncode}")]
    started = "pass_started" in run.events
    finished = "pass_finished" in run.events
    saved = "saved" in run.events and run.parser.saved_to == str(run.output)
    checks.append(
        Check(
            f"{label}: log parser saw pass start/finish/save",
            started and finished and saved,
            f"events {sorted(set(run.events))}, saved to {run.parser.saved_to}",
        )
    )
    progress = run.parser.progress
    checks.append(
        Check(
            f"{label}: log parser saw the progress bar",
            run.progress_seen and progress is not None and progress.n == progress.total,
            f"last bar {progress.desc or '?'} {progress.n}/{progress.total}" if progress else "no progress bar",
        )
    )
    missing = expected_outputs("quantize", run.output)
    checks.append(Check(f"{label}: expected_outputs complete", missing is None, missing or "ok"))
    config_path = run.output / "config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    checks.append(
        Check(
            f"{label}: config.json has no quantization_config",
            config_path.exists() and "quantization_config" not in config,
            f"torch_dtype/dtype {config.get('dtype', config.get('torch_dtype'))}",
        )
    )
    changed, compared = weights_changed(model, run.output) if run.returncode == 0 else (0, 0)
    checks.append(
        Check(
            f"{label}: AWQ scales changed the weights",
            changed > 0,
            f"{changed} of {compared} tensors differ from the input model",
        )
    )
    ran_on = f"Running AWQ scale search on {want_device}"
    checks.append(
        Check(
            f"{label}: log says it ran on {want_device}",
            ran_on in run.log,
            _line_with(run.log, "scale search"),
        )
    )
    peak = run.meter.get("peak_vram_mib")
    checks.append(
        Check(
            f"{label}: GPU meter saw it (peak VRAM > 0, process)",
            bool(peak) and run.process_seen,
            f"peak {peak} MiB, util {run.meter.get('mean_util_pct')} %, energy {run.meter.get('energy_j')} J, "
            f"{run.meter.get('samples')} samples, process seen: {run.process_seen}",
        )
    )
    return checks


def _line_with(text: str, needle: str) -> str:
    for line in text.splitlines():
        if needle in line:
            return line.split("] ", 3)[-1].strip()
    return f"no line with '{needle}'"


BIG_ARCH = {
    "hidden_size": 1024,
    "intermediate_size": 2816,
    "num_hidden_layers": 4,
    "num_attention_heads": 16,
    "num_key_value_heads": 16,
    "max_position_embeddings": 4096,
    "original_max_position_embeddings": 2048,
    "tie_word_embeddings": False,
}


def build_big_model(out: Path) -> Path:
    """A random-weight Phi-3 with hidden size 1024 and 4 layers and the demo tokenizer, built by the lab's one
    random-model builder."""
    from engine.steps.demo_model import demo_texts
    from engine.steps.random_model import build_random_phi3

    return build_random_phi3(out, demo_texts(), BIG_ARCH, dtype="float32")


def print_table(checks: list[Check]) -> None:
    width = max(len(c.name) for c in checks)
    print(f"\n{'result':6}  {'check':{width}}  detail")
    for c in checks:
        print(f"{'PASS' if c.ok else 'FAIL':6}  {c.name:{width}}  {c.detail}")


def print_log_tail(run: QuantizeRun, lines: int = 40) -> None:
    print(f"--- last lines of the log of '{run.label}' ---")
    for line in run.log.replace("\r", "\n").splitlines()[-lines:]:
        print(f"    {line}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, help="folder for models and outputs (default: a temporary one)")
    ap.add_argument("--big", action="store_true", help="also quantize a hidden-1024, 4-layer Phi-3 (timed)")
    args = ap.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu-quantize-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"work folder: {work}", flush=True)

    model, data, build_s = prepare(work)
    timings: list[tuple[str, float, float | None]] = [("demo model build (or cache)", build_s, None)]
    checks: list[Check] = []
    runs: list[QuantizeRun] = []
    demo = {"group_size": 32, "samples": 32, "seq_len": 64}
    for device in ("cuda", "auto"):
        print(f"quantize demo model, --device {device} ...", flush=True)
        label = f"demo --device {device}"
        run = run_quantize(label, model, data, work / f"quantized-{device}", device=device, **demo)
        runs.append(run)
        checks += check_run(run, model)
        timings.append((f"quantize demo, --device {device}", run.wall_s, run.pass_seconds))
    if args.big:
        print("building and quantizing the hidden-1024, 4-layer Phi-3 ...", flush=True)
        started = time.perf_counter()
        big = build_big_model(work / "models" / "phi3-h1024-l4")
        timings.append(("build hidden-1024 x 4 layers (random)", time.perf_counter() - started, None))
        label = "h1024x4 g128 --device cuda"
        run = run_quantize(
            label, big, data, work / "quantized-big", device="cuda", group_size=128, samples=64, seq_len=128
        )
        runs.append(run)
        checks += check_run(run, big)
        timings.append(("quantize h1024x4 g128, --device cuda", run.wall_s, run.pass_seconds))

    print_table(checks)
    print(f"\n{'timing':42}  {'wall s':>8}  {'pass s':>8}")
    for name, wall, pass_s in timings:
        print(f"{name:42}  {wall:8.2f}  {pass_s if pass_s is not None else float('nan'):8.2f}")
    for run in runs:
        print(f"  {run.label}: peak VRAM {run.meter.get('peak_vram_mib')} MiB, {run.meter.get('samples')} samples")
    failed = [c for c in checks if not c.ok]
    for run in runs:
        if any(c.name.startswith(run.label + ":") for c in failed):
            print_log_tail(run)
    print(f"\n{len(checks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
