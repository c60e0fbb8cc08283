"""`olive-lab doctor`: can this machine run the lab? One line per check, with the fix for each problem.

Exit status: 0 when nothing failed (warnings allowed), 1 when a check failed.
"""

from __future__ import annotations

import argparse
import json

from cli.common import lab_of
from engine.config import load_config
from engine.doctor import Check, run_checks, worst

MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="skip the network and Azure checks")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    lab = lab_of(args)
    config = load_config(lab)  # an unusable lab.toml reaches the one error printer
    checks = run_checks(lab, config, quick=args.quick)
    code = 1 if worst(checks) == "fail" else 0
    if getattr(args, "json", False):
        print(
            json.dumps(
                {"profile": config.profile, "checks": [c.to_dict() for c in checks], "exit_code": code},
                indent=2,
            )
        )
    else:
        print(table(checks))
    return code


def table(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        lines.append(f"{MARK[c.status]}  {c.name:<{width}}  {c.detail}")
        if c.fix and c.status != "ok":
            lines.append(f"{'':4}  {'':<{width}}  fix: {c.fix}")
    counts = {s: sum(c.status == s for c in checks) for s in ("ok", "warn", "fail")}
    lines.append(f"\n{counts['ok']} ok, {counts['warn']} warnings, {counts['fail']} failed")
    return "\n".join(lines)
