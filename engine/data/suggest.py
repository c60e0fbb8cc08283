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
