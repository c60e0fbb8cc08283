#!/usr/bin/env python3
"""A stand-in `olive` that replays output captured from a real Olive run, for failure paths and UI tests.

Which log it replays: FAKE_OLIVE_LOG_<COMMAND> (e.g. FAKE_OLIVE_LOG_FINETUNE) or FAKE_OLIVE_LOG, else the
recorded success log of the command in tests/data/logs/. When the replayed log is a success, it also writes
the output files that command produces (so the engine's verdict can be checked both ways).
FAKE_OLIVE_DELAY (seconds per line) slows the replay; FAKE_OLIVE_HANG=1 waits forever at the end (for
cancel tests); FAKE_OLIVE_LINES=N prints N synthetic Olive-like lines with tqdm redraws instead (benchmarks).
Given `--output_dir` and `--save_steps N` (finetune, not resuming), it first writes `checkpoint-N/trainer_state.json`
there.
FAKE_OLIVE_TALLY=DIR records (in DIR/<command>) the bytes printed so far (before and after each write), so a harness
can check that the step log holds exactly what the step printed, even when the step is killed mid-write.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

LOGS = Path(__file__).resolve().parent.parent / "data" / "logs"
DEFAULT_LOGS = {"finetune": "finetune_ok.log", "auto-opt": "optimize_ok.log", "optimize": "optimize_ok.log"}


def _arg(argv: list[str], *names: str) -> str | None:
    for i, a in enumerate(argv):
        if a in names and i + 1 < len(argv):
            return argv[i + 1]
    return None


def _write_outputs(command: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if command == "finetune":
        (out / "adapter").mkdir(exist_ok=True)
        (out / "adapter" / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
        (out / "adapter" / "adapter_model.safetensors").write_bytes(b"\0" * 64)
        (out / "model").mkdir(exist_ok=True)
        (out / "model" / "config.json").write_text("{}")
    else:
        (out / "genai_config.json").write_text("{}")
        (out / "model.onnx").write_bytes(b"\0" * 64)
        (out / "adapter_weights.onnx_adapter").write_bytes(b"\0" * 64)
    (out / "model_config.json").write_text(json.dumps({"type": "HfModel"}))


def synthetic(lines: int) -> None:
    """An Olive-like stream: INFO lines, tqdm redraws on `\\r`, loss dicts."""
    w = sys.stdout.write
    w("[2026-11-24 21:11:57,112] [INFO] [engine.py:665:_run_pass] Running pass f:lora\n")
    chunk = []
    for i in range(lines):
        if i % 10 == 0:
            chunk.append(f"[2026-11-24 21:11:58,290] [INFO] [lora.py:460:train] step {i} of the synthetic stream\n")
        elif i % 50 == 1:
            chunk.append(
                f"{{'loss': '{2.5 - i / lines:.4f}', 'grad_norm': '0.9', 'learning_rate': '0.0002', 'epoch': '0.1'}}\n"
            )
        else:
            pct = i * 100 // lines
            chunk.append(f"\r {pct:3d}%|█████     | {i}/{lines} [00:06<00:06,  1.33s/it]\n")
        if len(chunk) >= 1000:
            w("".join(chunk))
            chunk.clear()
    w("".join(chunk))
    w("[2026-11-24 21:12:08,403] [INFO] [engine.py:733:_run_pass] Pass f:lora finished in 11.291240 seconds\n")
    sys.stdout.flush()


def _stop_quietly(signum: int, _frame: object) -> None:
    """Interrupted or terminated (a cancel): leave at once, printing nothing more, so the log holds exactly
    what was printed before (the fault-injection benchmark checks that byte for byte)."""
    os._exit(128 + signum)


def main(argv: list[str]) -> int:
    if os.environ.get("FAKE_OLIVE_TALLY"):
        signal.signal(signal.SIGINT, _stop_quietly)
        signal.signal(signal.SIGTERM, _stop_quietly)
    command = argv[0] if argv else ""
    out = Path(_arg(argv, "-o", "--output_path") or "out")
    checkpoints, every = _arg(argv, "--output_dir"), _arg(argv, "--save_steps")
    if checkpoints and every and not _arg(argv, "--resume_from_checkpoint"):  # the trainer's first save
        first = Path(checkpoints) / f"checkpoint-{every}"
        first.mkdir(parents=True, exist_ok=True)
        (first / "trainer_state.json").write_text(json.dumps({"global_step": int(every)}))
    if os.environ.get("FAKE_OLIVE_LINES"):
        synthetic(int(os.environ["FAKE_OLIVE_LINES"]))
        _write_outputs(command, out)
        print(f"Model is saved at {out}")
        return 0
    env_key = "FAKE_OLIVE_LOG_" + command.upper().replace("-", "_")
    log = Path(
        os.environ.get(env_key)
        or os.environ.get("FAKE_OLIVE_LOG")
        or LOGS / DEFAULT_LOGS.get(command, "finetune_ok.log")
    )
    delay = float(os.environ.get("FAKE_OLIVE_DELAY", "0"))
    text = log.read_text(encoding="utf-8", errors="replace")
    tally = os.environ.get("FAKE_OLIVE_TALLY")
    printed = 0
    for line in text.splitlines(keepends=True):
        size = len(line.encode("utf-8"))
        if tally:
            (Path(tally) / f".{command}").write_text(f"{printed} {printed + size}")
            os.replace(Path(tally) / f".{command}", Path(tally) / command)  # never seen half-written
        sys.stdout.write(line)
        sys.stdout.flush()
        printed += size
        if delay:
            time.sleep(delay)
    if os.environ.get("FAKE_OLIVE_HANG"):
        while True:
            time.sleep(1)
    if "Model is saved at" in text or "Saved output model to" in text:
        _write_outputs(command, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
