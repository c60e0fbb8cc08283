"""The prepare step's program: split the lab's data for training and evaluation, and make sure the demo
model exists. A child process like every other step, so it prints its command, streams its log, and is
cancelled like the others.

    python -m engine.steps.prepare --data FILE --fields prompt,response --eval-share 0.1 --seed 0 \\
        --output RUN/data [--demo-model DIR] [--azure-model ID --models DIR [--sign-in M]]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from engine.data.split import duplicates_sentence, write_split
from engine.errors import OliveLabError
from engine.redact import install_log_filter
from engine.steps.logparse import stamped


def _say(message: str, level: str = "INFO") -> None:
    print(stamped(message, level=level, origin="prepare.py:0:prepare"), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="engine.steps.prepare")
    parser.add_argument("--data", required=True)
    parser.add_argument("--fields", required=True, help="prompt_field,response_field")
    parser.add_argument("--eval-share", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--demo-model", help="build the demo model here if it is not there yet")
    parser.add_argument("--azure-model", help="download this Azure model id into --models if not there yet")
    parser.add_argument("--models", help="the per-user model cache")
    parser.add_argument("--sign-in", default="auto", choices=["auto", "cli", "env", "device", "workload", "managed"])
    parser.add_argument("--tenant")
    args = parser.parse_args(argv)

    prompt_field, _, response_field = args.fields.partition(",")
    try:
        split = write_split(args.data, prompt_field, response_field, args.eval_share, args.seed, args.output)
    except (OliveLabError, OSError) as exc:
        print(f"{type(exc).__name__}: {exc}", flush=True)  # the log parser takes this line as the reason
        return 1
    _say(
        f"Data: {split.train_records} training and {split.validation_records} held-back evaluation records "
        f"from {args.data}"
    )
    if split.duplicates:
        _say(f"Data: {duplicates_sentence(split.duplicates)}", "WARNING")
    if args.demo_model:
        from engine.steps.demo_model import ensure_demo_model

        ensure_demo_model(Path(args.demo_model), log=_say)
    if args.azure_model:
        from engine.azure.assets import fetch_model

        install_log_filter()
        try:
            fetch_model(args.azure_model, Path(args.models), sign_in=args.sign_in, tenant_id=args.tenant, log=_say)
        except OliveLabError as exc:
            print(f"Exception: {exc.full()}", flush=True)
            return 1
    _say(f"Saved output model to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
