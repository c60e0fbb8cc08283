"""`olive-lab runs ...`: list, show, attach to, cancel, remove and prune runs; export a report."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cli.common import CliError, emit, lab_of
from cli.options import add_yes, wants_json
from engine.durations import format_duration
from engine.runs import select
from engine.runs.state import ENDED_RUN, STOPPED_STEP, SUCCEEDED_STEP, SeenStatus
from engine.runs.sweep_rank import rank_records
from engine.runs.view import as_seen, sweep_line
from engine.steps.evaluation import evaluation_table, run_evaluation

EXIT_BY_STATUS: dict[SeenStatus, int] = {"done": 0, "failed": 1, "cancelled": 130, "lost": 1}


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def add(
        name: str, help_text: str, handler: Callable[[argparse.Namespace], int], run_arg: str | None = "latest"
    ) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=help_text)
        if run_arg == "latest":
            cmd.add_argument("run", nargs="?", default="latest", help="run id or unique prefix (default: the newest)")
        elif run_arg == "required":
            cmd.add_argument("run", help="run id, a unique prefix of one, or 'latest'")
        cmd.set_defaults(handler=handler)
        return cmd

    add("list", "list the runs of this lab", _list, run_arg=None)
    add("show", "a run's steps, times, verdicts and reasons", _show)
    add("attach", "print a run's whole log, then follow it until it ends", _attach)
    cancel = add("cancel", "stop a run and its whole process tree", _cancel, run_arg=None)
    cancel.add_argument("run", nargs="?", default=None, help="run id (default: the run that is going)")
    rm = add("rm", "remove a finished run's folder", _rm, run_arg="required")
    add_yes(rm, "do not ask before removing 'latest'")
    prune = add("prune", "list, then (after asking) remove older finished runs", _prune, run_arg=None)
    prune.add_argument(
        "--keep", type=int, default=5, metavar="N",
        help="keep the N newest runs that left a model and every run started after them (default 5)",
    )  # fmt: skip
    prune.add_argument("--failed-only", action="store_true", help="remove only failed, cancelled and lost runs")
    add_yes(prune, "do not ask before removing the runs listed")
    add("report", "write the run's Markdown report (report.md) and print it", _report)


def _entry(args: argparse.Namespace) -> select.RunEntry:
    return select.resolve(lab_of(args), args.run)


def _list(args: argparse.Namespace) -> int:
    lab = lab_of(args)
    if not lab.root.is_dir():
        raise CliError(f"no lab folder at {lab.root}", code=1, hint="give an existing folder with --lab")
    rows: list[dict[str, Any]] = []
    for entry in select.runs(lab):
        if entry.state is None:
            rows.append({"id": entry.id, "status": "unreadable", "reason": entry.problem})
            continue
        status, state = as_seen(entry.dir, entry.state)
        rows.append(
            {
                "id": state.id,
                "status": status,
                "profile": state.profile,
                "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(state.created_at)),
                "duration_s": state.duration_s,
                "steps": {s.name: s.status for s in state.steps},
                "reason": state.reason,
                "sweep": sweep_line(entry.dir, state),
            }
        )
    if not rows:
        emit(args, [], "no runs yet (start one with: olive-lab pipeline run)")
        return 0
    lines = [f"{'RUN':24} {'STATUS':10} {'PROFILE':8} {'STARTED':17} {'TIME':>7}  STEPS"]
    for r in rows:
        steps = " ".join(f"{k}:{v}" for k, v in (r.get("steps") or {}).items() if k != "prepare")
        if r["status"] == "unreadable":
            steps = str(r.get("reason"))
        elif r.get("sweep"):
            steps = f"{steps}  {r['sweep']}".strip()
        lines.append(
            f"{r['id']:24} {r['status']:10} {r.get('profile', ''):8} {r.get('started', ''):17} "
            f"{format_duration(r.get('duration_s')) or '-':>7}  {steps}"
        )
    emit(args, rows, "\n".join(lines))
    return 0


def _show(args: argparse.Namespace) -> int:
    entry = _entry(args)
    if entry.state is None:
        emit(
            args,
            {"id": entry.id, "status": "unreadable", "reason": entry.problem},
            f"run {entry.id}  unreadable\nreason: {entry.problem}",
        )
        return 1
    status, state = as_seen(entry.dir, entry.state)
    lines = [f"run {state.id}  {status}  (profile {state.profile}, folder {entry.dir})"]
    if state.reason:
        lines.append(f"reason: {state.reason}")
    for s in state.steps:
        extra = f" from {s.reused_from}" if s.reused_from else ""
        extra += f" resumed from {s.resumed_from}" if s.resumed_from else ""
        loss = f"  loss {s.last_loss:.4f}" if s.last_loss is not None else ""
        eval_loss = f"  eval {s.last_eval_loss:.4f}" if s.last_eval_loss is not None else ""
        lines.append(f"  {s.name:9} {s.status:9} {format_duration(s.duration_s) or '-':>7}{extra}{loss}{eval_loss}")
        if s.reason and s.status in STOPPED_STEP:
            lines.append(f"            {s.reason}")
        if s.output and s.status in SUCCEEDED_STEP:
            lines.append(f"            output: {s.output}")
        if s.remote is not None and s.remote.job_name:
            from engine.runs.remote import describe

            lines.append(f"            Azure ML job {s.remote.job_name}: {describe(s.remote)}")
            if s.remote.studio_url:
                lines.append(f"            {s.remote.studio_url}")
    if state.poller_gone:
        lines.append(f"polling stopped: {state.poller_gone} (the next olive-lab command resumes it)")
    if state.sweep is not None:
        from engine.runs.sweep import compare_branches, sweep_table

        rows = compare_branches(entry.dir)
        lines += ["", f"sweep of {state.sweep.setting}: branches in {entry.dir / 'branches'}",
                  sweep_table(state.sweep.setting, rows)]  # fmt: skip
    evaluation = run_evaluation(entry.dir)
    if evaluation is not None:
        lines += ["", evaluation_table(evaluation)]
    data = state.model_dump(mode="json")
    data["effective_status"] = status
    data["evaluation"] = evaluation.model_dump(mode="json") if evaluation is not None else None
    if state.sweep is not None:
        data["branches"] = rank_records(rows)
    emit(args, data, "\n".join(lines))
    return 0


def follow(run_dir: Path, *, as_json: bool = False, poll_s: float = 0.2) -> int:
    """Print every step's log from its start, then follow the run until it ends. Ctrl-C only detaches.
    The same follower as the app's monitor (engine.runs.watch.RunWatcher)."""
    from engine.runs.watch import RunWatcher

    out = sys.stdout
    watcher = RunWatcher(run_dir, backlog_bytes=1 << 40, read_bytes=1 << 40)
    try:
        while True:
            update = watcher.poll()
            if as_json:
                for event in update.events:
                    out.write(event.model_dump_json() + "\n")
            else:
                for kind, text in update.lines:
                    out.write(("\n" if kind == "header" else "") + text + "\n")
                if update.damaged_events:
                    out.write(f"(skipped {update.damaged_events} damaged line(s) of events.jsonl)\n")
            out.flush()
            if update.problem:
                sys.stderr.write(f"olive-lab: {update.problem}\n")
                return 1
            state = watcher.state
            if state is not None and as_seen(run_dir, state)[0] in ENDED_RUN:
                # What the last moment added, and the state as it is now: while a long log was printed the
                # run may have closed and its supervisor exited, which the state read before looks "lost".
                for kind, text in watcher.poll().lines:
                    if not as_json:
                        out.write(("\n" if kind == "header" else "") + text + "\n")
                status, seen = as_seen(run_dir, watcher.state or state)
                if status in ENDED_RUN:
                    if not as_json:
                        tail = f": {seen.reason}" if seen.reason else ""
                        out.write(f"\nrun {seen.id} {status}{tail}\n")
                    out.flush()
                    return EXIT_BY_STATUS.get(status, 1)
            time.sleep(poll_s)
    except KeyboardInterrupt:
        sys.stderr.write(f"\ndetached; run {run_dir.name} goes on (olive-lab runs cancel {run_dir.name} stops it)\n")
        return 0


def _attach(args: argparse.Namespace) -> int:
    return follow(_entry(args).dir, as_json=wants_json(args))


def _cancel(args: argparse.Namespace) -> int:
    from engine.runs.control import cancel_run

    lab = lab_of(args)
    if args.run is None:
        active = select.active(lab)
        if active is None:
            raise CliError("no run is going in this lab; nothing to cancel", code=1)
        args.run = active.id
    entry = _entry(args)
    if entry.state is not None and entry.state.finished:
        raise CliError(f"run {entry.id} has already ended ({entry.state.status}); nothing to cancel", code=1)
    started = time.time()
    seen, state = as_seen(entry.dir, cancel_run(lab, entry.id))
    took = time.time() - started
    if seen == "lost":  # its supervisor and its waiting parent were gone before the cancel: nothing stopped
        emit(args, {"run": state.id, "status": seen, "reason": state.reason, "seconds": round(took, 2)},
             f"run {state.id}: lost, nothing to cancel ({state.reason})")  # fmt: skip
        return 1
    emit(
        args,
        {"run": state.id, "status": state.status, "seconds": round(took, 2)},
        f"run {state.id}: {state.status} (in {format_duration(took)})",
    )
    return 0


def _rm(args: argparse.Namespace) -> int:
    from engine.runs.control import remove_run

    if args.run == select.LATEST and not args.yes:
        entry = _entry(args)
        if not sys.stdin.isatty():
            raise CliError(f"'latest' is run {entry.id}: add --yes to remove it", code=1)
        answer = input(f"remove run {entry.id} ({entry.dir})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 1
        args.run = entry.id
    removed = remove_run(lab_of(args), args.run)
    emit(args, {"removed": str(removed)}, f"removed {removed}")
    return 0


def _prune(args: argparse.Namespace) -> int:
    from engine.runs.prune import plan_prune, prune

    if args.keep < 0:
        raise CliError(f"--keep {args.keep}: give 0 or more runs to keep")
    lab = lab_of(args)
    plan = plan_prune(lab, keep=args.keep, failed_only=args.failed_only)
    listed = [f"  {r.entry.id:24} {r.status:10} {'model' if r.has_model else 'no model'}" for r in plan.remove]
    kept = (
        [f"kept {plan.newest_model}: the newest run with a model (remove it by name: olive-lab runs rm "
         f"{plan.newest_model})"] if plan.newest_model else []
    )  # fmt: skip
    if not plan.remove:
        lines = ["nothing to remove", *kept, *(f"skipped {why}" for why in plan.skipped)]
        emit(args, {"removed": [], "skipped": plan.skipped}, "\n".join(lines))
        return 0
    if not wants_json(args):
        print("\n".join([f"would remove {len(plan.remove)} run(s) from {lab.runs}:", *listed, *kept]))
    if not args.yes:
        if not sys.stdin.isatty():
            raise CliError(f"nothing removed: add --yes to remove these {len(plan.remove)} run(s)", code=1)
        answer = input(f"remove these {len(plan.remove)} run(s)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 1
    removed, skipped = prune(lab, plan)
    lines = [f"removed {len(removed)} run(s)"] + [f"skipped {why}" for why in skipped]
    emit(args, {"removed": removed, "skipped": skipped}, "\n".join(lines))
    return 0


def _report(args: argparse.Namespace) -> int:
    from engine.runs.report import write_report

    path = write_report(_entry(args).dir)
    emit(args, {"report": str(path)}, path.read_text(encoding="utf-8"))
    return 0
