"""The `olive-lab` console script: headless commands go to the engine, no command opens the app.

Opening the app skips building the full command-line parser (it imports every command module), so the
first frame comes sooner; anything else (a command, --help, --version) goes to the engine's CLI.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _open_app(args: argparse.Namespace) -> int:
    from tui.app import run_app  # Textual is imported only when the app opens

    return run_app(lab=args.lab)


def _app_only(argv: Sequence[str]) -> argparse.Namespace | None:
    """The parsed arguments when they only open the app (`[--lab DIR]`), else None."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--lab", default=None)
    try:
        args, rest = parser.parse_known_args(list(argv))
    except SystemExit:
        return None
    return None if rest else args


def main(argv: Sequence[str] | None = None) -> int:
    args = _app_only(sys.argv[1:] if argv is None else argv)
    if args is not None:
        return _open_app(args)
    from cli import main as cli_main

    return cli_main(argv, open_app=_open_app)


if __name__ == "__main__":
    sys.exit(main())
