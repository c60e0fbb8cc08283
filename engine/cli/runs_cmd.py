"""`olive-lab runs`: (being built)."""

from __future__ import annotations

import argparse

from engine.cli.common import CliError


def register(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    raise CliError("'runs' is not built yet")
