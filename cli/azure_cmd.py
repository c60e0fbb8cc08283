"""`olive-lab azure check`: is the lab's Azure ML setup in order for a remote run? Read-only calls only."""

from __future__ import annotations

import argparse
import sys

from cli.common import emit, lab_of
from engine.config import load_config


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="azure_command", metavar="ACTION", required=True)
    check = sub.add_parser(
        "check", help="sign-in, workspace, datastore, storage, roles, cluster and quota, each with its fix"
    )
    check.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    from engine.azure.check import run_checks
    from engine.steps.spec import lab_clusters

    lab = lab_of(args)
    config = load_config(lab)
    findings = run_checks(
        config, lab.root, lab_clusters(config), lambda code: print(code.sentence(), file=sys.stderr, flush=True)
    )
    failed = [f for f in findings if not f.ok]
    summary = "all in order" if not failed else f"{len(failed)} to fix before a remote run"
    emit(args, [f.model_dump() for f in findings], "\n".join([*(f.line for f in findings), summary]))
    return 1 if failed else 0
