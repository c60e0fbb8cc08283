"""Training data in the lab's JSONL format: checking, loading, splitting and templates (one line's reading,
limits and parsing are in `engine.data.lines`; paging, search and statistics for huge files are in
`engine.data.browse`).

Everything here streams the file in binary, so a damaged or huge file gives a clear report (file, line,
field) instead of a traceback or a memory spike, and a 50 MB line is measured in chunks, never held whole.
The held-back split is seeded and keyed on the file's sha256, so the same data and seed give the same split.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
import string
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.data.lines import (
    BOM,
    LongLine,
    Problem,
    iter_lines,
    long_problem,
    parse_line,
)
from engine.errors import OliveLabError
from engine.fs import atomic_open, file_problem, open_regular


class DatasetError(OliveLabError, ValueError):
    """A dataset problem that stops the work, naming the file, the line and the field."""

    def __init__(
        self,
        message: str,
        *,
        path: str | os.PathLike[str] | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.line = line
        self.field = field
        self.reason = message
        where = [self.path.name] if self.path else []
        if line is not None:
            where.append(f"line {line}")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


@dataclass
class DatasetReport:
    path: Path
    fields: tuple[str, ...]
    records: int = 0  # lines that are usable records
    lines: int = 0
    size: int = 0
    problems: list[Problem] = field(default_factory=list)  # the first `max_problems`
    problem_count: int = 0
    blocking_count: int = 0
    fatal: bool = False
    fatal_message: str | None = None
    sha256: str | None = None
    field_counts: dict[str, int] = field(default_factory=dict)  # records (JSON objects) holding each field
    other_fields: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    first_blocking: Problem | None = None

    @property
    def ok(self) -> bool:
        """Usable for training as it is: readable, at least one record, no blocking problem."""
        return not self.fatal and self.blocking_count == 0 and self.records > 0

    def error(self) -> DatasetError:
        """The reason this file cannot be used, as an exception to raise."""
        if self.fatal:
            return DatasetError(self.fatal_message or "cannot be read", path=self.path)
        first = self.first_blocking
        if first is not None:
            more = self.blocking_count - 1
            suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
            return DatasetError(first.message + suffix, path=self.path, line=first.line, field=first.field)
        return DatasetError("holds no records", path=self.path)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        data["ok"] = self.ok
        return data


@dataclass(frozen=True)
class Record:
    line: int
    data: dict[str, Any]


@dataclass(frozen=True)
class SplitInfo:
    source: Path
    source_sha256: str
    train_path: Path
    validation_path: Path
    train_records: int
    validation_records: int
    share: float
    seed: int
    skipped_lines: int

    def to_dict(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}


# ---------------------------------------------------------------- checking and loading


def _scan(
    path: str | os.PathLike[str],
    fields: Sequence[str],
    max_problems: int,
    on_record: Callable[[int, dict[str, Any]], None] | None = None,
) -> DatasetReport:
    path = Path(path)
    report = DatasetReport(path=path, fields=tuple(fields), field_counts=dict.fromkeys(fields, 0))
    problem = file_problem(path)
    if problem:
        report.fatal, report.fatal_message = True, problem
        return report
    digest = hashlib.sha256()
    crlf = False

    def add(problem: Problem) -> None:
        report.problem_count += 1
        report.blocking_count += problem.blocking
        if problem.blocking and report.first_blocking is None:
            report.first_blocking = problem
        if len(report.problems) < max_problems:
            report.problems.append(problem)

    try:
        with open_regular(path) as f:
            start = f.read(4)
            f.seek(0)
            if start[:2] in (b"\xff\xfe", b"\xfe\xff"):
                report.fatal, report.fatal_message = True, "is UTF-16 text; save it as UTF-8"
                return report
            for line_no, body in enumerate(iter_lines(f, digest.update), start=1):
                report.lines = line_no
                if isinstance(body, LongLine):
                    if body.has_nul:
                        report.fatal, report.fatal_message = (
                            True,
                            f"looks like a binary file (NUL byte on line {line_no})",
                        )
                        break
                    add(long_problem(line_no, body))
                    continue
                if line_no == 1 and body.startswith(BOM):
                    body = body[len(BOM) :]
                    report.notes.append(
                        "starts with a UTF-8 byte-order mark (accepted; the split files have none)"
                    )
                if body.endswith(b"\r"):
                    crlf, body = True, body[:-1]
                if b"\x00" in body:
                    report.fatal, report.fatal_message = (
                        True,
                        f"looks like a binary file (NUL byte on line {line_no})",
                    )
                    break
                record, problems = parse_line(body, line_no, fields)
                for p in problems:
                    add(p)
                if record is None:
                    if problems and problems[0].field is not None:
                        _count_fields(report, body)
                    continue
                _count_fields(report, record)
                report.records += 1
                if on_record:
                    on_record(line_no, record)
    except OSError as exc:
        report.fatal, report.fatal_message = True, f"cannot be read ({exc.strerror or exc})"
        return report
    report.size = path.stat().st_size
    report.sha256 = digest.hexdigest()
    if report.size == 0:
        report.fatal, report.fatal_message = True, "is empty"
    if crlf:
        report.notes.append("uses Windows line endings (CRLF), accepted")
    return report


def _count_fields(report: DatasetReport, record: dict[str, Any] | bytes) -> None:
    if isinstance(record, bytes):
        record = json.loads(record)
    if not isinstance(record, dict):
        return  # a JSON object with bad fields: still count what it holds
    for key in record:
        if key in report.field_counts:
            report.field_counts[key] += 1
        elif key in report.other_fields or len(report.other_fields) < 50:
            report.other_fields[key] = report.other_fields.get(key, 0) + 1


def check_dataset(
    path: str | os.PathLike[str], fields: Sequence[str], *, max_problems: int = 1000
) -> DatasetReport:
    """Read the whole file once and report every problem (the first `max_problems` of them in full)."""
    return _scan(path, fields, max_problems)


def load_records(path: str | os.PathLike[str], fields: Sequence[str]) -> list[Record]:
    """The usable records with their line numbers. Raises DatasetError when the file cannot be read at all."""
    records: list[Record] = []
    report = _scan(path, fields, 0, lambda line, data: records.append(Record(line, data)))
    if report.fatal:
        raise report.error()
    return records


# ---------------------------------------------------------------- the held-back split


def eval_indices(n: int, share: float, seed: int) -> set[int]:
    """Which of `n` records are held back: round(n * share) of them, at least one when share > 0 and n >= 2,
    never all. Ranked by a hash of (seed, index), so the choice does not depend on the Python version."""
    if n < 0 or not 0.0 <= share <= 1.0:
        raise ValueError(f"need n >= 0 and 0 <= share <= 1, got n={n}, share={share}")
    if share == 0 or n < 2:
        return set()
    count = min(max(1, round(n * share)), n - 1)
    salt = str(seed).encode()

    def rank(i: int) -> bytes:
        return hashlib.blake2b(i.to_bytes(8, "little"), digest_size=8, key=salt[:64]).digest()

    return set(sorted(range(n), key=rank)[:count])


def write_split(
    path: str | os.PathLike[str],
    prompt_field: str,
    response_field: str,
    share: float,
    seed: int,
    out_dir: str | os.PathLike[str],
    *,
    allow_problems: bool = False,
) -> SplitInfo:
    """Write out_dir/train.jsonl and out_dir/validation.jsonl holding only the two configured fields.

    Refuses a file with blocking problems unless `allow_problems` (then bad lines are skipped)."""
    fields = (prompt_field, response_field)
    records: list[dict[str, str]] = []
    report = _scan(path, fields, 1, lambda _line, data: records.append({f: data[f] for f in fields}))
    if report.fatal or (report.blocking_count and not allow_problems) or not records:
        raise report.error()
    held = eval_indices(len(records), share, seed)
    if share > 0 and not held:
        raise DatasetError("needs at least 2 records to hold some back for evaluation", path=path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_path, validation_path = out / "train.jsonl", out / "validation.jsonl"
    _write_jsonl(train_path, (r for i, r in enumerate(records) if i not in held))
    _write_jsonl(validation_path, (r for i, r in enumerate(records) if i in held))
    return SplitInfo(
        source=Path(path),
        source_sha256=report.sha256 or "",
        train_path=train_path,
        validation_path=validation_path,
        train_records=len(records) - len(held),
        validation_records=len(held),
        share=share,
        seed=seed,
        skipped_lines=report.lines - report.records,
    )


def _write_jsonl(path: Path, rows: Iterator[dict[str, Any]]) -> None:
    with atomic_open(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


# ---------------------------------------------------------------- Olive's --text_template


def olive_unescape(template: str) -> str:
    """What Olive's command line makes of a --text_template value (its `unescaped_str` argument type)."""
    try:
        return codecs.decode(template, "unicode_escape")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"the template has a broken escape sequence ({exc.reason})", field="text_template"
        ) from None


def template_fields(template: str) -> list[str]:
    """The record fields a template names, in order, without repeats."""
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(olive_unescape(template)))
    except ValueError as exc:
        raise DatasetError(
            f"the template's braces do not match ({exc}); write {{{{ and }}}} for literal braces",
            field="text_template",
        ) from None
    for _text, name, _spec, _conv in parsed:
        if name is None:
            continue
        base = re.split(r"[.\[]", name, maxsplit=1)[0]
        if not base or base.isdigit():
            raise DatasetError(
                "the template has a positional {} placeholder; name a field, like {prompt}",
                field="text_template",
            )
        if base not in names:
            names.append(base)
    return names


def template_warnings(template: str) -> list[str]:
    """Things Olive would silently get wrong about this template."""
    if any(ord(c) > 127 for c in template):
        return [
            "Olive reads --text_template with Python's unicode_escape codec, which garbles non-ASCII characters "
            "('é' becomes 'Ã©'); write them as \\u escapes (é as \\u00e9)"
        ]
    return []


def validate_template(template: str, available: Sequence[str] | dict[str, int]) -> list[str]:
    """Raise DatasetError when the template names a field the data lacks; otherwise return warnings.
    `available` is a list of field names, or a report's field counts (fields counted 0 times are missing)."""
    present = {k for k, v in available.items() if v} if isinstance(available, dict) else set(available)
    for name in template_fields(template):
        if name not in present:
            raise DatasetError(f"the template names field '{name}', which the data does not have", field=name)
    return template_warnings(template)


def render(template: str, record: dict[str, Any]) -> str:
    """The training text Olive builds from `record` with this --text_template value."""
    unescaped = olive_unescape(template)
    template_fields(template)  # same error messages for positional and unbalanced placeholders
    try:
        return unescaped.format(**record)
    except KeyError as exc:
        name = str(exc.args[0])
        raise DatasetError(
            f"the template names field '{name}', which the record does not have", field=name
        ) from None
    except (IndexError, ValueError, AttributeError) as exc:
        raise DatasetError(f"the template cannot be filled in ({exc})", field="text_template") from None
