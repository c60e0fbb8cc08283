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

It is as strict as real Olive 0.13 where olive-lab depends on it (FACTS.md; the real runs are quoted below):
- the command line is parsed as Olive parses it (`olive_cli`): an unknown subcommand or flag exits 2, finetune's
  extra flags must be TrainingArguments fields, and `quantize --algorithm awq` without its implementation raises;
- inputs are read: a local `-m` that does not exist is a traceback and exit 1 (Olive takes it for a hub id);
  so is an auto-opt `--adapter_path` without `adapter_config.json` (the ModelBuilder pass raises); a finetune
  data folder or file that does not exist fails the LoRA pass: `No output model produced`, exit 0;
- `auto-opt` without `--use_model_builder` produces no model and exits 0; `quantize` has no recorded success,
  so without FAKE_OLIVE_LOG_QUANTIZE it ends as the offline real one does (no model, exit 0);
- the output folder is made first, and `.olive-cache/` in the working folder once the workflow starts.
A name of the form `name` or `namespace/name` that is not a local path stands for a hub model or dataset.
`fake_olive.py --check-args <olive argv>` only parses: exit 0 when real Olive would run it, 1 (with the reasons)
when it would fail, 2 when it refuses the flags.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: the parsers live beside it, in the tests package
    sys.path.insert(0, str(ROOT))

from tests.fakes.olive_cli import Parsed, check_args, no_model, parse, refusal  # noqa: E402

LOGS = Path(__file__).resolve().parent.parent / "data" / "logs"
DEFAULT_LOGS = {"finetune": "finetune_ok.log", "auto-opt": "optimize_ok.log"}
NO_BUILDER_LOG = "optimize_fail_torch_export.log"  # auto-opt without --use_model_builder, as recorded
NO_OUTPUT = "No output model produced. Please check the log for details."
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")  # huggingface_hub's repo id form


def _write_outputs(command: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if command == "finetune":
        (out / "adapter").mkdir(exist_ok=True)
        (out / "adapter" / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
        (out / "adapter" / "adapter_model.safetensors").write_bytes(b"\0" * 64)
        (out / "model").mkdir(exist_ok=True)
        (out / "model" / "config.json").write_text("{}")
    elif command == "quantize":  # a Hugging Face folder, as Olive's AutoAWQQuantizer saves one
        (out / "config.json").write_text("{}")
        (out / "model.safetensors").write_bytes(b"\0" * 64)
    else:
        (out / "genai_config.json").write_text("{}")
        (out / "model.onnx").write_bytes(b"\0" * 64)
        (out / "adapter_weights.onnx_adapter").write_bytes(b"\0" * 64)
    (out / "model_config.json").write_text(json.dumps({"type": "HfModel"}))


def _traceback(error: str, where: str = "olive/cli/base.py") -> int:
    """An exception Olive does not catch: its traceback on stderr, exit status 1."""
    sys.stderr.write(f'Traceback (most recent call last):\n  File "{where}", line 0, in run\n{error}\n')
    return 1


def _local_missing(name: str | None) -> bool:
    """A model, adapter or data path that is not there, and cannot be read as a hub id either."""
    return bool(name) and not Path(str(name)).exists() and not HUB_ID.match(str(name)) and "://" not in str(name)


def _olive_cache() -> None:
    """Olive's cache of the workflow, in the working folder (`Using cache directory: .../.olive-cache/...`)."""
    runs = Path(".olive-cache") / "default_workflow" / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    (runs / "run.json").write_text(json.dumps({"cached_by": "fake olive"}))


def _data_missing(a: Any) -> str | None:
    """The finetune data that the LoRA pass would not find (datasets' FileNotFoundError)."""
    files = [f for f in (a.data_files or "").split(",") if f]
    return next((name for name in [a.data_name, *files] if _local_missing(name)), None)


def _start(parsed: Parsed) -> int | None:
    """What real Olive does before the workflow's output: None when it goes on to run the passes."""
    a = parsed.args
    Path(a.output_path).mkdir(parents=True, exist_ok=True)  # Olive makes it first, whatever follows
    if _local_missing(a.model_name_or_path):
        return _traceback(
            "huggingface_hub.errors.HFValidationError: Repo id must be in the form 'repo_name' or "
            f"'namespace/repo_name': '{a.model_name_or_path}'. Use `repo_type` argument if needed."
        )
    training = parsed.training()  # finetune's TrainingArguments: exit 2 on a flag they lack
    if why := refusal(parsed):
        return _traceback(why, f"olive/cli/{parsed.command.replace('-', '_')}.py")
    _olive_cache()
    adapter = getattr(a, "adapter_path", None)
    if parsed.command == "auto-opt" and adapter and not Path(adapter, "adapter_config.json").is_file():
        if _local_missing(adapter) or Path(adapter).exists():
            print("[2026-11-24 21:17:31,000] [INFO] [engine.py:665:_run_pass] Running pass model_builder:modelbuilder")
            return _traceback(f"ValueError: Can't find 'adapter_config.json' at '{adapter}'", "olive/engine/engine.py")
    if parsed.command == "finetune" and (data := _data_missing(a)):
        print("[2026-11-24 21:17:17,000] [ERROR] [engine.py:728:_run_pass] Pass run failed.")
        print(f"Traceback (most recent call last):\nFileNotFoundError: Couldn't find any data file at {data}.")
        print(NO_OUTPUT)
        return 0
    checkpoints, every = training.get("output_dir"), training.get("save_steps")
    if checkpoints and every and not training.get("resume_from_checkpoint"):  # the trainer's first save
        first = Path(checkpoints) / f"checkpoint-{int(every)}"
        first.mkdir(parents=True, exist_ok=True)
        (first / "trainer_state.json").write_text(json.dumps({"global_step": int(every)}))
    return None


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
    if argv[:1] == ["--check-args"]:
        problems = check_args(argv[1:])
        print("\n".join(problems) or "real Olive 0.13 accepts this command line")
        return 1 if problems else 0
    if os.environ.get("FAKE_OLIVE_TALLY"):
        signal.signal(signal.SIGINT, _stop_quietly)
        signal.signal(signal.SIGTERM, _stop_quietly)
    parsed = parse(argv)
    command, out = parsed.command, Path(parsed.args.output_path)
    if (ended := _start(parsed)) is not None:
        return ended
    if os.environ.get("FAKE_OLIVE_LINES"):
        synthetic(int(os.environ["FAKE_OLIVE_LINES"]))
        _write_outputs(command, out)
        print(f"Model is saved at {out}")
        return 0
    env_key = "FAKE_OLIVE_LOG_" + command.upper().replace("-", "_")
    default = NO_BUILDER_LOG if no_model(parsed) else DEFAULT_LOGS.get(command)
    chosen = os.environ.get(env_key) or os.environ.get("FAKE_OLIVE_LOG") or (default and str(LOGS / default))
    text = Path(chosen).read_text(encoding="utf-8", errors="replace") if chosen else NO_OUTPUT + "\n"
    delay = float(os.environ.get("FAKE_OLIVE_DELAY", "0"))
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
    if ("Model is saved at" in text or "Saved output model to" in text) and not no_model(parsed):
        _write_outputs(command, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
