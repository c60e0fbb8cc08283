"""`olive-lab export --run ID [--branch B] --to DIR`: a run's ONNX model and adapters, with a model card, in a folder of
their own (for teams without Azure)."""

from __future__ import annotations

import argparse

from cli.common import CliError, emit, lab_of
from cli.options import add_branch, add_run
from engine.errors import OliveLabError


def register(parser: argparse.ArgumentParser) -> None:
    add_run(parser, "run id, unique prefix or 'latest' (default)")
    add_branch(parser, "a sweep's branch (`runs show ID` lists them)")
    parser.add_argument("--to", required=True, help="a new (or empty) folder")
    parser.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    from engine.runs import select
    from engine.runs.export import ExportNotWritten, export_run
    from engine.runs.sweep import pick_branch

    lab = lab_of(args)
    try:
        run_dir = pick_branch(select.resolve(lab, args.run).dir, args.branch)  # the same choice as upload's
        result = export_run(run_dir, lab.resolve(args.to))
    except OliveLabError as exc:
        code = 1 if isinstance(exc, ExportNotWritten) else 2  # a full disk is no usage error
        raise CliError(exc.message, code=code, hint=exc.hint) from None
    emit(
        args,
        result.model_dump(mode="json"),
        f"exported run {result.provenance.run_id} to {result.folder}: {len(result.files)} files, "
        f"{result.total_bytes / 2**20:.1f} MiB, adapters {', '.join(result.adapters) or 'none'}; model card README.md",
    )
    return 0
