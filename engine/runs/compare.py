"""Two runs side by side: which settings differ, how long each step took, how the loss went, and which did
better. The compare screen renders this; nothing here knows about the screen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.durations import format_duration
from engine.runs.report import RunSummary, step_verdict, summarize_run
from engine.runs.sweep_rank import rank_branches

if TYPE_CHECKING:
    from engine.runs.sweep import BranchRow

_MISSING = object()


@dataclass
class StepPair:
    name: str
    a_status: str
    b_status: str
    a_seconds: float | None
    b_seconds: float | None
    a_verdict: str
    b_verdict: str


@dataclass
class RunComparison:
    a: RunSummary
    b: RunSummary
    settings_diff: list[tuple[str, Any, Any]] = field(default_factory=list)  # (key, a, b); None = absent
    steps: list[StepPair] = field(default_factory=list)
    verdicts: list[str] = field(default_factory=list)


def _seconds(summary: RunSummary, name: str) -> tuple[str, float | None, str]:
    for step in summary.steps:
        if step.name == name:
            seconds = step.ended_at - step.started_at if step.started_at and step.ended_at else None
            return step.status, seconds, step_verdict(step)
    return "absent", None, "not in this run"


def compare_runs(a_dir: Path, b_dir: Path) -> RunComparison:
    a, b = summarize_run(Path(a_dir)), summarize_run(Path(b_dir))
    comparison = RunComparison(a=a, b=b)
    for key in sorted(set(a.settings) | set(b.settings)):
        va, vb = a.settings.get(key, _MISSING), b.settings.get(key, _MISSING)
        if va != vb:
            comparison.settings_diff.append((key, None if va is _MISSING else va, None if vb is _MISSING else vb))
    names = [s.name for s in a.steps] + [s.name for s in b.steps if s.name not in {x.name for x in a.steps}]
    for name in names:
        sa, ta, va = _seconds(a, name)
        sb, tb, vb = _seconds(b, name)
        comparison.steps.append(StepPair(name, sa, sb, ta, tb, va, vb))
    comparison.verdicts = _verdicts(a, b)
    return comparison


def _verdicts(a: RunSummary, b: RunSummary) -> list[str]:
    out = [f"{a.run_id}: {a.status}", f"{b.run_id}: {b.status}"]
    for label, fa, fb in (
        ("final eval loss", a.final_eval_loss, b.final_eval_loss),
        ("final training loss", a.final_loss, b.final_loss),
    ):
        if fa is None or fb is None:
            continue
        if abs(fa - fb) < 1e-9:
            out.append(f"same {label} ({fa:.4f})")
        else:
            better = a if fa < fb else b
            out.append(f"{better.run_id} has the lower {label}: {min(fa, fb):.4f} against {max(fa, fb):.4f}")
    da, db = a.state.duration_s, b.state.duration_s
    if a.status == b.status == "done" and da is not None and db is not None:
        if format_duration(da) == format_duration(db):  # a difference the clock shown cannot tell
            out.append(f"about as fast ({format_duration(da)} each)")
        else:
            faster, fast, slow = (a, da, db) if da < db else (b, db, da)
            out.append(f"{faster.run_id} was faster: {format_duration(fast)} against {format_duration(slow)}")
    return out


def best_of(rows: list[BranchRow]) -> BranchRow | None:
    """The sweep's best finished branch by the one ranking (engine.runs.sweep_rank.rank_branches: held-out
    loss of the shipped model, then golden score, eval loss, training loss); None while none has finished.
    The app, the model list, the checklist and the comparison use it."""

    ranked = rank_branches(rows)
    return ranked[0].row if ranked and ranked[0].rank == 1 else None


def best_branch(run_dir: Path) -> str | None:
    """The label of a sweep's best finished branch (None while none has finished)."""
    from engine.runs.sweep import compare_branches

    best = best_of(compare_branches(Path(run_dir)))
    return best.label if best else None
