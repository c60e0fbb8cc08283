"""Turning engine dataset results into what the dataset screen shows: table rows, a record, statistics.

Plain functions over the engine's objects, so the screen stays about keys and layout.
"""

from __future__ import annotations

from bisect import bisect_left
from pathlib import Path
from typing import Any

from engine.config import LabConfig
from engine.data.browse import DatasetStats, LengthStats, PageRow
from engine.data.lines import Problem
from engine.data.records import DatasetError, render
from engine.paths import LabPaths
from engine.steps.spec import base_model_folder

ONE_LINE_CHARS = 240
BARS = " ▁▂▃▄▅▆▇█"


def render_row(row: PageRow, template: str) -> dict[str, Any]:
    """One page row: line number, the training text (or why the line is not a record), the raw record."""
    if isinstance(row.parsed, Problem):
        return {"line": row.line_no, "text": None, "problem": str(row.parsed), "raw": row.text}
    try:
        text = render(template, row.parsed)
        problem = None
    except DatasetError as exc:
        text, problem = None, str(exc)
    return {"line": row.line_no, "text": text, "problem": problem, "raw": row.text, "record": row.parsed}


def split_of(line: int, held: set[int], skipped: list[int], exact: bool, checked: bool) -> str:
    """`eval`, `train`, `bad` or `?` (not known yet) for a line, given the checker's results."""
    if not checked:
        return "?"
    position = bisect_left(skipped, line)
    if position < len(skipped) and skipped[position] == line:
        return "bad"
    if not exact:
        return "?"
    record_index = line - 1 - position
    return "eval" if record_index in held else "train"


def one_line(text: str) -> str:
    flat = text.replace("\n", "⏎")
    return flat if len(flat) <= ONE_LINE_CHARS else flat[: ONE_LINE_CHARS - 1] + "…"


def _lengths(name: str, chars: LengthStats, tokens: LengthStats | None) -> str:
    if not chars.count or chars.mean is None:
        return f"{name}: no values"
    text = f"{name}: avg {chars.mean:,.0f}"
    if chars.p95 is not None:
        text += f" p95 {chars.p95:,} max {chars.max:,}"
    text += " chars"
    if tokens is not None and tokens.mean is not None:
        text += f"\n  avg {tokens.mean:,.0f}"
        if tokens.p95 is not None:
            text += f" p95 {tokens.p95:,} max {tokens.max:,}"
        text += " tokens"
    return text


def stats_text(stats: DatasetStats, tokenizer_note: str) -> str:
    """A few lines of statistics; while computing, what is known so far and how far along."""
    head = f"{stats.records:,} records, {stats.bad_lines:,} bad lines"
    if not stats.done:
        head += f"  (computing {stats.fraction:.0%})"
    lines = [head, f"{stats.duplicates:,} duplicates, {stats.empty_fields:,} empty fields"]
    if stats.done and stats.lines and not stats.records:
        lines.append(f"nothing to measure: no line holds {' and '.join(map(repr, stats.fields))} (see Problems)")
    if stats.duplicate_lines:
        shown = ", ".join(f"{line} = {first}" for line, first in stats.duplicate_lines[:4])
        more = " …" if stats.duplicates > 4 else ""
        lines.append(f"  duplicate lines: {shown}{more} (e lists them)")
    for name in stats.fields:
        tokens = stats.tokens.get(name) if stats.tokens else None
        lines.append(_lengths(name, stats.chars.get(name, LengthStats()), tokens))
    if stats.token_histogram:
        bars = "".join(BARS[min(8, round(8 * n / max(stats.token_histogram)))] for n in stats.token_histogram)
        lines.append(f"tokens per record 0 {bars} {stats.histogram_top:,}")
    if stats.token_limit is not None and stats.done:
        share = stats.over_limit / max(stats.records, 1)
        mark = "⚠ " if stats.over_limit else ""
        lines.append(
            f"{mark}{stats.over_limit:,} records ({share:.0%}) over max_seq_len {stats.token_limit:,} tokens"
            + (": training cuts them" if stats.over_limit else "")
        )
    if tokenizer_note:
        lines.append(tokenizer_note)
    return "\n".join(lines)


def find_tokenizer(lab: LabPaths, config: LabConfig) -> Path | None:
    """The base model's tokenizer.json when it is on disk, found where the pipeline finds the model."""
    folder = base_model_folder(config, lab)
    found = folder / "tokenizer.json" if folder else None
    return found if found and found.is_file() else None
