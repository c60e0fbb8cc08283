"""`olive-lab computes`: the Azure ML compute clusters a step can run on (`--on azureml:<name>`)."""

from __future__ import annotations

import argparse

from cli.common import CliError, emit, lab_of


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(handler=_computes)


def _computes(args: argparse.Namespace) -> int:
    from engine.azure.assets import lab_workspace
    from engine.azure.auth import SignInMethod
    from engine.azure.jobs import list_computes
    from engine.azure.session import open_session
    from engine.azure.workspace import ml_client
    from engine.config import load_config

    lab = lab_of(args)
    config = load_config(lab)
    ref = lab_workspace(config, lab.root)
    if ref is None:
        raise CliError("no Azure ML workspace is set", hint="set [azure] in lab.toml, or put config.json in the lab")
    session = open_session(SignInMethod(config.azure.sign_in), tenant_id=config.azure.tenant_id or None,
                           on_device_code=lambda code: print(code.sentence(), flush=True))  # fmt: skip
    computes = list_computes(ml_client(ref, session.credential, **session.client_kwargs))
    if not computes:
        emit(args, [], f"workspace {ref.workspace_name} has no compute clusters (create one in the studio)")
        return 0
    lines = [f"compute clusters of {ref.workspace_name} (use --on azureml:<name>):"]
    lines += ["  " + c.line for c in computes]
    emit(args, [c.model_dump() for c in computes], "\n".join(lines))
    return 0
