"""One line of a JSONL file: read in binary with a length limit, checked against the limits Python's JSON
reader does not enforce, and parsed into a record or the problems that make it unusable.

The one JSONL reader (`engine.data.records`, and the paging and statistics in `engine.data.browse`) is built
on these. A line nested thousands of levels deep would make `json.loads` die with a RecursionError, and a
lone UTF-16 surrogate escape (`"\\ud800"`) parses into a string that cannot be written as UTF-8, so both
are refused here as problems on their line. Both are looked for only on lines that could hold them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

MB = 1_000_000
MAX_LINE_BYTES = 1 * MB  # longer lines are reported, never parsed
READ_CHUNK = 1 << 20
BOM = b"\xef\xbb\xbf"
DISPLAY_CHARS = 2000  # a page row shows at most this much of a line

MAX_JSON_DEPTH = 100  # deeper lines are refused: Python's JSON reader would die with a RecursionError

_JSON_KIND = {
    dict: "an object",
    list: "a list",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true/false",
}
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKETS = re.compile(rb"[\[\]{}]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def too_deep(body: bytes) -> bool:
    """Whether the line's arrays and objects nest deeper than MAX_JSON_DEPTH (brackets inside strings do not
    count). Only lines holding that many opening brackets at all are scanned."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return False
    depth = 0
    for m in _BRACKETS.finditer(_JSON_STRING.sub(b'""', body)):
        depth += 1 if m.group() in b"[{" else -1
        if depth > MAX_JSON_DEPTH:
            return True
    return False


def lone_surrogate(body: bytes, value: dict[str, Any]) -> str | None:
    """The first field holding a lone UTF-16 surrogate escape (`"\\ud800"`): JSON lets it through, but it
    is not a character, and writing it as UTF-8 fails. None when every field is clean. `body` is the line the
    record was parsed from: only a line holding such an escape is looked at closely."""
    if not _SURROGATE_ESCAPE.search(body):
        return None
    for name, item in value.items():
        try:
            name.encode("utf-8")
            json.dumps(item, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return name.encode("utf-8", "backslashreplace").decode("utf-8")  # printable, even a bad key
    return None


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


@dataclass(frozen=True)
class LongLine:
    """A line over the limit: its length and first bytes only."""

    length: int
    head: bytes
    has_nul: bool = False


def iter_lines(f: BinaryIO, on_bytes: Callable[[bytes], None] | None = None) -> Iterator[bytes | LongLine]:
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


def strip_cr(body: bytes) -> bytes:
    return body[:-1] if body.endswith(b"\r") else body


def parse_line(body: bytes, line_no: int, fields: Sequence[str]) -> tuple[dict[str, Any] | None, list[Problem]]:
    """A line (without its newline) -> the record, or the problems that make it unusable."""
    if not body.strip():
        return None, [Problem(line_no, None, "empty line", blocking=False)]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(line_no, None, f"not UTF-8 text (bad byte at column {exc.start + 1})")]
    if too_deep(body):
        return None, [Problem(line_no, None, f"nested deeper than {MAX_JSON_DEPTH} levels")]
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [Problem(line_no, None, f"not valid JSON: {exc.msg} (column {exc.colno})")]
    except ValueError:  # Python refuses integers of more than 4300 digits
        return None, [Problem(line_no, None, "holds a number too long to read (over 4300 digits)")]
    if not isinstance(value, dict):
        return None, [Problem(line_no, None, f"is {_JSON_KIND.get(type(value), 'null')}, not a JSON object")]
    bad = lone_surrogate(body, value)
    if bad is not None:
        return None, [Problem(line_no, bad, "holds a lone surrogate escape (like \\ud800), which is not a character")]
    problems = []
    for name in fields:
        if name not in value:
            problems.append(Problem(line_no, name, "missing"))
        elif not isinstance(value[name], str):
            problems.append(Problem(line_no, name, f"not a string ({_JSON_KIND.get(type(value[name]), 'null')})"))
        elif not value[name].strip():
            problems.append(Problem(line_no, name, "empty"))
    return (None if problems else value), problems


def record_key(record: dict[str, Any], fields: Sequence[str]) -> int:
    """What makes two records exact duplicates: the same values in the given fields."""
    return hash(tuple(map(record.__getitem__, fields)))


def long_problem(line_no: int, long: LongLine) -> Problem:
    return Problem(
        line_no,
        None,
        f"line {line_no} is {long.length / MB:.1f} MB, longer than the {MAX_LINE_BYTES // MB} MB limit",
    )
