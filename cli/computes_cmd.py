"""`olive-lab computes`: the Azure ML compute clusters a step can run on (`--on azureml:<name>`)."""

from __future__ import annotations

import argparse

from cli.common import emit, lab_of
from engine.config import load_config


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sign-in", choices=["auto", "cli", "env", "device"], help="how to sign in (default: [azure] sign_in)"
    )
    parser.set_defaults(handler=_computes)


def _computes(args: argparse.Namespace) -> int:
    from engine.azure.jobs import lab_computes

    lab = lab_of(args)
    config = load_config(lab)
    if args.sign_in:
        config.azure.sign_in = args.sign_in
    # a device code only when asked for: a listing does not start a sign-in that waits on a browser
    show_code = (lambda code: print(code.sentence(), flush=True)) if config.azure.sign_in == "device" else None
    workspace, computes = lab_computes(config, lab.root, show_code)
    if not computes:
        emit(args, [], f"workspace {workspace} has no compute clusters (create one in the studio)")
        return 0
    lines = [f"compute clusters of {workspace} (use --on azureml:<name>):"]
    lines += ["  " + c.line for c in computes]
    emit(args, [c.model_dump() for c in computes], "\n".join(lines))
    return 0
