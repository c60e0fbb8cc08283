"""`olive-lab upload`: register a model folder in an Azure ML workspace, as the register step of a run folder
of its own (supervised, so it survives a dropped SSH link; `runs attach` follows it). `--dry-run` shows what
would be sent and the equivalent `az ml model create` command, and sends nothing."""

from __future__ import annotations

import argparse
import json

from cli.common import CliError, emit, lab_of
from cli.options import add_branch, add_detach, add_run, wants_json
from engine.config import load_config
from engine.errors import OliveLabError


def register(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group()
    add_run(what, "upload this run's optimized ONNX folder (default: the latest run)")
    what.add_argument("--path", help="upload this folder")
    add_branch(parser, "a sweep's branch (its model, from the job's output where it is)")
    parser.add_argument("--name", help="model name in the registry (default: [registration] name)")
    parser.add_argument("--version", help="model version (default: [registration] version)")
    parser.add_argument("--resource-group", help="default: [azure] resource_group, then `az config` defaults")
    parser.add_argument("--workspace", help="Azure ML workspace or hub-based AI Foundry project")
    parser.add_argument("--subscription", help="default: [azure] subscription_id, then `az account`")
    parser.add_argument("--description")
    parser.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="an extra tag")
    parser.add_argument(
        "--sign-in", choices=["auto", "cli", "env", "device", "workload", "managed"], help="how to sign in"
    )
    parser.add_argument("--dry-run", action="store_true", help="show what would be sent; send nothing")
    add_detach(parser, "upload")
    parser.set_defaults(handler=_upload)


def _refuse(args: argparse.Namespace, exc: OliveLabError) -> int:
    """A refusal before anything was sent: status 2 like every refusal of the command line."""
    if getattr(args, "json", False):
        print(json.dumps({"error": getattr(exc, "kind", "error"), "message": exc.message, "hint": exc.hint}))
        return 2
    raise CliError(exc.message, code=2, hint=exc.hint)


def _upload(args: argparse.Namespace) -> int:
    from engine.azure.register import RegisterRequest, plan
    from engine.azure.validate import check_name, check_version, parse_tags
    from engine.azure.workspace import WorkspaceRef
    from engine.runs import select
    from engine.runs.control import start_run
    from engine.runs.export import model_folder
    from engine.runs.preflight import register_problems

    lab = lab_of(args)
    config = load_config(lab).model_copy(deep=True)  # an unusable lab.toml reaches the one error printer
    r, az = config.registration, config.azure
    try:
        if args.path:
            folder, provenance = lab.resolve(args.path), ""
        else:
            from engine.runs.sweep import pick_branch

            run_dir = pick_branch(select.resolve(lab, args.run).dir, args.branch)
            folder, provenance = model_folder(run_dir), str(run_dir)
        r.enabled, r.folder, r.provenance_run = True, str(folder), provenance
        r.name = check_name(args.name) if args.name else r.name  # checked here: the settings refuse it otherwise
        r.version = check_version(args.version) if args.version else r.version
        r.description = args.description if args.description is not None else r.description
        r.tags = {**r.tags, **parse_tags(args.tag)}
        az.subscription_id = args.subscription or az.subscription_id
        az.resource_group = args.resource_group or az.resource_group
        az.workspace_name = args.workspace or az.workspace_name
        az.sign_in = args.sign_in or az.sign_in
        problems = register_problems(lab, config)
        if problems:
            raise CliError("; ".join(problems), code=2)
        ws = WorkspaceRef(subscription_id=az.subscription_id, resource_group=az.resource_group,
                          workspace_name=az.workspace_name)  # fmt: skip
        shown = plan(RegisterRequest(folder=folder, name=r.name, version=r.version, workspace=ws,
                                     description=r.description or None, tags=r.tags))  # fmt: skip
    except CliError:
        raise
    except OliveLabError as exc:
        return _refuse(args, exc)
    summary = {
        "folder": str(folder), "files": shown.files, "bytes": shown.total_bytes, "name": r.name,
        "version": r.version, "workspace": ws.model_dump(exclude={"sources"}), "datastore_uri": shown.datastore_uri,
        "az_command": shown.az_command,
    }  # fmt: skip
    if args.dry_run:
        emit(args, {"dry_run": True, **summary},
             f"would register {r.name} version {r.version}: {shown.files} files, {shown.total_bytes / 2**20:.1f} MiB "
             f"from {folder}\nto {ws.workspace_name} (resource group {ws.resource_group}), at {shown.datastore_uri}\n"
             f"equivalent command:\n  {shown.az_command}")  # fmt: skip
        return 0
    try:
        run_id = start_run(lab, config, only=["register"], check=False, allow_concurrent=True)
    except OliveLabError as exc:
        return _refuse(args, exc)
    run_dir = lab.run_dir(run_id)
    if args.detach:
        emit(args, {"run": run_id, **summary}, f"started upload run {run_id} ({run_dir})\n{shown.az_command}")
        return 0
    if not wants_json(args):
        print(f"equivalent command: {shown.az_command}", flush=True)
    from cli.runs_cmd import follow
    from engine.azure.register import read_result

    code = follow(run_dir, as_json=wants_json(args))
    try:
        result = read_result(run_dir / "register" / "output") if code == 0 else None
    except OliveLabError as exc:  # registered, but its result cannot be read back
        raise CliError(exc.message, code=1, hint=exc.hint) from None
    if result is not None:
        emit(args, {"run": run_id, **result.model_dump(mode="json")},
             f"registered {result.name} version {result.version}\n  id: {result.model_id}\n"
             f"  studio: {result.studio_url}")  # fmt: skip
    return code
