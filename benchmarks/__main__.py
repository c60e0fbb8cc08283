"""Run olive-lab's benchmarks and print their figures: `./bootstrap.sh bench [NAME ...]`.

Names: pipeline, dataset, app, monitor, gpu, chat, faults, azure, remote, fuzz (default: all). Each module also runs
alone with `python -m benchmarks.bench_NAME`. Targets are printed beside the figures; nothing here fails a
build.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NAMES = ("pipeline", "dataset", "app", "monitor", "gpu", "chat", "faults", "azure", "remote", "fuzz")


_DEMO_LAB: Path | None = None


def _demo_lab() -> Path:
    """A lab folder holding a finished demo run (the chat benchmark needs its ONNX model)."""
    global _DEMO_LAB
    if _DEMO_LAB is None:
        _DEMO_LAB = Path(tempfile.mkdtemp(prefix="olive-lab-bench-"))
        print("building the demo model with the real pipeline (about a minute)...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "cli.launch", "pipeline", "run", "--lab", str(_DEMO_LAB)],
            check=True,
            capture_output=True,
        )
    return _DEMO_LAB


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")] or list(NAMES)
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(NAMES)}", file=sys.stderr)
        return 2
    results: dict[str, object] = {}
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        try:
            module = importlib.import_module(f"benchmarks.bench_{name}")
            results[name] = module.run(lab=str(_demo_lab())) if name == "chat" else module.run()
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            print(f"{name}: could not run ({type(exc).__name__}: {exc})")
            results[name] = {"error": str(exc)}
        figures = results[name]
        if isinstance(figures, dict):
            for key, value in figures.items():
                shown = f"{value:,.4g}" if isinstance(value, float) else value
                print(f"  {key:32} {shown}")
        print(f"({name} took {time.perf_counter() - started:.0f} s)")
    if "--json" in argv:
        print(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
