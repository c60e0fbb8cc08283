"""The lab's steps as a checklist, read from the newest run folder and a check of the dataset.

`read_checklist` and `dataset_item` are plain Python (run in a worker); `Checklist` only draws what they
return, one selectable line per step: Enter acts on it (the screen decides what that means).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.content import Content
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from engine.data.records import check_dataset
from engine.data.suggest import suggest_fields
from engine.errors import OliveLabError
from engine.paths import LabPaths
from engine.runs.state import (
    UNSTARTED_STEP,
    RunFileError,
    branch_dir,
    effective_status,
    iter_runs,
    read_state,
)
from engine.steps.evaluation import header, run_evaluation, what_each_step_did

if TYPE_CHECKING:
    from engine.config import LabConfig
    from engine.runs.state import RunState

CHECK_MAX_BYTES = 5_000_000
"""Larger sets are checked on the Dataset screen only (a full read would keep the checklist waiting)."""
_CHECKED: dict[tuple[object, ...], Any] = {}  # the last check, by file identity: the checklist reloads often

ITEMS: tuple[tuple[str, str], ...] = (
    ("dataset", "Dataset checked and split"),
    ("quantize", "Quantize (AWQ, 4-bit)"),
    ("finetune", "Fine-tune (LoRA adapter)"),
    ("optimize", "Optimize (ONNX for onnxruntime-genai)"),
    ("chat", "Chat with the model and its adapter"),
    ("upload", "Upload to Azure ML"),
)

STEP_OF_ITEM = {"upload": "register"}
LAB_TOML = "lab.toml"
"""The line shown first, above the steps, while lab.toml cannot be used (its problem is no step's status)."""

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
    for name, _ in ITEMS:
        try:  # the dataset line is the prepare step's: it checks and splits the data
            step = state.step({"dataset": "prepare"}.get(name, STEP_OF_ITEM.get(name, name)))
        except KeyError:
            statuses.setdefault(name, "todo")
            continue
        if name == "upload" and step.status == "skipped":  # registering is off in this run: still to do
            statuses[name] = "todo"
            continue
        if step.status == "cancelled" and step.started_at is None:  # never ran: still to do, not failed
            statuses[name] = "todo"
            continue
        if name == "dataset" and step.status in ("pending", "skipped"):
            continue  # the split of an earlier run may be there
        statuses[name] = _STEP_STATUS.get(step.status, "todo")
        if step.reason:
            details[name] = step.reason
    if state.sweep is not None:
        _sweep_statuses(run_dir, state, statuses, details)
    chats_saved = lab.chats.is_dir() and any(lab.chats.iterdir())
    if statuses["chat"] == "todo" and chats_saved and statuses["optimize"] == "done":  # no model, no chat
        statuses["chat"] = "done"
    if statuses["dataset"] == "todo" and any(s in ("done", "running") for s in statuses.values()):
        statuses["dataset"] = "done"
    if "running" not in statuses.values():
        for name, _ in ITEMS:
            if statuses[name] == "todo":
                statuses[name] = "next"
                break
    return statuses, details


def _sweep_statuses(run_dir: Path, state: RunState, statuses: dict[str, str], details: dict[str, str]) -> None:
    """A sweep's fine-tune and optimize lines: from its branches (done when one has its model, running while one
    runs, failed when all failed), with how many are done and the best one."""
    from engine.runs.compare import best_branch

    assert state.sweep is not None
    branches = []
    for label in state.sweep.branches:
        try:
            branches.append(read_state(branch_dir(run_dir, label)))
        except RunFileError:
            continue  # not made yet
    for name in ("finetune", "optimize"):
        found = [_STEP_STATUS.get(b.step(name).status, "todo") for b in branches if name in [s.name for s in b.steps]]
        if not found:
            continue
        status = "running" if "running" in found else "done" if "done" in found else found[0]
        statuses[name] = status
        done = found.count("done")
        details[name] = f"sweep of {state.sweep.setting}: {done} of {len(state.sweep.branches)} branches done"
    if statuses.get("optimize") == "done" and state.finished:
        best = best_branch(run_dir)
        details["optimize"] += f"; best {best}" if best else ""
    if "finetune" in details:
        details["finetune"] += " (Enter: the branches side by side)"


def read_checklist(lab: LabPaths) -> tuple[str | None, str | None, dict[str, str], dict[str, str]]:
    """(run id, run status, status per item, detail per item) from the newest run; no run -> all todo."""
    upload: tuple[str, str | None] | None = None  # the newest register step that ran, in any run
    for entry in iter_runs(lab.runs):
        state = entry.state
        if state is None:
            continue
        names = [s.name for s in state.steps]
        if "register" in names and upload is None and state.step("register").status not in UNSTARTED_STEP:
            step = state.step("register")
            upload = (_STEP_STATUS.get(step.status, "todo"), step.reason)
        if names == ["register"]:  # an upload run of its own: the pipeline's state is in an earlier run
            continue
        statuses, details = _statuses(lab, entry.dir, state)
        if upload is not None:
            statuses["upload"] = upload[0]
            if upload[1]:
                details["upload"] = upload[1]
        return entry.id, effective_status(state), statuses, details
    return None, None, _empty(), {}


def read_effects(lab: LabPaths) -> tuple[str, list[str]] | None:
    """What each step did, from the newest run with an evaluation (a sweep: its best branch by the one ranking,
    engine.runs.sweep_rank): (where the figures come from, the sample size then each step's line and warning)."""
    if not lab.runs.is_dir():
        return None

    for entry in iter_runs(lab.runs):
        if entry.state is None:
            continue
        folder, source = entry.dir, f"run {entry.id}"
        if entry.state.sweep is not None:
            from engine.runs.compare import best_branch

            try:
                best = best_branch(entry.dir)
            except OliveLabError:  # a branch that cannot be read: this sweep has no figures to show
                continue
            if best is None:
                continue
            folder, source = branch_dir(entry.dir, best), f"sweep {entry.id}, best branch {best}"
        evaluation = run_evaluation(folder)
        if evaluation is not None and evaluation.comparisons:
            return source, [header(evaluation).removeprefix("Evaluation: "), *what_each_step_did(evaluation)]
    return None


def _empty() -> dict[str, str]:
    return {name: ("next" if name == "dataset" else "todo") for name, _ in ITEMS}


def dataset_item(lab: LabPaths, config: LabConfig) -> tuple[str | None, dict[str, str]]:
    """The dataset line's problem (None when the set is fine or too large to check here) and the field
    names the records seem to use instead of the configured ones ({"prompt": "question", ...})."""

    ds = config.dataset
    path = lab.resolve(ds.path)
    try:
        if path.is_file() and path.stat().st_size > CHECK_MAX_BYTES:
            return None, {}
    except OSError:
        pass
    fields = (ds.prompt_field, ds.response_field)
    try:
        stat = path.stat()
        key: tuple[object, ...] = (str(path), stat.st_size, stat.st_mtime_ns, fields)
    except OSError:
        key = (str(path), fields)
    report = _CHECKED.get(key)
    if report is None:
        report = check_dataset(path, fields, max_problems=1)
        _CHECKED.clear()  # only the newest check is worth keeping
        _CHECKED[key] = report
    if report.ok:
        return None, {}
    suggested = suggest_fields(report)
    if report.fatal:
        return f"{ds.path} {report.fatal_message}", {}
    if report.records == 0 and not report.blocking_count:
        return f"{ds.path} holds no records", {}
    first = report.first_blocking
    text = f"{report.blocking_count:,} problem(s), first: {first}" if first else "not usable"
    if suggested:
        pairs = ", ".join(f"{name}_field={value!r}" for name, value in _roles(config, suggested).items())
        text += f"\nEnter sets {pairs}"
    else:
        text += "\nEnter: see every problem on the Dataset screen"
    return text, suggested


def _roles(config: LabConfig, suggested: dict[str, str]) -> dict[str, str]:
    ds = config.dataset
    roles = {ds.prompt_field: "prompt", ds.response_field: "response"}
    return {roles[name]: value for name, value in suggested.items() if name in roles}


class Checklist(OptionList):
    """The six steps with a mark each: done, running, next, failed or still to do; Enter acts on one."""

    def show(self, statuses: dict[str, str], details: dict[str, str]) -> None:
        highlighted = self.highlighted
        options = []
        lines = ((LAB_TOML, LAB_TOML),) if LAB_TOML in statuses else ()
        for name, title in (*lines, *ITEMS):
            status = statuses.get(name, "todo")
            mark, _ = MARKS.get(status, MARKS["todo"])
            style = {"done": "$step-done", "next": "b $step-next", "running": "b $step-next"}.get(status, "")
            style = {"failed": "b $step-failed"}.get(status, style)
            suffix = f"  ({status})" if status not in ("todo",) else ""
            # colour on the mark only: the words stay readable on the highlighted line's background
            words = Content.styled(f" {title}{suffix}", "bold" if status in ("next", "running", "failed") else "")
            text = Content.assemble(Content.styled(mark, style) if style else Content(mark), words)
            if name in details:
                width = self.content_region.width - 2 if self.content_region.width > 30 else 72
                detail = "\n".join(  # wrapped lines keep the detail's indent
                    textwrap.fill(line, width, initial_indent="    ", subsequent_indent="      ")
                    for line in details[name].splitlines()
                )
                text = Content.assemble(text, "\n", Content.styled(detail, "italic"))
            options.append(Option(text, id=name))
        self.set_options(options)
        if options:
            self.highlighted = highlighted if highlighted is not None else 0

    def text(self) -> str:
        """Every line as plain text (for tests and screen readers)."""
        return "\n".join(str(self.get_option_at_index(i).prompt) for i in range(self.option_count))
