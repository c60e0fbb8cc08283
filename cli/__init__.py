"""The headless command line: every screen of the app has a twin here, built on the same engine.

Each sub-command lives in its own module exposing `register(subparsers)`; the module's handler gets the
parsed arguments and returns an exit status. Modules are imported only when their command runs, so
`olive-lab --help` and the app stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from cli.common import CliError, fail
from cli.options import add_common_options, add_lab
from engine import __version__
from engine.errors import OliveLabError
from engine.paths import LabPaths

# command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "pipeline": ("cli.pipeline_cmd", "run the lab's steps (quantize, finetune, optimize)"),
    "sweep": ("cli.sweep_cmd", "one branch per value of a setting (e.g. LoRA rank), compared side by side"),
    "runs": ("cli.runs_cmd", "list, show, attach to, cancel and remove runs"),
    "cache": ("cli.cache_cmd", "manage the reuse cache"),
    "dataset": ("cli.dataset_cmd", "check a JSONL training set"),
    "doctor": ("cli.doctor_cmd", "check Python, packages, GPU, memory, disk, the lab folder and logins"),
    "gpu": ("cli.gpu_cmd", "GPU and host monitor (text)"),
    "chat": ("cli.chat_cmd", "chat with an optimized ONNX model and its adapters"),
    "computes": ("cli.computes_cmd", "list the Azure ML compute clusters steps can run on"),
    "azure": ("cli.azure_cmd", "check the lab's Azure ML setup before a remote run (read-only)"),
    "upload": ("cli.upload_cmd", "register a run's model (or a folder) in an Azure ML workspace"),
    "export": ("cli.export_cmd", "copy a run's ONNX model and adapters to a folder, with a model card"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="olive-lab",
        description="Shrink and specialise language models with Microsoft Olive. Without a command: open the app.",
    )
    parser.add_argument("--version", action="version", version=f"olive-lab {__version__}")
    add_lab(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.set_defaults(_module=module)
        importlib.import_module(module).register(cmd)
        add_common_options(cmd)
    return parser


def main(argv: Sequence[str] | None = None, *, open_app: Callable[[argparse.Namespace], int] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    for number, arg in enumerate(argv, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError as exc:
            flag = f" (the value of {argv[number - 2]})" if number > 1 and argv[number - 2].startswith("-") else ""
            return fail(f"argument {number}{flag} is not UTF-8 text (bad byte at character {exc.start + 1})")
    args = build_parser().parse_args(argv)
    # The Azure SDK logs a failed sign-in as a raw warning before raising it; without a handler Python prints it
    # ahead of our one-line message. Its failures reach the user as that message.
    logging.getLogger("azure").addHandler(logging.NullHandler())
    if args.command is None:
        if open_app is None:
            return fail("no command given (see --help)")
        return open_app(args)
    try:
        _resume_pollers(args)
        return int(args.handler(args) or 0)
    except CliError as exc:
        return fail(exc.message, code=exc.code, hint=exc.hint)
    except OliveLabError as exc:  # every foreseen failure of the engine: its message and hint, status 2
        return fail(exc.message, code=2, hint=exc.hint)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `olive-lab ... | head`: the reader left, which is fine
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # the system refused: a read-only or full disk, a name too long, a missing folder
        return fail(_os_message(exc), code=1)


def _os_message(exc: OSError) -> str:
    where = str(exc.filename) if exc.filename is not None else ""
    if len(where) > 200:
        where = f"{where[:120]}...{where[-60:]} ({len(where)} characters)"
    what = exc.strerror or str(exc)
    return f"{where}: {what}" if where else what


def _resume_pollers(args: argparse.Namespace) -> None:
    """Remote steps whose poller stopped (the laptop slept, the app closed) are followed again."""

    lab = LabPaths.at(getattr(args, "lab", None))
    if args.command in ("doctor", "gpu", "cache") or not lab.runs.is_dir():
        return
    from engine.runs.control import resume_remote

    try:
        for run_id in resume_remote(lab):
            print(f"olive-lab: polling the Azure ML job of run {run_id} again", file=sys.stderr)
    except OliveLabError:
        pass


if __name__ == "__main__":
    sys.exit(main())
