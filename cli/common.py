"""Helpers every command shares: errors without tracebacks, JSON or text output, the lab folder."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from engine.errors import OliveLabError
from engine.paths import LabPaths


class CliError(OliveLabError):
    """A failure of the command line itself (a bad argument): exit status 2."""

    def __init__(self, message: str, code: int = 2, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.code = code


def fail(message: str, code: int = 2, hint: str | None = None) -> int:
    print(f"olive-lab: {message}", file=sys.stderr)
    if hint:
        print(f"  hint: {hint}", file=sys.stderr)
    return code


def lab_of(args: argparse.Namespace) -> LabPaths:
    return LabPaths.at(getattr(args, "lab", None))


def emit(args: argparse.Namespace, data: Any, text: str | None = None) -> None:
    """Print `data` as JSON with --json, otherwise `text` (or a readable dump of data)."""
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=str))
    else:
        print(text if text is not None else json.dumps(data, indent=2, default=str))
