"""The lab at real size: the phi35 profile on random weights of Phi-3.5-mini's exact architecture.

Builds (once, cached) random weights with Phi-3.5-mini-instruct's architecture (3.8 B parameters, LongRoPE
factors included) and the demo tokenizer, runs the phi35 profile with the lab's settings through
`olive-lab pipeline run`, chats with the result on the CPU, and prints per step: wall time split into
load / compute / save as far as the step's log shows it, peak VRAM, mean GPU use, energy and output size;
then the run folder's size (hard links counted once), chat tokens/s and time to first token.

    python scripts/real_size_check.py [--lab DIR] [--models DIR] [--json FILE] [--baseline FILE]
    python scripts/real_size_check.py --tiny      # the same chain on a 2-layer LongRoPE model, on a CPU

`--repo DIR` runs another checkout's olive-lab (to measure before and after a change with one script).
Needs a GPU for reasonable times at real size (about 6 minutes on one H200) and about 25 GB of disk.
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GIB = 1 << 30
PROMPTS = ("What is the best way to travel around Rome?", "Do I need a car in Edinburgh?")
# The CI-sized chain (as tests/test_longrope.py runs it): 16 calibration texts x 64 tokens, 5 LoRA steps.
TINY_SETTINGS = """
[quantize]
calib_samples = 16
calib_seq_len = 64
device = "cpu"
[finetune]
max_steps = 5
eval_steps = 5
max_seq_len = 128
torch_dtype = "float32"
lora_r = 8
"""


def tree_size(path: Path) -> tuple[int, int]:
    """(bytes on disk, apparent bytes) under `path`, each hard-linked file counted once, like `du`."""
    seen: set[tuple[int, int]] = set()
    disk = apparent = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            disk += st.st_blocks * 512
            apparent += st.st_size
    return disk, apparent


def phases(step: dict[str, Any], events: list[dict[str, Any]], max_steps: int) -> dict[str, float | None]:
    """load / compute / save of one step from its events: where its main work starts and ends."""
    mine = [e for e in events if e.get("step") == step["name"]]
    start, end = step.get("started_at"), step.get("ended_at")
    if start is None or end is None:
        return {"load_s": None, "compute_s": None, "save_s": None}
    progress = [e for e in mine if e["kind"] == "progress"]
    first = last = None
    if step["name"] == "quantize":
        bars = [e for e in progress if (e.get("desc") or "").startswith("AWQ")]
        if bars:
            first, last = bars[0]["t"], bars[-1]["t"]
    elif step["name"] == "finetune":
        bars = [e for e in progress if e.get("total") == max_steps]
        done = [e["t"] for e in mine if e["kind"] == "train_done"]
        if bars:
            first = bars[0]["t"]
            last = done[0] if done else bars[-1]["t"]
    else:
        passes = [e["t"] for e in mine if e["kind"] == "pass_started"]
        saving = [e["t"] for e in progress if (e.get("desc") or "").startswith("Saving")]
        if passes:
            first = passes[0]
            last = saving[0] if saving else None
    return {
        "load_s": None if first is None else first - start,
        "compute_s": None if first is None or last is None else last - first,
        "save_s": None if last is None else end - last,
    }


def build_model(args: argparse.Namespace, texts: list[str]) -> tuple[Path, float]:
    import torch

    from engine.steps.random_model import PHI35_ARCH, TINY_LONGROPE_ARCH, build_random_phi3

    name = "phi3-longrope-tiny" if args.tiny else "phi35-mini-random"
    device = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
    started = time.time()
    out = build_random_phi3(
        Path(args.models) / name,
        texts,
        TINY_LONGROPE_ARCH if args.tiny else PHI35_ARCH,
        dtype="float32" if args.tiny else "bfloat16",
        device=device,
    )
    return out, time.time() - started


def run_pipeline(args: argparse.Namespace, lab: Path, repo: Path) -> tuple[int, float, str]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")])),
    }
    started = time.time()
    with open(lab / "pipeline.out", "w", encoding="utf-8") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "cli.launch", "pipeline", "run", "--lab", str(lab)],
            cwd=repo,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc.returncode, time.time() - started, (lab / "pipeline.out").read_text(errors="replace")


CHAT_ARGV = [
    sys.executable,
    "-m",
    "cli.launch",
    "chat",
    "--device",
    "cpu",
    "--json",
    "--max-length",
    "128",
    "--seed",
    "1",
]


def chat(lab: Path, repo: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")])),
    }
    answers = []
    for prompt in PROMPTS:
        started = time.time()
        proc = subprocess.run(
            [*CHAT_ARGV, "--lab", str(lab), "--prompt", prompt],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            return {"error": (proc.stderr or proc.stdout).strip()[-500:]}
        answer = json.loads(proc.stdout)
        answers.append({**answer["stats"], "process_s": time.time() - started, "device": answer["device"]})
    rates = [a["tokens_per_s"] for a in answers if a.get("tokens_per_s")]
    ttfts = [a["ttft_s"] for a in answers if a.get("ttft_s") is not None]
    return {
        "device": answers[0]["device"],
        "tokens_per_s": sum(rates) / len(rates) if rates else None,
        "ttft_s": sum(ttfts) / len(ttfts) if ttfts else None,
        "answer_tokens": [a["answer_tokens"] for a in answers],
        "process_s": [round(a["process_s"], 1) for a in answers],
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from engine.config import build_config
    from engine.paths import LabPaths
    from engine.runs import select
    from engine.runs.events import read_events
    from engine.runs.state import read_state
    from engine.steps.demo_model import demo_texts

    model, build_s = build_model(args, demo_texts())
    lab = Path(args.lab or tempfile.mkdtemp(prefix="olive-lab-real-size-"))
    lab.mkdir(parents=True, exist_ok=True)
    settings = f'profile = "phi35"\nmodel = "{model}"\n' + (TINY_SETTINGS if args.tiny else "")
    (lab / "lab.toml").write_text(settings, encoding="utf-8")
    config = build_config("phi35", {"model": str(model)} if not args.tiny else None)
    max_steps = 5 if args.tiny else config.finetune.max_steps
    repo = Path(args.repo).resolve() if args.repo else ROOT
    rc, wall, output = run_pipeline(args, lab, repo)
    newest = select.newest(LabPaths.at(lab))  # the engine's own pick of the run and reading of its files
    if newest is None:
        return {"error": f"no run folder (exit {rc}): {output[-1500:]}"}
    run_dir = newest.dir
    state = read_state(run_dir).model_dump(mode="json")
    events = [event.model_dump(mode="json") for event in read_events(run_dir).events]
    steps = {}
    for step in state["steps"]:
        output_dir = run_dir / step["name"] / "output"
        disk, _ = tree_size(output_dir) if output_dir.is_dir() else (0, 0)
        steps[step["name"]] = {
            "status": step["status"],
            "wall_s": (step["ended_at"] - step["started_at"]) if step.get("ended_at") else None,
            **phases(step, events, max_steps),
            **(step.get("gpu") or {}),
            "output_gib": disk / GIB,
        }
    run_disk, run_apparent = tree_size(run_dir)
    result: dict[str, Any] = {
        "model": str(model),
        "build_s": build_s,
        "exit": rc,
        "status": state["status"],
        "reason": state.get("reason"),
        "pipeline_wall_s": wall,
        "run_s": (state["ended_at"] - state["started_at"]) if state.get("ended_at") else None,
        "steps": steps,
        "run_dir": str(run_dir),
        "run_gib": run_disk / GIB,
        "run_apparent_gib": run_apparent / GIB,
        "model_gib": tree_size(model)[0] / GIB,
    }
    if state["status"] != "done":
        result["output_tail"] = output[-1500:]
    elif not args.skip_chat:
        result["chat"] = chat(lab, repo)
    return result


def _fmt(value: Any, spec: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{unit}"


def _mmss(seconds: float | None) -> str:
    return "-" if seconds is None else f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def report(result: dict[str, Any], baseline: dict[str, Any] | None = None) -> str:
    lines = [
        f"model {result['model']} ({result['model_gib']:.2f} GiB, built or found in {result['build_s']:.1f} s)",
        f"run {result['run_dir']}: {result['status']}" + (f" ({result['reason']})" if result.get("reason") else ""),
        "",
        f"{'step':<9} {'wall':>7} {'load':>7} {'compute':>8} {'save':>7} {'peak VRAM':>10} {'GPU use':>8} "
        f"{'energy':>9} {'output':>9}",
    ]
    for name, s in result["steps"].items():
        lines.append(
            f"{name:<9} {_mmss(s['wall_s']):>7} {_fmt(s['load_s'], '.1f', ' s'):>7} "
            f"{_fmt(s['compute_s'], '.1f', ' s'):>8} {_fmt(s['save_s'], '.1f', ' s'):>7} "
            f"{_fmt(s.get('peak_vram_mib') and s['peak_vram_mib'] / 1024, '.1f', ' GiB'):>10} "
            f"{_fmt(s.get('mean_util_pct'), '.0f', ' %'):>8} "
            f"{_fmt(s.get('energy_j') and s['energy_j'] / 1000, '.1f', ' kJ'):>9} "
            f"{s['output_gib']:>5.2f} GiB"
        )
    lines += [
        "",
        f"whole chain (run):      {_mmss(result['run_s'])}  (pipeline run command {_mmss(result['pipeline_wall_s'])})",
        f"run folder (du, links once): {result['run_gib']:.2f} GiB  "
        f"(apparent size {result['run_apparent_gib']:.2f} GiB)",
    ]
    chat_result = result.get("chat") or {}
    if chat_result.get("error"):
        lines.append(f"chat: FAILED {chat_result['error']}")
    elif chat_result:
        lines.append(
            f"chat on {chat_result['device']}: {_fmt(chat_result['tokens_per_s'], '.1f')} tokens/s, first token "
            f"{_fmt(chat_result['ttft_s'] and chat_result['ttft_s'] * 1000, '.0f', ' ms')} "
            f"(answers of {chat_result['answer_tokens']} tokens; processes {chat_result['process_s']} s)"
        )
    if baseline and baseline.get("steps"):
        lines += ["", "against the baseline:"]
        for name, s in result["steps"].items():
            b = baseline["steps"].get(name) or {}
            if s.get("wall_s") and b.get("wall_s"):
                lines.append(f"  {name:<9} {_mmss(b['wall_s'])} -> {_mmss(s['wall_s'])}")
        lines.append(f"  chain     {_mmss(baseline.get('run_s'))} -> {_mmss(result['run_s'])}")
        lines.append(f"  run folder {baseline['run_gib']:.2f} GiB -> {result['run_gib']:.2f} GiB")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", help="lab folder (default: a new temporary one)")
    parser.add_argument("--models", default=os.path.join(tempfile.gettempdir(), "olive-lab-models"))
    parser.add_argument("--tiny", action="store_true", help="a 2-layer LongRoPE model on the CPU (CI's chain)")
    parser.add_argument("--repo", help="run this checkout's olive-lab (default: the one holding this script)")
    parser.add_argument("--skip-chat", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--baseline", help="a --json file of an earlier measurement to compare with")
    args = parser.parse_args()
    result = measure(args)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1), encoding="utf-8")
    if "steps" not in result:
        print(result["error"])
        return 1
    baseline = json.loads(Path(args.baseline).read_text()) if args.baseline else None
    print(report(result, baseline))
    if result["status"] != "done":
        print(result.get("output_tail", ""))
    return 0 if result["status"] == "done" and not (result.get("chat") or {}).get("error") else 1


if __name__ == "__main__":
    sys.exit(main())
