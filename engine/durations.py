"""The one way a duration reads to a user (`0:07`, `12:03`, `1:02:03`): timers, ETAs, waits, comparisons and the
progress lines olive-lab's own step programs print. A module of its own, below every package, so the Azure
transfers and the step programs use it as well as the monitor and the CLI."""

from __future__ import annotations


def format_duration(seconds: float | None) -> str:
    """`0:07`, `12:03`, `1:02:03`; an empty string when unknown."""
    if seconds is None:
        return ""
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
