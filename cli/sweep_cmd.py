"""`olive-lab sweep`: one run folder, one branch per value of a finetune/optimize setting, side by side."""

from __future__ import annotations

import argparse

from cli.common import CliError, emit, lab_of
from cli.options import add_detach, add_profile, add_remote_options, wants_json
from cli.pipeline_cmd import _config, dry_run
from engine.runs.sweep_rank import rank_records


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="setting", metavar="SETTING=V1,V2,...", action="append",
                        help="the setting each branch changes, e.g. finetune.lora_r=8,16,64; several --set: "
                             "one branch per combination")  # fmt: skip
    add_profile(parser)
    add_remote_options(parser)
    parser.add_argument("--golden", type=int, default=8, metavar="N",
                        help="held-back examples each branch's golden check answers (0: none)")  # fmt: skip
    add_detach(parser, "sweep")
    parser.add_argument("--compare", metavar="RUN", help="print the comparison of a sweep that ran (or is running)")
    parser.set_defaults(handler=_sweep)


def _sweep(args: argparse.Namespace) -> int:
    from engine.runs.sweep import plan_sweep

    if args.compare:
        return show_comparison(args, args.compare)
    if not args.setting:
        raise CliError("--set is required, e.g. --set finetune.lora_r=8,16,64")
    from engine.runs.placement import read_settings

    read_settings()  # a bad OLIVE_LAB_SLOTS / OLIVE_LAB_BRANCHES_PER_GPU is refused before the sweep starts
    lab, config = _config(args)
    plan = plan_sweep(config, args.setting, golden_limit=max(0, args.golden))
    if args.dry_run:
        return dry_run(args, lab, config, sweep=plan)
    from engine.runs.control import start_run

    run_id = start_run(lab, config, sweep=plan)
    if args.detach:
        emit(
            args, {"run": run_id, "folder": str(lab.run_dir(run_id))}, f"started sweep {run_id} ({lab.run_dir(run_id)})"
        )
        return 0
    from cli.runs_cmd import follow

    code = follow(lab.run_dir(run_id), as_json=wants_json(args))
    show_comparison(args, run_id)
    return code


def show_comparison(args: argparse.Namespace, run: str) -> int:
    from engine.runs import select
    from engine.runs.sweep import compare_branches, sweep_table

    entry = select.resolve(lab_of(args), run)
    rows = compare_branches(entry.dir)
    assert entry.state is not None and entry.state.sweep is not None
    emit(args, rank_records(rows), "\n" + sweep_table(entry.state.sweep.setting, rows))
    return 0
