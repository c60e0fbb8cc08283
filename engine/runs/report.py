"""A run as a Markdown report: what was asked, what ran, how long it took, what came out.

`render_report(run_dir)` is the text (the CLI prints it: `olive-lab runs report ID`); `write_report(run_dir)`
saves it as `<run>/report.md`. Everything comes from the run folder (state, events, settings), so a report
can be written for any run, finished or not, at any time, and two reports of the same run are identical.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.config import APP_SETTINGS
from engine.durations import format_duration
from engine.errors import OliveLabError
from engine.fs import atomic_write_text
from engine.runs.state import STOPPED_STEP, RunFileError, RunState, StepState, read_state
from engine.runs.view import as_seen
from engine.runs.watch import RunDigest
from engine.steps.evaluation import evaluation_table, run_evaluation

REPORT_FILE = "report.md"


class ReportError(OliveLabError):
    """The folder is not a readable run."""


@dataclass
class RunSummary:
    """One run, reduced to what reports and comparisons show."""

    run_dir: Path
    state: RunState
    status: str
    settings: dict[str, Any]  # flattened: "finetune.lora_r" -> 8
    digest: RunDigest
    steps: list[StepState] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        """The run's id; a sweep's branch is named by its label too (its state carries the sweep's id)."""
        return f"{self.state.id} · {self.state.branch}" if self.state.branch else self.state.id

    @property
    def final_loss(self) -> float | None:
        return self.digest.losses[-1][1] if self.digest.losses else None

    @property
    def final_eval_loss(self) -> float | None:
        return self.digest.eval_losses[-1][1] if self.digest.eval_losses else None

    @property
    def peak_vram_mib(self) -> float | None:
        peaks = [s.gpu.peak_vram_mib for s in self.steps if s.gpu.peak_vram_mib is not None]
        return max(peaks) if peaks else None


def summarize_run(run_dir: Path) -> RunSummary:
    run_dir = Path(run_dir)
    try:
        status, state = as_seen(run_dir, read_state(run_dir))
    except RunFileError as exc:
        raise ReportError(exc.message, exc.hint) from None
    return RunSummary(
        run_dir=run_dir,
        state=state,
        status=status,
        settings=flatten(state.config.model_dump(exclude=set(APP_SETTINGS))),
        digest=RunDigest.of_run(run_dir),
        steps=list(state.steps),
    )


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if str(key).startswith("_"):  # the supervisor's own bookkeeping, not a setting
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def step_verdict(step: StepState) -> str:
    if step.status == "done":
        return "ok" + (f", output {step.output}" if step.output else "")
    if step.status == "reused":
        return f"reused from run {step.reused_from}" if step.reused_from else "reused"
    if step.status in STOPPED_STEP:
        return f"{step.status}: {step.reason}" if step.reason else step.status
    return step.status


def render_report(run_dir: Path) -> str:
    """The Markdown report of one run."""
    s = summarize_run(Path(run_dir))
    st = s.state
    out: list[str] = [f"# Run {st.id}", ""]
    out += [
        f"- Status: **{s.status}**" + (f" ({st.reason})" if st.reason else ""),
        f"- Profile: {st.profile}",
        f"- Lab: {st.lab}",
        f"- Started: {_when(st.started_at or st.created_at)}",
        f"- Ended: {_when(st.ended_at)}",
        f"- Duration: {format_duration(st.duration_s if st.ended_at else None) or '-'}",
        "",
        "## Steps",
        "",
        "| Step | Status | Duration | Exit code | Peak VRAM (MiB) | Verdict |",
        "|---|---|---|---|---|---|",
    ]
    for step in s.steps:
        duration = (step.ended_at - step.started_at) if step.started_at and step.ended_at else None
        out.append(
            f"| {step.name} | {step.status} | {format_duration(duration) or '-'} | "
            f"{'-' if step.exit_code is None else step.exit_code} | {_num(step.gpu.peak_vram_mib, 0)} | "
            f"{_cell(step_verdict(step))} |"
        )
    out += ["", "## Commands", ""]
    commands = [step for step in s.steps if step.command]
    if not commands:
        out.append("No step ran a command.")
    for step in commands:
        out += [f"{step.name}:", "", "```sh", shlex.join(step.command), "```", ""]
    out += ["## Loss", ""]
    out += _loss_section(s.digest)
    evaluation = run_evaluation(s.run_dir)
    if evaluation is not None:
        out += ["", "## Evaluation", "", evaluation_table(evaluation, markdown=True)]
    out += ["", "## Memory", ""]
    peak = s.peak_vram_mib
    out.append(f"- Peak GPU memory: {_num(peak, 0)} MiB" if peak is not None else "- Peak GPU memory: not measured")
    for step in s.steps:
        if step.gpu.mean_util_pct is not None:
            out.append(f"- {step.name}: mean GPU use {step.gpu.mean_util_pct:.0f}%")
    notes = [*st.warnings, *s.digest.warnings]
    if notes or s.digest.cache_hits:
        out += ["", "## Notes", ""]
        out += [f"- warning: {_cell(w)}" for w in notes]
        out += [f"- cache: {_cell(c)}" for c in s.digest.cache_hits]
    out += ["", "## Settings", "", "| Setting | Value |", "|---|---|"]
    out += [f"| {key} | {_cell(repr(value))} |" for key, value in sorted(s.settings.items())]
    return "\n".join(out) + "\n"


def _loss_section(digest: RunDigest) -> list[str]:
    losses, evals = digest.losses, digest.eval_losses
    if not losses and not evals:
        return ["No loss was logged."]
    lines: list[str] = []
    if losses:
        values = [v for _, v in losses]
        lines.append(
            f"- Training loss: first {values[0]:.4f}, last {values[-1]:.4f}, lowest {min(values):.4f} "
            f"({len(values)} points, steps {losses[0][0]:g}-{losses[-1][0]:g})"
        )
    if evals:
        lines += ["", "| Train step | Eval loss |", "|---|---|"]
        lines += [f"| {x:g} | {v:.4f} |" for x, v in evals]
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_report(run_dir: Path) -> Path:
    """Write `<run>/report.md` and return its path."""
    run_dir = Path(run_dir)
    text = render_report(run_dir)
    path = run_dir / REPORT_FILE
    return atomic_write_text(path, text, private=True)
