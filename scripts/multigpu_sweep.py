"""A four-branch sweep on a machine with several GPUs, against the same sweep on one GPU.

Builds (once, cached) random weights of Phi-3.5-mini's exact architecture (as scripts/real_size_check.py
does), then runs `olive-lab sweep --set finetune.lora_r=4,8,16,32 --golden 0` twice, each in a lab folder of
its own: once with every GPU the machine has (one branch per GPU, or `--per-gpu N` branches sharing a GPU
where the memory estimate allows), once with one GPU (`CUDA_VISIBLE_DEVICES=<first>`, the branches one after
another). While each sweep runs, every GPU is read once a second through the lab's NVML gateway. Prints, per
sweep: its wall time and its branches' (first branch start to last branch end), then per GPU its peak memory
and mean use, then per branch the GPUs it ran on, its finetune and optimize times and its GPU-minutes.

    python scripts/multigpu_sweep.py [--values 4,8,16,32] [--per-gpu N] [--lab DIR] [--json FILE]
    python scripts/multigpu_sweep.py --tiny --slots 2     # the same on a CPU: a 2-layer model, 2 CPU slots

Needs several GPUs for the comparison to mean anything, and about 25 GB of disk per sweep at real size.
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from real_size_check import TINY_SETTINGS, build_model  # noqa: E402  (the one way to build the test model)

GIB_MIB = 1024.0


class GpuWatch:
    """Per-GPU peak memory and mean use over a sweep, read once a second through engine.gpu.nvml."""

    def __init__(self) -> None:
        self.peak_mib: dict[int, float] = {}
        self.util: dict[int, list[float]] = {}
        self.names: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> GpuWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        from engine.gpu.nvml import NVML

        while not self._stop.is_set():
            for gpu in NVML.read_all(lambda _pid: None):
                self.names[gpu.index] = gpu.name
                if gpu.memory_used_mib is not None:
                    self.peak_mib[gpu.index] = max(self.peak_mib.get(gpu.index, 0.0), gpu.memory_used_mib)
                if gpu.util_gpu_pct is not None:
                    self.util.setdefault(gpu.index, []).append(gpu.util_gpu_pct)
            self._stop.wait(1.0)

    def figures(self) -> dict[str, dict[str, Any]]:
        return {
            str(i): {
                "name": self.names.get(i, ""),
                "peak_gib": self.peak_mib.get(i, 0.0) / GIB_MIB,
                "mean_util_pct": sum(u) / len(u) if (u := self.util.get(i)) else None,
            }
            for i in sorted(self.names)
        }


def run_sweep(args: argparse.Namespace, lab: Path, settings: str, env: dict[str, str]) -> dict[str, Any]:
    from engine.paths import LabPaths
    from engine.runs import select
    from engine.runs.state import STATE_FILE, branch_dir, read_state
    from engine.runs.sweep import compare_branches

    lab.mkdir(parents=True, exist_ok=True)
    (lab / "lab.toml").write_text(settings, encoding="utf-8")
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **env,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}  # fmt: skip
    argv = [sys.executable, "-m", "cli.launch", "sweep", "--set", f"finetune.lora_r={args.values}", "--golden", "0",
            "--lab", str(lab)]  # fmt: skip
    started = time.time()
    with GpuWatch() as watch, open(lab / "sweep.out", "w", encoding="utf-8") as out:
        proc = subprocess.run(argv, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT, check=False)
    wall = time.time() - started
    newest = select.newest(LabPaths.at(lab))
    if newest is None:
        return {"error": f"no run folder (exit {proc.returncode}): {(lab / 'sweep.out').read_text()[-1500:]}"}
    run_dir = newest.dir
    sweep = read_state(run_dir)
    folders = [branch_dir(run_dir, label) for label in (sweep.sweep.branches if sweep.sweep else [])]
    branches = [
        read_state(folder) for folder in folders if (folder / STATE_FILE).exists()
    ]  # made once quantize is done
    starts = [b.started_at for b in branches if b.started_at]
    ends = [b.ended_at for b in branches if b.ended_at]
    rows = {r.label: r for r in compare_branches(run_dir)}
    return {
        "exit": proc.returncode,
        "status": sweep.status,
        "reason": sweep.reason,
        "wall_s": wall,
        "branches_wall_s": max(ends) - min(starts) if starts and ends else None,
        "gpus": watch.figures(),
        "branches": {
            b.branch: {
                "status": b.status,
                "devices": b.devices,
                "finetune_s": b.step("finetune").duration_s,
                "optimize_s": b.step("optimize").duration_s,
                "finetune_peak_gib": (peak / GIB_MIB) if (peak := b.step("finetune").gpu.peak_vram_mib) else None,
                "gpu_minutes": rows[b.branch].gpu_minutes,
            }
            for b in branches
        },
        "placement": [line for line in (lab / "sweep.out").read_text().splitlines() if "── branches:" in line],
    }


def _f(value: Any, spec: str, unit: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{unit}"


def report(name: str, result: dict[str, Any]) -> list[str]:
    if "error" in result:
        return [f"{name}: FAILED {result['error']}"]
    lines = [f"{name}: {result['status']}" + (f" ({result['reason']})" if result.get("reason") else "")]
    lines += [f"  {line.strip()}" for line in result["placement"]]
    lines.append(
        f"  sweep wall {_f(result['wall_s'], '.0f', ' s')}, branches {_f(result['branches_wall_s'], '.0f', ' s')}"
    )
    for index, gpu in result["gpus"].items():
        lines.append(f"  GPU {index} {gpu['name']:<28} peak {gpu['peak_gib']:6.1f} GiB   "
                     f"mean use {_f(gpu['mean_util_pct'], '.0f', ' %')}")  # fmt: skip
    lines.append(f"  {'branch':<12} {'GPUs':>5} {'finetune':>9} {'optimize':>9} {'ft peak':>9} {'GPU-min':>8}")
    for label, b in result["branches"].items():
        lines.append(f"  {label:<12} {b['devices'] or '-':>5} {_f(b['finetune_s'], '.0f', ' s'):>9} "
                     f"{_f(b['optimize_s'], '.0f', ' s'):>9} {_f(b['finetune_peak_gib'], '.1f', ' GiB'):>9} "
                     f"{_f(b['gpu_minutes'], '.1f'):>8}")  # fmt: skip
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", default="4,8,16,32", help="the lora_r of each branch")
    parser.add_argument(
        "--per-gpu", type=int, default=1, help="branches that may share one GPU (OLIVE_LAB_BRANCHES_PER_GPU)"
    )
    parser.add_argument("--slots", type=int, help="OLIVE_LAB_SLOTS for the side-by-side sweep (needed on a CPU)")
    parser.add_argument("--lab", help="folder for the two labs (default: a new temporary one)")
    parser.add_argument("--models", default=os.path.join(tempfile.gettempdir(), "olive-lab-models"))
    parser.add_argument("--tiny", action="store_true", help="a 2-layer LongRoPE model on the CPU")
    parser.add_argument("--skip-single", action="store_true", help="no one-GPU sweep to compare with")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    from engine.gpu.nvml import NVML
    from engine.steps.demo_model import demo_texts

    model, _ = build_model(args, demo_texts())
    settings = f'profile = "phi35"\nmodel = "{model}"\n' + (TINY_SETTINGS if args.tiny else "")
    root = Path(args.lab or tempfile.mkdtemp(prefix="olive-lab-multigpu-"))
    status = NVML.status()
    print(f"{status.device_count} GPU(s): {', '.join(status.names) or status.reason}")
    side = {"OLIVE_LAB_BRANCHES_PER_GPU": str(args.per_gpu)} | (
        {"OLIVE_LAB_SLOTS": str(args.slots)} if args.slots else {}
    )
    results = {"side_by_side": run_sweep(args, root / "side-by-side", settings, side)}
    if not args.skip_single:
        one = {"CUDA_VISIBLE_DEVICES": "0"} if status.device_count else {}
        results["one_gpu"] = run_sweep(args, root / "one-gpu", settings, one)
    for name, result in results.items():
        print("\n".join(report(name, result)))
    a, b = (results.get(k, {}).get("branches_wall_s") for k in ("side_by_side", "one_gpu"))
    if a and b:
        print(f"branches: {b:.0f} s on one GPU, {a:.0f} s side by side ({b / a:.2f}x faster)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1), encoding="utf-8")
    return 0 if all(r.get("status") == "done" for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
