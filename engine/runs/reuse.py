"""Reusing finished work correctly.

Olive's own cache keys a step on the data file's *path*, so after an in-place edit of the JSONL it serves the
old model. olive-lab keys each step on what it really depends on: the data's contents, the step's settings and
its input model (file sizes and modification times for large model files, contents for small ones). A step
is reused only when an earlier run finished it with the same key and its output is still complete; the
output is then hard-linked into the new run (no copy, and it survives removal of the earlier run).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from engine.fs import atomic_dir, file_digest
from engine.runs.state import (
    STOPPED_STEP,
    SUCCEEDED_STEP,
    StepState,
    effective_status,
    iter_runs,
    step_log_path,
)
from engine.steps.logparse import stamped
from engine.steps.spec import CHECKPOINTS, missing_outputs

KEY_VERSION = "1"
SMALL_FILE = 1 << 20  # files under 1 MiB are hashed by content


def fingerprint_model(model: str) -> str:
    """A model's identity: a local folder by its files, anything else (hub id, azureml://) by its name."""
    path = Path(model).expanduser()
    if not path.exists():
        return "id:" + model
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        stat = file.stat()
        rel = file.name if path.is_file() else str(file.relative_to(path))
        digest.update(rel.encode())
        if stat.st_size < SMALL_FILE:
            digest.update(file_digest(file).encode())
        else:
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return "files:" + digest.hexdigest()


def step_key(step: str, settings: dict[str, Any], *, input_key: str, data_key: str | None) -> str:
    payload = {"v": KEY_VERSION, "step": step, "settings": settings, "input": input_key, "data": data_key}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def find_reusable(runs_root: Path, step: str, key: str, *, exclude: str) -> tuple[str, Path] | None:
    """The newest earlier run that finished `step` with `key` and still has its output."""
    for entry in iter_runs(runs_root):
        if entry.state is None or entry.id == exclude:
            continue
        for s in entry.state.steps:
            if s.name == step and s.key == key and s.status in SUCCEEDED_STEP:
                output = entry.dir / step / "output"
                if missing_outputs(step, output) is None:
                    return entry.id, output
    return None


def last_checkpoint(folder: Path) -> Path | None:
    """The newest complete checkpoint in a fine-tune's checkpoints folder (`checkpoint-N` with its trainer
    state, which the trainer writes after the weights and the optimizer state)."""
    found = [
        (int(p.name.removeprefix("checkpoint-")), p)
        for p in folder.glob("checkpoint-*")
        if p.name.removeprefix("checkpoint-").isdigit() and (p / "trainer_state.json").is_file()
    ]
    return max(found)[1] if found else None


def find_checkpoint(runs_root: Path, key: str, *, exclude: str) -> tuple[str, Path] | None:
    """(run id, checkpoint folder): the last checkpoint of the newest run whose fine-tune stopped (failed,
    cancelled or lost) with the same settings, data and input model (`key`)."""
    for entry in iter_runs(runs_root):
        if entry.state is None or entry.id == exclude:
            continue
        lost = effective_status(entry.state) == "lost"
        for s in entry.state.steps:
            if (
                s.name == "finetune"
                and s.checkpoint_key == key
                and (s.status in STOPPED_STEP or (lost and s.status == "running"))
            ):
                found = last_checkpoint(entry.dir / "finetune" / CHECKPOINTS)
                if found is not None:
                    return entry.id, found
    return None


def checkpoint_step(checkpoint: str) -> int:
    """The training step a checkpoint was saved at (`.../checkpoint-40` -> 40)."""
    return int(Path(checkpoint).name.removeprefix("checkpoint-"))


def link_tree(src: Path, dst: Path) -> None:
    """Recreate `src` at `dst` with hard links (copies where links are impossible)."""

    def link(s: str, d: str) -> None:
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)

    with atomic_dir(dst, tmp=dst.with_name(dst.name + ".linking")) as tmp:
        shutil.copytree(src, tmp, copy_function=link, symlinks=True)


def reuse_output(run_dir: Path, step: StepState, from_run: str, output: Path) -> None:
    """Hard-link an earlier run's output of `step` into this run, and say so in the step's log."""

    dest = run_dir / step.name / "output"
    dest.parent.mkdir(parents=True, exist_ok=True)
    link_tree(output, dest)
    with open(step_log_path(run_dir, step.name), "a", encoding="utf-8") as log:
        log.write(
            stamped(
                f"Reused the output of run {from_run} (same settings, data and input model; key {step.key}): {dest}",
                origin="supervisor.py:0:reuse",
            )
            + "\n"
        )
