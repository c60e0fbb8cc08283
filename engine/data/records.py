"""Training data in the lab's JSONL format: checking, loading and templates (one line's reading, limits and
parsing are in `engine.data.lines`; the held-back split in `engine.data.split`; paging, search and statistics
for huge files in `engine.data.browse`).

Everything here streams the file in binary, so a damaged or huge file gives a clear report (file, line,
field) instead of a traceback or a memory spike, and a 50 MB line is measured in chunks, never held whole.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import re
import string
from array import array
from collections.abc import Callable, Sequence
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
    record_key,
)
from engine.errors import OliveLabError
from engine.fs import file_problem, open_regular

MAX_DUPLICATES_LISTED = 1000


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
    objects: int = 0  # lines that are JSON objects, usable or not
    blank_lines: int = 0
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
    duplicates: int = 0  # records repeating an earlier record's fields exactly
    duplicate_lines: list[tuple[int, int]] = field(default_factory=list)  # (line, line it repeats), the first 1000
    repeats: dict[int, int] = field(default_factory=dict, repr=False)  # record index -> its first copy's index

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
        data.pop("repeats")
        data["path"] = str(self.path)
        data["ok"] = self.ok
        return data


@dataclass(frozen=True)
class Record:
    line: int
    data: dict[str, Any]


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
    first_copy: dict[int, int] = {}  # record key -> index of the first record holding it
    record_lines = array("q")  # line of each record

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
                    report.notes.append("starts with a UTF-8 byte-order mark (accepted; the split files have none)")
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
                        report.objects += 1
                        _count_fields(report, body)
                    report.blank_lines += bool(problems) and problems[0].message == "empty line"
                    continue
                report.objects += 1
                _count_fields(report, record)
                first = first_copy.setdefault(record_key(record, fields), report.records)
                if first != report.records:
                    report.repeats[report.records] = first
                    if len(report.duplicate_lines) < MAX_DUPLICATES_LISTED:
                        report.duplicate_lines.append((line_no, record_lines[first]))
                record_lines.append(line_no)
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
    report.duplicates = len(report.repeats)
    if report.duplicates:
        pairs = ", ".join(f"line {line} = line {first}" for line, first in report.duplicate_lines[:3])
        more = ", ..." if report.duplicates > 3 else ""
        report.notes.append(
            f"{report.duplicates:,} record(s) repeat an earlier one exactly ({pairs}{more}); each copy goes to "
            "the same side of the evaluation split as its first"
        )
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
    path: str | os.PathLike[str],
    fields: Sequence[str],
    *,
    max_problems: int = 1000,
    on_record: Callable[[int, dict[str, Any]], None] | None = None,
) -> DatasetReport:
    """Read the whole file once and report every problem (the first `max_problems` of them in full);
    `on_record(line, record)` sees each usable record on the way."""
    return _scan(path, fields, max_problems, on_record)


def load_records(path: str | os.PathLike[str], fields: Sequence[str]) -> list[Record]:
    """The usable records with their line numbers. Raises DatasetError when the file cannot be read at all."""
    records: list[Record] = []
    report = _scan(path, fields, 0, lambda line, data: records.append(Record(line, data)))
    if report.fatal:
        raise report.error()
    return records


# ---------------------------------------------------------------- Olive's --text_template


def olive_unescape(template: str) -> str:
    """What Olive's command line makes of a --text_template value (its `unescaped_str` argument type)."""
    try:
        return codecs.decode(template, "unicode_escape")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"the template has a broken escape sequence ({exc.reason})", field="text_template") from None


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
        raise DatasetError(f"the template names field '{name}', which the record does not have", field=name) from None
    except (IndexError, ValueError, AttributeError) as exc:
        raise DatasetError(f"the template cannot be filled in ({exc})", field="text_template") from None
