"""The run's steps as a timeline: one row per step with its status mark, name, status and duration.

Durations come from the state's start and end times; only a running step's duration uses the clock (its
`now` is passed in), so a finished run always draws the same.
"""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import Static

from engine.durations import format_duration
from engine.runs.state import RunState, StepState

MARKS: dict[str, tuple[str, str]] = {
    "pending": ("○", "dim"),
    "running": ("▶", "bold $warning"),
    "done": ("✔", "$success"),
    "reused": ("↺", "$success"),
    "failed": ("✘", "bold $error"),
    "cancelled": ("■", "$warning"),
    "skipped": ("–", "dim"),
}


def step_seconds(step: StepState, now: float) -> float | None:
    if step.started_at is None:
        return None
    end = step.ended_at if step.ended_at is not None else (now if step.status == "running" else None)
    return None if end is None else end - step.started_at


def gpu_figures(step: StepState) -> str:
    """The step's GPU figures from the supervisor's meter (peak VRAM, mean utilisation, energy), if any."""
    gpu = step.gpu
    parts = []
    if gpu.peak_vram_mib is not None:
        parts.append(f"peak {gpu.peak_vram_mib / 1024:.1f} GiB")
    if gpu.mean_util_pct is not None:
        parts.append(f"{gpu.mean_util_pct:.0f}% util")
    if gpu.energy_j is not None:
        parts.append(f"{gpu.energy_j / 1000:.1f} kJ")
    return " · ".join(parts)


class Timeline(Static):
    """Steps of one run. Call `show(state)`; `tick()` redraws a running step's clock."""

    DEFAULT_CSS = """
    Timeline { height: auto; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.state: RunState | None = None
        self._plain: str | None = None

    def show(self, state: RunState | None) -> None:
        self.state = state
        self._plain = None
        self.tick()

    def tick(self, now: float | None = None) -> None:
        text = self.render_state(self.state, time.time() if now is None else now)
        if text.plain != self._plain:  # an update costs a layout pass; most ticks change nothing
            self._plain = text.plain
            self.update(text)

    def render_state(self, state: RunState | None, now: float) -> Text:
        if state is None or not state.steps:
            return Text("no steps yet", style="dim")
        width = max(len(s.name) for s in state.steps)
        out = Text()
        for i, step in enumerate(state.steps):
            mark, style = MARKS.get(step.status, ("?", ""))
            out.append(f"{mark} ", style=resolve_style(self, style))
            out.append(step.name.ljust(width + 1), style="bold" if step.status == "running" else "")
            out.append(step.status.ljust(10), style=resolve_style(self, style))
            out.append(format_duration(step_seconds(step, now)).rjust(7))
            if step.status == "reused" and step.reused_from:
                out.append(f" from {step.reused_from}", style="dim")
            if step.resumed_from:  # a fine-tune that went on from an earlier run's checkpoint (its log names the run)
                out.append(f"\n  resumed from {step.resumed_from.rpartition('/')[2]}", style="dim")
            if step.remote is not None:  # where it runs (or ran), and its Azure ML job's last word
                out.append(f"\n  azureml:{step.remote.cluster} · {step.remote.status}", style="dim")
            gpu = gpu_figures(step)
            if gpu:
                out.append(f"\n  {gpu}", style="dim")
            if i < len(state.steps) - 1:
                out.append("\n")
        return out


def resolve_style(widget: Static, style: str) -> str:
    """Theme variables (`$error`) in a Rich style string, resolved against the app's current theme."""
    if "$" not in style:
        return style
    variables = widget.app.theme_variables
    return " ".join(variables.get(part[1:], part) if part.startswith("$") else part for part in style.split())
