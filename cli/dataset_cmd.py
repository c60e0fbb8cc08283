"""`olive-lab dataset`: check, measure and split a JSONL training set before any step sees it.

Exit status of `check`: 0 when the file can train as it is, 1 when some lines (or the template) must be
fixed first, 2 when the file cannot be read at all.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cli.common import CliError, lab_of
from cli.options import add_seed
from engine.config import load_config
from engine.data.browse import DatasetStats, compute_stats
from engine.data.records import (
    DatasetError,
    DatasetReport,
    check_dataset,
    template_fields,
    validate_template,
)
from engine.data.split import duplicates_sentence, write_split
from engine.data.suggest import shape_note, suggest_fields
from engine.fs import folder_problem

SHOWN_PROBLEMS = 20


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="report every problem in the file, with line and field")
    _common(check)
    check.add_argument(
        "--template", default=None, help="text template to check against the data, e.g. '{prompt} {response}'"
    )
    check.add_argument("--limit", type=int, default=SHOWN_PROBLEMS, help="problems to print (0: all)")
    check.set_defaults(handler=_check)
    stats = sub.add_parser("stats", help="record count, lengths, duplicates and empty fields")
    _common(stats)
    stats.set_defaults(handler=_stats)
    split = sub.add_parser("split", help="write train.jsonl and validation.jsonl with the seeded held-back split")
    _common(split)
    split.add_argument("--out", required=True, help="folder for train.jsonl and validation.jsonl")
    split.add_argument(
        "--share", type=float, default=None, help="share held back for evaluation (default: lab setting)"
    )
    add_seed(split, "split seed (default: lab setting)")
    split.set_defaults(handler=_split)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", nargs="?", default=None, help="JSONL file (default: the lab's dataset)")
    parser.add_argument("--fields", default=None, help="comma-separated fields every record needs (default: the lab's)")


def _target(args: argparse.Namespace) -> tuple[Path, list[str], str | None, float, int]:
    """The file, fields, template, share and seed: from the arguments, else from the lab's settings."""
    lab = lab_of(args)
    config = load_config(lab)  # an unusable lab.toml reaches the one error printer
    ds = config.dataset
    path = lab.resolve(args.file or ds.path)
    fields = (
        [f.strip() for f in args.fields.split(",") if f.strip()]
        if args.fields
        else [ds.prompt_field, ds.response_field]
    )
    template = getattr(args, "template", None)
    if template is None and not args.file:
        template = config.finetune.text_template
    share = ds.eval_share if getattr(args, "share", None) is None else args.share
    seed = ds.split_seed if getattr(args, "seed", None) is None else args.seed
    return path, fields, template, share, seed


def _check(args: argparse.Namespace) -> int:

    path, fields, template, _share, _seed = _target(args)
    template_error: str | None = None
    warnings: list[str] = []
    extra: list[str] = []  # fields only the template names
    if template is not None:
        try:
            extra = [f for f in template_fields(template) if f not in fields]
        except DatasetError as exc:
            template_error = str(exc)
    report = check_dataset(path, fields + extra)
    if template is not None and template_error is None and not report.fatal:
        try:
            warnings = validate_template(template, report.field_counts)
        except DatasetError as exc:
            template_error = str(exc)
            # a template field no record has would be reported on every line: report it once, and count and
            # list the rest from one check (the configured fields are always checked)
            absent = [f for f in extra if report.field_counts.get(f, 0) == 0]
            if absent:
                report = check_dataset(path, [f for f in fields + extra if f not in absent])
    code = 2 if report.fatal else (1 if template_error or not report.ok else 0)
    note = shape_note(report)
    if getattr(args, "json", False):
        data = report.to_dict()
        data.update(template=template, template_error=template_error, warnings=warnings, exit_code=code)
        data.update(suggested_fields=suggest_fields(report), note=note)
        print(json.dumps(data, indent=2, default=str))
        return code
    print(_summary(report, path))
    if note:
        print(f"{path}: {note}")
    for line in report.notes + warnings:
        print(f"{path}: note: {line}")
    shown = report.problems if args.limit <= 0 else report.problems[: args.limit]
    for p in shown:
        field = f" field '{p.field}':" if p.field else ""
        print(f"{path}:{p.line}:{field} {p.message}")
    if report.problem_count > len(shown):
        print(
            f"... and {report.problem_count - len(shown)} more problems (--limit 0 shows up to {len(report.problems)})"
        )
    if template_error:
        print(f"{path}: template: {template_error}")
    suggested = suggest_fields(report)
    if suggested:
        hint = ",".join(suggested.get(name, name) for name in report.fields)
        print(f"{path}: the records hold {', '.join(repr(v) for v in suggested.values())}: try --fields {hint}")
    print(_verdict(report, template_error))
    return code


def _summary(report: DatasetReport, path: Path) -> str:
    if report.fatal:
        return f"{path}: {report.fatal_message}"
    presence = ", ".join(f"'{k}' in {v}" for k, v in report.field_counts.items())
    return (
        f"{path}: {report.records} usable records in {report.lines} lines, {_size(report.size)}, "
        f"sha256 {(report.sha256 or '')[:12]}\nfields: {presence}"
    )


def _verdict(report: DatasetReport, template_error: str | None) -> str:
    if report.fatal:
        return "cannot be used: fix the file first"
    if report.ok and not template_error:
        extra = f" ({report.problem_count} lines only noted)" if report.problem_count else ""
        return f"ok: ready to train{extra}"
    if report.records == 0:
        return "blocked: no usable records"
    if template_error:
        return "blocked: the template does not match the data"
    noted = report.problem_count - report.blocking_count
    also = f"; {noted} more only noted" if noted else ""
    return f"blocked: fix {report.blocking_count} problem(s) before training ({report.records} records are fine{also})"


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n}"


def _stats(args: argparse.Namespace) -> int:
    path, fields, _template, _share, _seed = _target(args)
    try:
        stats = compute_stats(path, fields)
        note = None
        if stats.records == 0 and stats.lines:
            stats, note = _stats_of_own_fields(path, fields, stats, explicit=bool(args.fields))
    except DatasetError as exc:
        raise CliError(str(exc)) from None
    if getattr(args, "json", False):
        print(json.dumps({**stats.to_dict(), "note": note}, indent=2, default=str))
        return 0 if stats.records else 1
    if note:
        print(f"{path}: {note}")
    print(_stats_text(stats))
    return 0 if stats.records else 1


def _stats_of_own_fields(
    path: Path, fields: list[str], stats: DatasetStats, *, explicit: bool
) -> tuple[DatasetStats, str]:
    """No line gave a record: say why, and when the records use other names for the prompt and the response
    (and `--fields` did not name these), the statistics of those fields instead."""

    report = check_dataset(path, fields, max_problems=1)
    note = shape_note(report) or f"no usable records: {report.error().reason}"
    suggested = suggest_fields(report)
    if explicit or not suggested:
        return stats, note
    own = [suggested.get(name, name) for name in fields]
    return compute_stats(path, own), f"{note}\n{path}: the statistics below are of {', '.join(map(repr, own))}"


def _stats_text(stats: DatasetStats) -> str:
    lines = [
        f"{stats.path}: {stats.records} records, {stats.lines} lines, {stats.bad_lines} bad lines, "
        f"{stats.duplicates} exact duplicates, {stats.empty_fields} empty fields",
        f"{'characters':<14}{'min':>8}{'mean':>10}{'p50':>8}{'p95':>8}{'max':>8}",
    ]
    for name, s in stats.chars.items():
        mean = f"{s.mean:.1f}" if s.mean is not None else "-"
        lines.append(f"{name:<14}{s.min or 0:>8}{mean:>10}{s.p50 or 0:>8}{s.p95 or 0:>8}{s.max or 0:>8}")
    return "\n".join(lines)


def _split(args: argparse.Namespace) -> int:

    path, fields, _template, share, seed = _target(args)
    if len(fields) != 2:
        raise CliError("split needs exactly two fields: the prompt and the response")
    out = lab_of(args).resolve(args.out)
    if out.exists() and (problem := folder_problem(out)):
        raise CliError(f"--out {out}: {problem}", hint="name a folder (it is created when missing)")
    try:
        info = write_split(path, fields[0], fields[1], share, seed, out)
    except DatasetError as exc:
        raise CliError(str(exc), code=1) from None
    text = (
        f"{info.train_records} training and {info.validation_records} evaluation records "
        f"(share {info.share}, seed {info.seed})\n{info.train_path}\n{info.validation_path}"
    )
    if info.duplicates:
        text += "\n" + duplicates_sentence(info.duplicates)
    if getattr(args, "json", False):
        print(json.dumps(info.to_dict(), indent=2))
    else:
        print(text)
    return 0
