"""`olive-lab pipeline run`: start the lab's steps as a detached run, then follow it (or not)."""

from __future__ import annotations

import argparse
import shlex
import sys

from cli.common import CliError, emit, lab_of
from cli.options import add_detach, add_profile, add_remote_options, wants_json
from engine.config import LabConfig, build_config, changed_settings, check_run_on, load_config
from engine.paths import LabPaths
from engine.runs.state import Sweep, read_state
from engine.steps.spec import STEP_NAMES


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = sub.add_parser("run", help="start a run (quantize, finetune, optimize)")
    add_profile(run, "settings profile (default: lab.toml's, else demo)")
    pick = run.add_mutually_exclusive_group()
    pick.add_argument("--steps", help=f"comma-separated steps to run ({','.join(STEP_NAMES)})")
    pick.add_argument("--from", dest="from_step", choices=STEP_NAMES, help="run this step and the ones after it")
    run.add_argument(
        "--resume", action="store_true",
        help="fine-tune from the last checkpoint of a failed or cancelled run with the same settings and data "
        "(implies --from finetune)",
    )  # fmt: skip
    add_remote_options(run)
    add_detach(run, "run")
    run.add_argument("--allow-concurrent", action="store_true", help="allow a second run in this lab")
    run.set_defaults(handler=_run)
    show = sub.add_parser("commands", help="print the exact command line of each step")
    add_profile(show)
    show.set_defaults(handler=_commands)


def _config(args: argparse.Namespace) -> tuple[LabPaths, LabConfig]:
    lab = lab_of(args)
    config = load_config(lab)
    if args.profile and args.profile != config.profile:
        config = build_config(args.profile, changed_settings(config) if lab.config.exists() else {})
    if getattr(args, "on", None):
        try:
            where = check_run_on(args.on)
        except ValueError as exc:
            raise CliError(f"--on: {exc}") from None
        for step in ("quantize", "finetune", "optimize"):
            config.step(step).run_on = where  # type: ignore[attr-defined]  # the three compute steps have it
    return lab, config


def dry_run(
    args: argparse.Namespace,
    lab: LabPaths,
    config: LabConfig,
    steps: list[str] | None = None,
    sweep: Sweep | None = None,
) -> int:
    """The run's plan, as the supervisor will follow it: each step's command (here) or job (Azure ML), without
    starting anything or contacting Azure."""
    from engine.runs.control import selected_steps
    from engine.steps.plan import run_plan

    plan = run_plan(config, lab, forced=selected_steps(steps), grid=sweep.grid if sweep is not None else ())
    lines = []
    for item in plan.steps:
        head = f"# {item.step}" + (f" ({item.branch})" if item.branch else "")
        if item.off:
            lines += [f"{head}: off ({item.off})", ""]
            continue
        lines.append(f"{head}: {item.where}")
        if item.job is not None:
            job = item.job
            lines += [f"job:         {job.name} (experiment {job.experiment}, compute {job.compute})",
                      f"command:     {job.command}", f"image:       {job.image} (environment {job.environment.digest})",
                      f"packages:    {job.environment.lock} ({len(job.environment.requirements)} pins, no resolving),"
                      f" {job.environment.torch} (CUDA {job.environment.cuda}),"
                      f" ONNX builder {', '.join(job.environment.builder)}"]  # fmt: skip
            lines += [f"input {k + ':':7}{v.shown}" for k, v in job.inputs.items()]
            lines += [f"output {k + ':':6}{v}" for k, v in job.outputs.items()]
            lines += [f"env:         {k}={v}" for k, v in job.environment_variables.items()]
            lines += [f"not sent:    {k} (a secret: keep it in the workspace's key vault)" for k in job.withheld]
        else:
            lines.append(item.command_line)
            lines += [
                f"env:         {e.name}=" + ("(secret, handed to the step as it starts)" if e.secret else str(e.value))
                for e in item.env
            ]
        lines.append("")
    emit(args, [item.model_dump(mode="json") for item in plan.steps], "\n".join(lines).rstrip())
    return 0


def _run(args: argparse.Namespace) -> int:
    from engine.runs.control import start_run

    lab, config = _config(args)
    steps = args.steps.split(",") if args.steps is not None else None
    if args.dry_run:
        return dry_run(args, lab, config, steps)
    from_step = args.from_step or ("finetune" if args.resume and steps is None else None)
    run_id = start_run(
        lab, config, steps=steps, from_step=from_step, allow_concurrent=args.allow_concurrent, resume=args.resume
    )

    for warning in read_state(lab.run_dir(run_id)).warnings:
        print(f"olive-lab: warning: {warning}", file=sys.stderr)
    if args.detach:
        emit(
            args,
            {"run": run_id, "folder": str(lab.run_dir(run_id))},
            f"started run {run_id} ({lab.run_dir(run_id)})",
        )
        return 0
    from cli.runs_cmd import follow

    return follow(lab.run_dir(run_id), as_json=wants_json(args))


def _commands(args: argparse.Namespace) -> int:
    from engine.runs import select
    from engine.steps.plan import run_plan

    lab, config = _config(args)
    newest = select.newest(lab)
    # Lines that paste: the newest run's real folder, or a RUN variable set on the first line (no placeholders)
    run = str(newest.dir) if newest is not None else "__RUN__"
    plan = run_plan(config, lab, run=run)
    lines: dict[str, str] = {}
    shown = []
    for item in plan.steps:
        if item.step == "prepare":
            continue
        if item.off:
            shown.append(f"# {item.step}: off ({item.off})")
            continue
        lines[item.step] = item.command_line.replace("__RUN__", '"$RUN"')
        where = f": the command of its job on Azure ML cluster {item.cluster}" if item.cluster else ""
        shown.append(f"# {item.step}{where}\n{lines[item.step]}")
    if newest is not None:
        head = f"# the paths of run {newest.id}, the newest (a new run gets a folder of its own)"
    else:
        data = shlex.quote(str(lab.resolve(config.dataset.path)))
        head = (
            f"RUN={shlex.quote(str(lab.runs / 'by-hand'))}  # no run yet: any folder will do\n"
            f'olive-lab dataset split {data} --out "$RUN"/data  # train.jsonl and validation.jsonl'
        )
    emit(args, lines, head + "\n\n" + "\n\n".join(shown))
    return 0
