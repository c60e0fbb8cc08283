"""Training data in the lab's JSONL format: checking, loading, splitting, paging, statistics and templates.

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
import threading
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

MB = 1_000_000
MAX_LINE_BYTES = 1 * MB  # longer lines are reported, never parsed
READ_CHUNK = 1 << 20
BOM = b"\xef\xbb\xbf"
DISPLAY_CHARS = 2000  # a page row shows at most this much of a line

_JSON_KIND = {
    dict: "an object",
    list: "a list",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true/false",
}


class DatasetError(ValueError):
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
class Problem:
    """One bad line. `blocking` problems must be fixed before training; the others are only reported."""

    line: int
    field: str | None
    message: str
    blocking: bool = True

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", field '{self.field}'" if self.field else "")
        return f"{where}: {self.message}"


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


@dataclass(frozen=True)
class LongLine:
    """A line over the limit: its length and first bytes only."""

    length: int
    head: bytes
    has_nul: bool = False


# ---------------------------------------------------------------- reading lines


def _iter_lines(f: BinaryIO, on_bytes: Callable[[bytes], None] | None = None) -> Iterator[bytes | LongLine]:
    """Lines without their end-of-line bytes; a line over MAX_LINE_BYTES comes back as a LongLine."""
    while True:
        line = f.readline(MAX_LINE_BYTES + 2)
        if not line:
            return
        if on_bytes:
            on_bytes(line)
        if line.endswith(b"\n"):
            body = line[:-1]
            if len(body) <= MAX_LINE_BYTES:
                yield body
                continue
        elif len(line) <= MAX_LINE_BYTES:
            yield line  # last line, no newline at the end
            return
        length, head, nul = len(line), line[:DISPLAY_CHARS], b"\x00" in line
        while not line.endswith(b"\n"):
            line = f.readline(READ_CHUNK)
            if not line:
                break
            if on_bytes:
                on_bytes(line)
            length += len(line)
            nul = nul or b"\x00" in line
        length -= 1 if line.endswith(b"\n") else 0
        yield LongLine(length, head, nul)


def _strip_cr(body: bytes) -> bytes:
    return body[:-1] if body.endswith(b"\r") else body


def _parse(body: bytes, line_no: int, fields: Sequence[str]) -> tuple[dict[str, Any] | None, list[Problem]]:
    """A line (without its newline) -> the record, or the problems that make it unusable."""
    if not body.strip():
        return None, [Problem(line_no, None, "empty line", blocking=False)]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(line_no, None, f"not UTF-8 text (bad byte at column {exc.start + 1})")]
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [Problem(line_no, None, f"not valid JSON: {exc.msg} (column {exc.colno})")]
    if not isinstance(value, dict):
        return None, [Problem(line_no, None, f"is {_JSON_KIND.get(type(value), 'null')}, not a JSON object")]
    problems = []
    for name in fields:
        if name not in value:
            problems.append(Problem(line_no, name, "missing"))
        elif not isinstance(value[name], str):
            problems.append(
                Problem(line_no, name, f"not a string ({_JSON_KIND.get(type(value[name]), 'null')})")
            )
        elif not value[name].strip():
            problems.append(Problem(line_no, name, "empty"))
    return (None if problems else value), problems


def _long_problem(line_no: int, long: LongLine) -> Problem:
    return Problem(
        line_no,
        None,
        f"line {line_no} is {long.length / MB:.1f} MB, longer than the {MAX_LINE_BYTES // MB} MB limit",
    )


def _open_problem(path: Path) -> str | None:
    if not path.exists():
        return "does not exist"
    if path.is_dir():
        return "is a folder, not a file"
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied)"
    return None


# ---------------------------------------------------------------- checking and loading


def _scan(
    path: str | os.PathLike[str],
    fields: Sequence[str],
    max_problems: int,
    on_record: Callable[[int, dict[str, Any]], None] | None = None,
) -> DatasetReport:
    path = Path(path)
    report = DatasetReport(path=path, fields=tuple(fields), field_counts=dict.fromkeys(fields, 0))
    problem = _open_problem(path)
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
        with path.open("rb") as f:
            start = f.read(4)
            f.seek(0)
            if start[:2] in (b"\xff\xfe", b"\xfe\xff"):
                report.fatal, report.fatal_message = True, "is UTF-16 text; save it as UTF-8"
                return report
            for line_no, body in enumerate(_iter_lines(f, digest.update), start=1):
                report.lines = line_no
                if isinstance(body, LongLine):
                    if body.has_nul:
                        report.fatal, report.fatal_message = (
                            True,
                            f"looks like a binary file (NUL byte on line {line_no})",
                        )
                        break
                    add(_long_problem(line_no, body))
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
                record, problems = _parse(body, line_no, fields)
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
        record = json.loads(record)  # a JSON object with bad fields: still count what it holds
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
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


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


# ---------------------------------------------------------------- paging through huge files


class PageRow(NamedTuple):
    line_no: int
    text: str  # the line as text, cut to DISPLAY_CHARS
    parsed: dict[str, Any] | Problem


def _row(line_no: int, body: bytes | LongLine, fields: Sequence[str]) -> PageRow:
    if isinstance(body, LongLine):
        text = body.head[:DISPLAY_CHARS].decode("utf-8", "replace") + "…"
        return PageRow(line_no, text, _long_problem(line_no, body))
    if line_no == 1 and body.startswith(BOM):
        body = body[len(BOM) :]
    body = _strip_cr(body)
    text = body.decode("utf-8", "replace")
    if len(text) > DISPLAY_CHARS:
        text = text[:DISPLAY_CHARS] + "…"
    record, problems = _parse(body, line_no, fields)
    return PageRow(line_no, text, record if record is not None else problems[0])


class JsonlIndex:
    """Line offsets of a JSONL file, built in the background; pages of lines read on demand.

    `build()` may run in a worker thread while `page()` is called from another: the first pages are read
    straight from the file, so they are available before the index is."""

    _NEWLINE = re.compile(b"\n")

    def __init__(self, path: str | os.PathLike[str], fields: Sequence[str] = ("prompt", "response")) -> None:
        self.path = Path(path)
        self.fields = tuple(fields)
        self.size = self.path.stat().st_size
        self._offsets = array("q", [0])  # start of each known line; after build, also the end of the last
        self._lock = threading.Lock()
        self._scanned = 0
        self.complete = self.size == 0

    @property
    def indexed_lines(self) -> int:
        """Lines whose start and end are both known."""
        return len(self._offsets) - 1

    @property
    def line_count(self) -> int | None:
        return self.indexed_lines if self.complete else None

    @property
    def fraction(self) -> float:
        return 1.0 if self.complete else self._scanned / max(self.size, 1)

    def build(
        self, progress_cb: Callable[[int, int], None] | None = None, stop: threading.Event | None = None
    ) -> bool:
        """Index the whole file; returns False when stopped. progress_cb(bytes_done, total) about 10 times a second."""
        if self.complete:
            return True
        last = 0.0
        with self.path.open("rb") as f:
            pos = 0
            while True:
                if stop is not None and stop.is_set():
                    return False
                block = f.read(4 * READ_CHUNK)
                if not block:
                    break
                starts = array("q", [pos + m.end() for m in self._NEWLINE.finditer(block)])
                pos += len(block)
                with self._lock:
                    self._offsets.extend(starts)
                    self._scanned = pos
                now = time.monotonic()
                if progress_cb and now - last > 0.1:
                    progress_cb(pos, self.size)
                    last = now
        with self._lock:
            if self._offsets[-1] != pos:
                self._offsets.append(pos)  # the last line has no newline
            self.complete = True
        if progress_cb:
            progress_cb(pos, self.size)
        return True

    def offset(self, line_no: int) -> int | None:
        """Byte offset where line `line_no` (1-based) starts, when the index has reached it."""
        with self._lock:
            return self._offsets[line_no - 1] if 0 < line_no <= len(self._offsets) - 1 else None

    def page(self, start: int, count: int) -> list[PageRow]:
        """Rows `start` .. `start + count - 1` (0-based; row i is line i + 1)."""
        if start < 0 or count <= 0:
            return []
        with self._lock:
            known = len(self._offsets) - 1
            jump = min(start, known)
            origin = self._offsets[jump] if jump < len(self._offsets) else 0
            spans = [
                (self._offsets[i], self._offsets[i + 1]) for i in range(start, min(start + count, known))
            ]
        rows: list[PageRow] = []
        with self.path.open("rb") as f:
            if len(spans) == count or (self.complete and spans):
                for i, (begin, end) in enumerate(spans):
                    f.seek(begin)
                    length = end - begin
                    if length > MAX_LINE_BYTES + 2:
                        head = f.read(DISPLAY_CHARS)
                        f.seek(end - 1)
                        body: bytes | LongLine = LongLine(length - (f.read(1) == b"\n"), head)
                    else:
                        data = f.read(length)
                        body = data[:-1] if data.endswith(b"\n") else data
                    rows.append(_row(start + i + 1, body, self.fields))
                return rows
            f.seek(origin)  # not indexed yet: read forward from the last known line
            for i, body in enumerate(_iter_lines(f), start=jump):
                if i >= start + count:
                    break
                if i >= start:
                    rows.append(_row(i + 1, body, self.fields))
        return rows


def search(
    path: str | os.PathLike[str],
    text: str,
    start_line: int = 1,
    *,
    index: JsonlIndex | None = None,
    stop: threading.Event | None = None,
) -> int | None:
    """The first line at or after `start_line` containing `text` (case-insensitive), or None.
    Lines over the length limit are searched in their first bytes only."""
    needle = text.casefold()
    if not needle:
        return None
    ascii_needle = needle.encode() if needle.isascii() else None
    with Path(path).open("rb") as f:
        first = 1
        offset = index.offset(start_line) if index is not None else None
        if offset is not None:
            f.seek(offset)
            first = start_line
        for line_no, body in enumerate(_iter_lines(f), start=first):
            if stop is not None and line_no % 10000 == 0 and stop.is_set():
                return None
            if line_no < start_line:
                continue
            data = body.head if isinstance(body, LongLine) else body
            if ascii_needle is not None:
                if ascii_needle in data.lower():
                    return line_no
            elif needle in data.decode("utf-8", "replace").casefold():
                return line_no
    return None


# ---------------------------------------------------------------- statistics


@dataclass
class LengthStats:
    count: int = 0
    min: int | None = None
    mean: float | None = None
    p50: int | None = None  # percentiles come with the final result, not with progress updates
    p95: int | None = None
    max: int | None = None


@dataclass
class DatasetStats:
    path: Path
    fields: tuple[str, ...]
    records: int = 0
    lines: int = 0
    bad_lines: int = 0
    duplicates: int = 0  # records whose fields repeat an earlier record exactly
    empty_fields: int = 0
    chars: dict[str, LengthStats] = field(default_factory=dict)
    tokens: dict[str, LengthStats] | None = None
    bytes_read: int = 0
    total_bytes: int = 0
    done: bool = False
    cancelled: bool = False

    @property
    def fraction(self) -> float:
        return 1.0 if self.done else self.bytes_read / max(self.total_bytes, 1)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


class _Lengths:
    def __init__(self) -> None:
        self.values = array("l")
        self.total = 0
        self.low: int | None = None
        self.high: int | None = None

    def add(self, n: int) -> None:
        self.values.append(n)
        self.total += n
        if self.low is None or n < self.low:
            self.low = n
        if self.high is None or n > self.high:
            self.high = n

    def summary(self, final: bool) -> LengthStats:
        n = len(self.values)
        if not n:
            return LengthStats()
        if not final:
            return LengthStats(count=n, min=self.low, mean=self.total / n, max=self.high)
        ordered = sorted(self.values)
        return LengthStats(
            count=n,
            min=ordered[0],
            mean=self.total / n,
            p50=ordered[(n - 1) // 2],
            p95=ordered[min(n - 1, int(0.95 * n))],
            max=ordered[-1],
        )


def compute_stats(
    path: str | os.PathLike[str],
    fields: Sequence[str] = ("prompt", "response"),
    tokenizer: Any = None,
    stop: threading.Event | None = None,
    progress_cb: Callable[[DatasetStats], None] | None = None,
) -> DatasetStats:
    """Lengths (characters, and tokens when `tokenizer` has .encode), duplicates and empty fields, in one pass.
    progress_cb gets a partial DatasetStats about five times a second and the final one at the end."""
    path = Path(path)
    problem = _open_problem(path)
    if problem:
        raise DatasetError(problem, path=path)
    stats = DatasetStats(path=path, fields=tuple(fields), total_bytes=path.stat().st_size)
    chars = {name: _Lengths() for name in fields}
    tokens = {name: _Lengths() for name in fields} if tokenizer is not None else None
    seen: set[int] = set()
    read = [0]

    def snapshot(final: bool) -> DatasetStats:
        stats.bytes_read = read[0]
        stats.chars = {k: v.summary(final) for k, v in chars.items()}
        stats.tokens = {k: v.summary(final) for k, v in tokens.items()} if tokens is not None else None
        return stats

    last = time.monotonic()
    with path.open("rb") as f:
        for line_no, body in enumerate(
            _iter_lines(f, lambda b: read.__setitem__(0, read[0] + len(b))), start=1
        ):
            stats.lines = line_no
            if stop is not None and stop.is_set():
                stats.cancelled = True
                break
            if isinstance(body, LongLine):
                stats.bad_lines += 1
                continue
            if line_no == 1 and body.startswith(BOM):
                body = body[len(BOM) :]
            record, problems = _parse(_strip_cr(body), line_no, fields)
            stats.empty_fields += sum(1 for p in problems if p.message == "empty")
            if record is None:
                stats.bad_lines += 0 if problems and problems[0].message == "empty line" else 1
                continue
            stats.records += 1
            values = tuple(record[name] for name in fields)
            key = hash(values)
            if key in seen:
                stats.duplicates += 1
            else:
                seen.add(key)
            for name, value in zip(fields, values, strict=True):
                chars[name].add(len(value))
                if tokens is not None:
                    tokens[name].add(len(tokenizer.encode(value)))
            if progress_cb and line_no % 1000 == 0 and time.monotonic() - last > 0.2:
                progress_cb(replace(snapshot(False)))  # a copy: the caller may read it on another thread
                last = time.monotonic()
    stats.done = not stats.cancelled
    snapshot(stats.done)
    if progress_cb:
        progress_cb(stats)
    return stats
