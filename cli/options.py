"""The options several commands share, each defined once: `--lab` and `--json` (every command and
sub-command has them, wherever they appear on the line), which run and branch, the settings profile,
`--detach`, `--yes`, `--seed`, and where the compute steps run (`--on`, `--dry-run`)."""

from __future__ import annotations

import argparse

from engine.config import PROFILES

LAB_HELP = "lab folder (default: the current folder)"
SEED_MAX = 2**31 - 1


def add_lab(parser: argparse.ArgumentParser, default: str | None = None) -> None:
    parser.add_argument("--lab", default=default, help=LAB_HELP)


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Give every command and sub-command `--lab` and `--json`, wherever they appear on the line (unset unless
    given, so a sub-command's default never hides what its command was given: read them with `lab_of` and
    `wants_json`)."""
    known = {opt for action in parser._actions for opt in action.option_strings}
    if "--lab" not in known:
        add_lab(parser, default=argparse.SUPPRESS)
    if "--json" not in known:
        parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                add_common_options(child)


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def add_run(parser: argparse.ArgumentParser | argparse._MutuallyExclusiveGroup, help_text: str) -> None:
    """`--run ID`: a run id, a unique prefix of one, or 'latest'."""
    parser.add_argument("--run", help=help_text)


def add_branch(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--branch", help=help_text)


def add_profile(parser: argparse.ArgumentParser, help_text: str | None = None) -> None:
    parser.add_argument("--profile", choices=PROFILES, help=help_text)


def add_detach(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--detach", action="store_true", help=f"start the {what} and return at once")


def add_yes(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--yes", "-y", action="store_true", help=help_text)


def seed_arg(text: str) -> int:
    """A `--seed` value: a whole number from 0 to 2**31 - 1 (what every random generator here accepts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a whole number") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"{text[:40]} is out of range (0 to {SEED_MAX})")
    return value


def add_seed(parser: argparse.ArgumentParser, help_text: str | None = None) -> None:
    parser.add_argument("--seed", type=seed_arg, default=None, help=help_text)


def add_remote_options(parser: argparse.ArgumentParser) -> None:
    """Where the compute steps run, and a dry run that prints the plan (`pipeline run`, `sweep`)."""
    parser.add_argument(
        "--on", metavar="WHERE", help="run quantize, finetune and optimize on 'local' or 'azureml:<cluster>' "
        "(default: each step's run_on in lab.toml)",
    )  # fmt: skip
    parser.add_argument(
        "--dry-run", action="store_true", help="print each step's command, or each Azure ML job's spec, and stop"
    )
