"""The lab's steps as a checklist, read from the newest run folder.

`read_checklist` is plain Python (run in a worker); `Checklist` only draws what it returns.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.markup import escape
from textual.widgets import Static

from engine.paths import LabPaths

if TYPE_CHECKING:
    from engine.runs.state import RunState

ITEMS: tuple[tuple[str, str], ...] = (
    ("dataset", "Dataset checked and split"),
    ("quantize", "Quantize (AWQ, 4-bit)"),
    ("finetune", "Fine-tune (LoRA adapter)"),
    ("optimize", "Optimize (ONNX for onnxruntime-genai)"),
    ("chat", "Chat with the model and its adapter"),
    ("upload", "Upload to Azure ML"),
)

_STEP_STATUS = {
    "done": "done",
    "reused": "done",
    "skipped": "skipped",
    "running": "running",
    "failed": "failed",
    "cancelled": "failed",
    "pending": "todo",
}

MARKS = {
    "done": ("✔", "step-done"),
    "skipped": ("–", "step-skipped"),
    "running": ("▶", "step-next"),
    "next": ("→", "step-next"),
    "failed": ("✘", "step-failed"),
    "todo": ("·", "step-todo"),
}


def _statuses(lab: LabPaths, run_dir: Path, state: RunState) -> tuple[dict[str, str], dict[str, str]]:
    statuses: dict[str, str] = {}
    details: dict[str, str] = {}
    statuses["dataset"] = "done" if (run_dir / "data" / "train.jsonl").exists() else "todo"
    for name, _ in ITEMS[1:]:
        try:
            step = state.step(name)
        except KeyError:
            statuses[name] = "todo"
            continue
        statuses[name] = _STEP_STATUS.get(step.status, "todo")
        if step.reason:
            details[name] = step.reason
    if statuses["chat"] == "todo" and lab.chats.is_dir() and any(lab.chats.iterdir()):
        statuses["chat"] = "done"
    if statuses["dataset"] == "todo" and any(s in ("done", "running") for s in statuses.values()):
        statuses["dataset"] = "done"
    if "running" not in statuses.values():
        for name, _ in ITEMS:
            if statuses[name] == "todo":
                statuses[name] = "next"
                break
    return statuses, details


def read_checklist(lab: LabPaths) -> tuple[str | None, str | None, dict[str, str], dict[str, str]]:
    """(run id, run status, status per item, detail per item) from the newest run; no run -> all todo."""
    if not lab.runs.is_dir() or not any(lab.runs.iterdir()):
        return None, None, _empty(), {}
    from engine.runs.state import effective_status, iter_runs  # pydantic: not needed for an empty lab

    for entry in iter_runs(lab.runs):
        if entry.state is None:
            continue
        statuses, details = _statuses(lab, entry.dir, entry.state)
        return entry.id, effective_status(entry.state), statuses, details
    return None, None, _empty(), {}


def _empty() -> dict[str, str]:
    return {name: ("next" if name == "dataset" else "todo") for name, _ in ITEMS}


class Checklist(Static):
    """The six steps with a mark each: done, running, next, failed or still to do."""

    def show(self, statuses: dict[str, str], details: dict[str, str]) -> None:
        lines = []
        for name, title in ITEMS:
            status = statuses.get(name, "todo")
            mark, _ = MARKS.get(status, MARKS["todo"])
            style = {"done": "$step-done", "next": "b $step-next", "running": "b $step-next"}.get(status, "")
            style = {"failed": "b $step-failed"}.get(status, style)
            line = f"{mark} {title}"
            suffix = f"  ({status})" if status not in ("todo",) else ""
            text = f"[{style}]{line}{suffix}[/]" if style else f"{line}{suffix}"
            lines.append(text)
            if name in details:
                lines.append(f"    [dim]{escape(details[name])}[/dim]")
        self.update("\n".join(lines))
