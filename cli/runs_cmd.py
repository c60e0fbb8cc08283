"""`olive-lab runs ...`: list, show, attach to, cancel, remove and prune runs; export a report."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from cli.common import CliError, emit, lab_of
from engine.runs.report import format_duration
from engine.runs.state import EVENTS_FILE, effective_status, iter_runs, read_events, read_state, step_log_path

EXIT_BY_STATUS = {"done": 0, "failed": 1, "cancelled": 130, "lost": 1}


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    def add(name: str, help_text: str, handler, run_arg: bool = True):
        cmd = sub.add_parser(name, help=help_text)
        if run_arg:
            cmd.add_argument(
                "run", nargs="?", default="latest", help="run id or unique prefix (default: the newest)"
            )
        cmd.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
        cmd.set_defaults(handler=handler)
        return cmd

    add("list", "list the runs of this lab", _list, run_arg=False)
    add("show", "a run's steps, times, verdicts and reasons", _show)
    add("attach", "print a run's whole log, then follow it until it ends", _attach)
    add("cancel", "stop a run and its whole process tree", _cancel)
    add("rm", "remove a finished run's folder", _rm)
    prune = add("prune", "remove finished runs, keeping the newest N", _prune, run_arg=False)
    prune.add_argument("--keep", type=int, default=5)
    prune.add_argument("--failed-only", action="store_true", help="remove only failed and cancelled runs")
    add("report", "write the run's Markdown report (report.md) and print it", _report)


def _resolve(args: argparse.Namespace) -> Path:
    from engine.runs.control import PipelineError, resolve_run

    try:
        return resolve_run(lab_of(args), args.run)
    except PipelineError as exc:
        raise CliError(str(exc)) from None


def _list(args: argparse.Namespace) -> int:
    rows = []
    for run_dir, state in iter_runs(lab_of(args).runs):
        if state is None:
            rows.append({"id": run_dir.name, "status": "unreadable"})
            continue
        rows.append(
            {
                "id": state.id,
                "status": effective_status(state),
                "profile": state.profile,
                "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(state.created_at)),
                "duration_s": state.duration_s,
                "steps": {s.name: s.status for s in state.steps},
                "reason": state.reason,
            }
        )
    if not rows:
        emit(args, [], "no runs yet (start one with: olive-lab pipeline run)")
        return 0
    lines = [f"{'RUN':24} {'STATUS':10} {'PROFILE':8} {'STARTED':17} {'TIME':>7}  STEPS"]
    for r in rows:
        steps = " ".join(f"{k}:{v}" for k, v in (r.get("steps") or {}).items() if k != "prepare")
        lines.append(
            f"{r['id']:24} {r['status']:10} {r.get('profile', ''):8} {r.get('started', ''):17} "
            f"{format_duration(r.get('duration_s')) or '-':>7}  {steps}"
        )
    emit(args, rows, "\n".join(lines))
    return 0


def _show(args: argparse.Namespace) -> int:
    run_dir = _resolve(args)
    state = read_state(run_dir)
    status = effective_status(state)
    lines = [f"run {state.id}  {status}  (profile {state.profile}, folder {run_dir})"]
    if state.reason:
        lines.append(f"reason: {state.reason}")
    for s in state.steps:
        extra = f" from {s.reused_from}" if s.reused_from else ""
        loss = f"  loss {s.last_loss:.4f}" if s.last_loss is not None else ""
        eval_loss = f"  eval {s.last_eval_loss:.4f}" if s.last_eval_loss is not None else ""
        lines.append(f"  {s.name:9} {s.status:9} {format_duration(s.duration_s) or '-':>7}{extra}{loss}{eval_loss}")
        if s.reason and s.status in ("failed", "cancelled"):
            lines.append(f"            {s.reason}")
        if s.output and s.status in ("done", "reused"):
            lines.append(f"            output: {s.output}")
    data = state.model_dump()
    data["effective_status"] = status
    emit(args, data, "\n".join(lines))
    return 0


def follow(run_dir: Path, *, as_json: bool = False, poll_s: float = 0.2) -> int:
    """Print every step's log from its start, then follow the run until it ends. Ctrl-C only detaches."""
    out = sys.stdout
    offsets: dict[str, int] = {}
    events_offset = 0
    announced: set[str] = set()
    try:
        while True:
            state = read_state(run_dir)
            status = effective_status(state)
            if as_json:
                events, events_offset = read_events(run_dir, events_offset)
                for ev in events:
                    out.write(json.dumps(ev) + "\n")
            for step in state.steps:
                path = step_log_path(run_dir, step.name)
                if not path.exists():
                    continue
                if not as_json and step.name not in announced:
                    announced.add(step.name)
                    out.write(f"\n──── {step.name} ────\n")
                with open(path, "rb") as fh:
                    fh.seek(offsets.get(step.name, 0))
                    data = fh.read()
                offsets[step.name] = offsets.get(step.name, 0) + len(data)
                if data and not as_json:
                    out.write(data.decode("utf-8", "replace"))
            out.flush()
            if status in ("done", "failed", "cancelled", "lost"):
                if not as_json:
                    tail = f": {state.reason}" if state.reason else ""
                    out.write(f"\nrun {state.id} {status}{tail}\n")
                return EXIT_BY_STATUS.get(status, 1)
            time.sleep(poll_s)
    except KeyboardInterrupt:
        sys.stderr.write(
            f"\ndetached; run {run_dir.name} goes on (olive-lab runs cancel {run_dir.name} stops it)\n"
        )
        return 0


def _attach(args: argparse.Namespace) -> int:
    return follow(_resolve(args), as_json=args.json)


def _cancel(args: argparse.Namespace) -> int:
    from engine.runs.control import cancel_run

    run_dir = _resolve(args)
    started = time.time()
    state = cancel_run(lab_of(args), run_dir.name)
    emit(
        args,
        {"run": state.id, "status": state.status, "seconds": round(time.time() - started, 2)},
        f"run {state.id}: {state.status} ({time.time() - started:.1f} s)",
    )
    return 0


def _rm(args: argparse.Namespace) -> int:
    from engine.runs.control import PipelineError, remove_run

    try:
        removed = remove_run(lab_of(args), args.run)
    except PipelineError as exc:
        raise CliError(str(exc)) from None
    emit(args, {"removed": str(removed)}, f"removed {removed}")
    return 0


def _prune(args: argparse.Namespace) -> int:
    import shutil

    finished = []
    for run_dir, state in iter_runs(lab_of(args).runs):
        if state is None:
            continue
        status = effective_status(state)
        if status in ("done", "failed", "cancelled", "lost"):
            finished.append((run_dir, status))
    doomed = (
        [d for d, st in finished if st != "done"]
        if args.failed_only
        else [d for d, _ in finished[args.keep :]]
    )
    for run_dir in doomed:
        shutil.rmtree(run_dir)
    emit(args, {"removed": [d.name for d in doomed]}, f"removed {len(doomed)} run(s)")
    return 0


def _report(args: argparse.Namespace) -> int:
    from engine.runs.report import write_report

    run_dir = _resolve(args)
    path = write_report(run_dir)
    text = path.read_text(encoding="utf-8")
    emit(args, {"report": str(path)}, text)
    return 0


__all__ = ["EVENTS_FILE", "follow"]
