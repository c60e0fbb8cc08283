"""The register step's program: `python -m engine.steps.register --folder DIR --name N --version V ...`.

The supervisor runs it like any step, so a long upload survives a closed app or a dropped SSH link and shows
in the monitor. It prints what the log parser already understands: Olive-style log lines for its stages
(`Running pass upload:AzureBlob`), a tqdm-style bar for the bytes (`upload: 42%|...| 84/200 [00:07<00:09,
12.1MB/s]`, in MiB), `Model is saved at <model id>` at the end, and for a refusal the exception's last line
(`AzureError: no access while ... (hint)`). The result is written to `<output>/registration.json`; secrets
never reach the log (every line passes through the redactor).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from engine.azure.auth import DeviceCode, SignInMethod
from engine.azure.errors import AzureError
from engine.azure.register import RESULT_FILE, RegisterRequest, plan, register_folder
from engine.azure.transfer import TransferProgress
from engine.durations import format_duration
from engine.errors import OliveLabError
from engine.fs import atomic_write_text
from engine.redact import install_log_filter, redact
from engine.steps.commands import RegisterInputs
from engine.steps.logparse import stamped

_MIB = 2**20


def say(text: str) -> None:
    print(redact(text), flush=True)


def log(message: str, level: str = "INFO") -> None:
    say(stamped(message, level=level, origin="register.py:0:main"))


def _clock(seconds: float | None) -> str:
    return format_duration(seconds) or "?"  # tqdm's mark for an unknown time


def bar(p: TransferProgress) -> str:
    """A tqdm-style line (the parser's progress pattern): integer MiB so n/total parse."""
    filled = int(p.fraction * 10)
    rate = f"{p.speed_bps / _MIB:.2f}MB/s" if p.speed_bps else "?MB/s"
    return (
        f"upload: {int(p.fraction * 100):3d}%|{'#' * filled:<10}| "
        f"{p.done_bytes // _MIB}/{max(p.total_bytes // _MIB, 1)}"
        f" [{_clock(p.elapsed_s)}<{_clock(p.eta_s)}, {rate}]"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="engine.steps.register", description=__doc__.splitlines()[0])
    parser.add_argument("--folder", required=True, type=Path, help="the model folder to register")
    parser.add_argument("--name", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--subscription", required=True)
    parser.add_argument("--resource-group", required=True)
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--description")
    parser.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--property", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--inputs", type=Path, help="what the runner read from run folders (RegisterInputs)")
    parser.add_argument("--sign-in", choices=[m.value for m in SignInMethod], default="auto")
    parser.add_argument("--tenant")
    parser.add_argument("--output", required=True, type=Path, help="where registration.json is written")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_log_filter()
    cancel = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: cancel.set())
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    try:
        result = _register(args, cancel)
    except OliveLabError as exc:
        log(exc.full(), "ERROR")
        say("Traceback (most recent call last):")
        say("".join(traceback.format_tb(exc.__traceback__)).rstrip())
        say(f"{'AzureError' if isinstance(exc, AzureError) else 'OliveLabError'}: {exc.full()}")
        return 1
    say(f"Model is saved at {result}")
    return 0


def _register(args: argparse.Namespace, cancel: threading.Event) -> str:
    # Deferred: the Azure SDKs are imported only when the step really runs.
    from engine.azure import session as azure_session
    from engine.azure.validate import parse_tags
    from engine.azure.workspace import WorkspaceRef, validate_workspace

    ws = WorkspaceRef(subscription_id=args.subscription, resource_group=args.resource_group,
                      workspace_name=args.workspace)  # fmt: skip
    validate_workspace(ws)
    tags, properties = parse_tags(args.tag), parse_tags(args.property)
    inputs = RegisterInputs()
    if args.inputs:
        inputs = RegisterInputs.model_validate_json(args.inputs.read_text(encoding="utf-8"))
    if inputs.error:
        raise OliveLabError(inputs.error)
    tags, properties = {**inputs.tags, **tags}, {**inputs.properties, **properties}
    req = RegisterRequest(folder=args.folder, name=args.name, version=args.version, workspace=ws,
                          description=args.description, tags=tags, properties=properties)  # fmt: skip
    shown = plan(req)
    log(f"Equivalent command: {shown.az_command}")
    log(f"{shown.files} files, {shown.total_bytes / _MIB:.1f} MiB, to {shown.datastore_uri}")

    def device_code(code: DeviceCode) -> None:
        log(code.sentence(), "WARNING")

    sess = azure_session.open_session(SignInMethod(args.sign_in), tenant_id=args.tenant, on_device_code=device_code)
    started = time.monotonic()
    last_line = [0.0]

    def progress(p: TransferProgress) -> None:
        now = time.monotonic()
        if now - last_line[0] >= 1.0 or p.done_bytes >= p.total_bytes:
            last_line[0] = now
            say(bar(p))

    stages = iter(["check:AzureML", "upload:AzureBlob", "register:AzureML"])
    current: list[str] = []

    def stage(text: str) -> None:
        log(text[:1].upper() + text[1:])
        if text.startswith(("checking", "uploading", "registering")):
            if current:
                log(f"Pass {current[0]} finished in {time.monotonic() - started:.2f} seconds")
            current[:] = [next(stages, "register:AzureML")]
            log(f"Running pass {current[0]}")

    result = register_folder(
        req, sess.credential, on_progress=progress, on_stage=stage, cancel=cancel,
        blob_account_url=sess.blob_account_url, client_kwargs=sess.client_kwargs, blob_kwargs=sess.blob_kwargs,
        tenant_id=sess.tenant_id, job_output=inputs.job_output,
    )  # fmt: skip
    if current:
        log(f"Pass {current[0]} finished in {time.monotonic() - started:.2f} seconds")
    log(f"Registered {result.name} version {result.version}: {result.studio_url}")
    atomic_write_text(args.output / RESULT_FILE, result.model_dump_json(indent=1) + "\n")
    return result.model_id


if __name__ == "__main__":
    sys.exit(main())
