"""On a GPU machine: run `olive-lab pipeline run` with AWQ on CUDA and check what the supervisor recorded.

The quantize step runs for real on the GPU (`--from quantize`: never reused from an earlier run) (autoawq's scale
search on the lab's texts); finetune and optimize replay output captured from real Olive runs
(tests/fakes/fake_olive.py), so the check needs no Olive install there. It checks that the run finished, that the
quantize step ran on CUDA, and that the supervisor's meter stored the step's peak VRAM, utilisation and sample count
in state.json.

    python scripts/gpu_pipeline_check.py [--lab DIR]
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", default=None)
    args = parser.parse_args()
    lab = Path(args.lab or tempfile.mkdtemp(prefix="olive-lab-gpu-"))
    lab.mkdir(parents=True, exist_ok=True)
    (lab / "lab.toml").write_text('profile = "demo"\n[quantize]\ndevice = "cuda"\n', encoding="utf-8")
    env = {
        **os.environ,
        "OLIVE_LAB_OLIVE": f"{sys.executable} {ROOT / 'tests' / 'fakes' / 'fake_olive.py'}",
        "HF_HUB_OFFLINE": "1",
    }
    started = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "cli.launch", "pipeline", "run", "--from", "quantize", "--lab", str(lab)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.time() - started
    from engine.paths import LabPaths
    from engine.runs import select
    from engine.runs.state import read_state, step_log_path

    newest = select.newest(LabPaths.at(lab))  # the engine's own pick of the run and reading of its state
    if newest is None:
        print(f"FAIL  no run folder: exit {proc.returncode}; {proc.stderr.strip()[-300:]}")
        return 1
    run_dir = newest.dir
    state = read_state(run_dir).model_dump(mode="json")
    quantize = next(s for s in state["steps"] if s["name"] == "quantize")
    log = step_log_path(run_dir, "quantize").read_text(errors="replace")
    gpu = quantize["gpu"] or {}
    checks = [
        (
            "pipeline run exited 0",
            proc.returncode == 0,
            f"exit {proc.returncode}; {proc.stderr.strip()[-300:]}",
        ),
        ("run done", state["status"] == "done", f"{state['status']} {state.get('reason') or ''}"),
        (
            "quantize done on CUDA",
            quantize["status"] == "done" and "search on cuda" in log,
            quantize["status"],
        ),
        ("peak VRAM stored", (gpu.get("peak_vram_mib") or 0) > 0, f"{gpu.get('peak_vram_mib')} MiB"),
        ("utilisation stored", gpu.get("mean_util_pct") is not None, f"{gpu.get('mean_util_pct')} %"),
        ("energy stored", gpu.get("energy_j") is not None, f"{gpu.get('energy_j')} J"),
        ("sampled about once a second", gpu.get("samples", 0) >= 2, f"{gpu.get('samples')} samples"),
    ]
    for name, ok, detail in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name:32} {detail}")
    print(f"run {run_dir.name}: {wall:.1f} s wall; quantize {quantize['ended_at'] - quantize['started_at']:.1f} s")
    print(json.dumps({s["name"]: {"status": s["status"], "gpu": s["gpu"]} for s in state["steps"]}, indent=1))
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-2000:])
    return 0 if all(ok for _, ok, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
