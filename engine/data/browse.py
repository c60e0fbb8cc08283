"""Browsing huge JSONL files: a line index built in the background, pages read on demand, search and
statistics that fill in as they are computed. The checks, split and templates live in `engine.data.records`."""

from __future__ import annotations

import os
import re
import threading
import time
from array import array
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from engine.data.lines import (
    BOM,
    DISPLAY_CHARS,
    MAX_LINE_BYTES,
    READ_CHUNK,
    LongLine,
    Problem,
    iter_lines,
    long_problem,
    parse_line,
    record_key,
    strip_cr,
)
from engine.data.records import DatasetError
from engine.fs import file_problem, open_regular

# ---------------------------------------------------------------- paging through huge files


class PageRow(NamedTuple):
    line_no: int
    text: str  # the line as text, cut to DISPLAY_CHARS
    parsed: dict[str, Any] | Problem


def _row(line_no: int, body: bytes | LongLine, fields: Sequence[str]) -> PageRow:
    if isinstance(body, LongLine):
        text = body.head[:DISPLAY_CHARS].decode("utf-8", "replace") + "…"
        return PageRow(line_no, text, long_problem(line_no, body))
    if line_no == 1 and body.startswith(BOM):
        body = body[len(BOM) :]
    body = strip_cr(body)
    text = body.decode("utf-8", "replace")
    if len(text) > DISPLAY_CHARS:
        text = text[:DISPLAY_CHARS] + "…"
    record, problems = parse_line(body, line_no, fields)
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

    def build(self, progress_cb: Callable[[int, int], None] | None = None, stop: threading.Event | None = None) -> bool:
        """Index the whole file; returns False when stopped. progress_cb(bytes_done, total) about 10 times a second."""
        if self.complete:
            return True
        last = 0.0
        with open_regular(self.path) as f:
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
            spans = [(self._offsets[i], self._offsets[i + 1]) for i in range(start, min(start + count, known))]
        rows: list[PageRow] = []
        with open_regular(self.path) as f:
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
            for i, body in enumerate(iter_lines(f), start=jump):
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
    with open_regular(Path(path)) as f:
        first = 1
        offset = index.offset(start_line) if index is not None else None
        if offset is not None:
            f.seek(offset)
            first = start_line
        for line_no, body in enumerate(iter_lines(f), start=first):
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
    duplicate_lines: list[tuple[int, int]] = field(default_factory=list)  # (line, line it repeats), first 1000
    token_limit: int | None = None  # the limit `over_limit` counts against (max_seq_len)
    over_limit: int = 0  # records whose fields together have more tokens than `token_limit`
    token_histogram: list[int] = field(default_factory=list)  # records per bin of total tokens (HISTOGRAM_BINS)
    histogram_top: int = 0  # the total-token count the last bin ends at
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


HISTOGRAM_BINS = 16
MAX_DUPLICATES_LISTED = 1000


def compute_stats(
    path: str | os.PathLike[str],
    fields: Sequence[str] = ("prompt", "response"),
    tokenizer: Any = None,
    stop: threading.Event | None = None,
    progress_cb: Callable[[DatasetStats], None] | None = None,
    token_limit: int | None = None,
) -> DatasetStats:
    """Lengths (characters, and tokens when `tokenizer` has .encode), duplicates and empty fields, in one pass.
    progress_cb gets a partial DatasetStats about five times a second and the final one at the end."""
    path = Path(path)
    problem = file_problem(path)
    if problem:
        raise DatasetError(problem, path=path)
    stats = DatasetStats(path=path, fields=tuple(fields), total_bytes=path.stat().st_size)
    chars = {name: _Lengths() for name in fields}
    tokens = {name: _Lengths() for name in fields} if tokenizer is not None else None
    seen: dict[int, int] = {}  # hash of the fields -> the first line holding them
    totals = _Lengths()  # tokens of all fields together, per record
    stats.token_limit = token_limit if tokenizer is not None else None
    read = [0]

    def snapshot(final: bool) -> DatasetStats:
        stats.bytes_read = read[0]
        stats.chars = {k: v.summary(final) for k, v in chars.items()}
        stats.tokens = {k: v.summary(final) for k, v in tokens.items()} if tokens is not None else None
        if final and totals.values:
            stats.histogram_top = max(totals.high or 1, 1)
            bins = [0] * HISTOGRAM_BINS
            for n in totals.values:
                bins[min(HISTOGRAM_BINS - 1, n * HISTOGRAM_BINS // (stats.histogram_top + 1))] += 1
            stats.token_histogram = bins
        return stats

    last = time.monotonic()
    with open_regular(path) as f:
        for line_no, body in enumerate(iter_lines(f, lambda b: read.__setitem__(0, read[0] + len(b))), start=1):
            stats.lines = line_no
            if stop is not None and stop.is_set():
                stats.cancelled = True
                break
            if isinstance(body, LongLine):
                stats.bad_lines += 1
                continue
            if line_no == 1 and body.startswith(BOM):
                body = body[len(BOM) :]
            record, problems = parse_line(strip_cr(body), line_no, fields)
            stats.empty_fields += sum(1 for p in problems if p.message == "empty")
            if record is None:
                stats.bad_lines += 0 if problems and problems[0].message == "empty line" else 1
                continue
            stats.records += 1
            values = tuple(record[name] for name in fields)
            key = record_key(record, fields)
            if key in seen:
                stats.duplicates += 1
                if len(stats.duplicate_lines) < MAX_DUPLICATES_LISTED:
                    stats.duplicate_lines.append((line_no, seen[key]))
            else:
                seen[key] = line_no
            total = 0
            for name, value in zip(fields, values, strict=True):
                chars[name].add(len(value))
                if tokens is not None:
                    count = len(tokenizer.encode(value))
                    tokens[name].add(count)
                    total += count
            if tokens is not None:
                totals.add(total)
                if token_limit is not None and total > token_limit:
                    stats.over_limit += 1
            if progress_cb and line_no % 1000 == 0 and time.monotonic() - last > 0.2:
                progress_cb(replace(snapshot(False)))  # a copy: the caller may read it on another thread
                last = time.monotonic()
    stats.done = not stats.cancelled
    snapshot(stats.done)
    if progress_cb:
        progress_cb(stats)
    return stats
