"""`olive-lab computes`: the Azure ML compute clusters a step can run on (`--on azureml:<name>`)."""

from __future__ import annotations

import argparse

from cli.common import emit, lab_of


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(handler=_computes)


def _computes(args: argparse.Namespace) -> int:
    from engine.azure.jobs import lab_computes
    from engine.config import load_config

    lab = lab_of(args)
    workspace, computes = lab_computes(load_config(lab), lab.root, lambda code: print(code.sentence(), flush=True))
    if not computes:
        emit(args, [], f"workspace {workspace} has no compute clusters (create one in the studio)")
        return 0
    lines = [f"compute clusters of {workspace} (use --on azureml:<name>):"]
    lines += ["  " + c.line for c in computes]
    emit(args, [c.model_dump() for c in computes], "\n".join(lines))
    return 0
