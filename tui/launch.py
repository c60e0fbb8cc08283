"""The `olive-lab` console script: headless commands go to the engine, no command opens the app."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _open_app(args: argparse.Namespace) -> int:
    from tui.app import run_app  # Textual is imported only when the app opens

    return run_app(lab=args.lab)


def main(argv: Sequence[str] | None = None) -> int:
    from engine.cli import main as cli_main

    return cli_main(argv, open_app=_open_app)


if __name__ == "__main__":
    sys.exit(main())
