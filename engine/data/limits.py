"""Limits on one JSONL line that Python's JSON reader does not enforce by itself.

A line nested thousands of levels deep makes `json.loads` die with a RecursionError (a crash, not a
refusal), and a lone UTF-16 surrogate escape (`"\\ud800"`) parses into a string that cannot be written as
UTF-8, so it passes a check and fails later. Both are looked for only on lines that could hold them, so the
common line costs two byte counts and one search.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_JSON_DEPTH = 100  # deeper lines are refused: Python's JSON reader would die with a RecursionError

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
