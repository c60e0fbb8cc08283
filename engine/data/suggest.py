"""Which fields a set's records seem to use for the prompt and the response, when the configured names
are missing from them (a `question`/`answer` set opened with the default `prompt`/`response`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.data.records import DatasetReport

FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "prompt": ("prompt", "question", "instruction", "input", "query", "user", "text", "source"),
    "response": ("response", "answer", "output", "completion", "assistant", "target", "reply"),
}
"""Names other sets give the prompt and the response, for suggesting field names."""


def suggest_fields(report: DatasetReport) -> dict[str, str]:
    """For each wanted field (prompt first, response second) most records lack, the other field the records
    do hold that looks like it (`prompt` -> `question`); empty when nothing fits."""
    commonest = max(report.other_fields.values(), default=0)
    suggestions: dict[str, str] = {}
    for role, wanted in zip(("prompt", "response"), report.fields, strict=False):
        if report.field_counts.get(wanted, 0) >= commonest:
            continue
        common = sorted(report.other_fields, key=lambda k: -report.other_fields[k])
        named = [k for k in common if k.lower() in FIELD_NAMES[role]]
        if named:
            suggestions[wanted] = named[0]
    return suggestions


def shape_note(report: DatasetReport) -> str | None:
    """One sentence on why most lines are not records, when they are not: the file is not JSONL at all, or its
    lines are JSON objects without the configured fields (naming the fields they hold and the settings to
    change). None when most lines are records, or the file could not be read."""
    if report.fatal:
        return None
    lines = report.lines - report.blank_lines
    not_objects = lines - report.objects
    if not_objects > report.records:
        return (
            f"This does not look like JSONL: {not_objects:,} of {lines:,} lines are not JSON objects "
            "(a training set has one JSON object per line)"
        )
    absent = [name for name in report.fields if 2 * report.field_counts.get(name, 0) < report.objects]
    if not absent or 2 * report.records >= report.objects:
        return None
    lacking = report.objects - min(report.field_counts.get(name, 0) for name in absent)
    names = " and ".join(repr(name) for name in absent)
    held = ", ".join(repr(k) for k in sorted(report.other_fields, key=lambda k: -report.other_fields[k])[:6])
    which = "none holds" if lacking == report.objects else f"{lacking:,} of them lack"
    text = (
        f"{report.objects:,} of {lines:,} lines are JSON objects, but {which} the configured "
        f"field{'s' if len(absent) > 1 else ''} {names}"
    )
    text += f"; they hold {held}" if held else ""
    roles = dict(zip(report.fields, ("prompt_field", "response_field"), strict=False))
    suggested = suggest_fields(report)
    settings = [f'dataset.{roles[k]} = "{v}"' for k, v in suggested.items() if k in roles]
    if settings:
        return text + ": set " + " and ".join(settings)
    wanted = " and ".join(f"dataset.{roles[k]}" for k in absent if k in roles) or "the template"
    return text + f": set {wanted} to the field names the records use"
