"""`olive-lab gpu`: the GPU and host monitor as text, live (refreshing in place) or one sample as JSON.

The lab's running processes (the supervisor and step processes of unfinished runs in the lab folder) are
marked in the process list, as in the app.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from cli.common import CliError, lab_of
from engine.gpu.sampler import sample_once
from engine.gpu.text import format_sample
from engine.runs.select import lab_pids

_CLEAR = "\x1b[H\x1b[2J"


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--once", action="store_true", help="print one sample and exit")
    parser.add_argument(
        "--interval", type=float, default=1.0, help="seconds between samples (default 1.0, at least 0.1)"
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:

    if not args.interval >= 0.1:
        raise CliError(f"--interval must be at least 0.1 seconds, got {args.interval}")
    lab = lab_of(args)
    as_json = getattr(args, "json", False)
    if args.once:
        sample = sample_once(lab.root, lab_pids(lab), cpu_interval=0.2, energy=True)
        print(sample.to_json(indent=2) if as_json else format_sample(sample))
        return 0
    live = sys.stdout.isatty() and not as_json
    sample_once(lab.root)  # starts the CPU counter so the first figure is not 0
    try:
        while True:
            time.sleep(args.interval)
            sample = sample_once(lab.root, lab_pids(lab))
            if as_json:
                print(json.dumps(sample.to_dict()), flush=True)
            elif live:
                sys.stdout.write(_CLEAR + format_sample(sample, args.interval) + "\n")
                sys.stdout.flush()
            else:
                print(format_sample(sample, args.interval) + "\n", flush=True)
    except KeyboardInterrupt:
        return 0
