"""`olive-lab runs prune` lists what it would remove, asks (or needs --yes), counts runs with a model, and never
removes the newest run with a model. Run folders are compared byte for byte before and after."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from cli import main as cli_main
from engine.config import LabConfig
from engine.runs.state import RunState, Sweep, write_state

# oldest first: four runs that left a model, then a cancelled, a failed run and a sweep (a branch's model)
RUNS = [
    ("20260101-000001", "done", "model"),
    ("20260101-000002", "done", "model"),
    ("20260101-000003", "done", "model"),
    ("20260101-000004", "done", "model"),
    ("20260101-000005", "cancelled", ""),
    ("20260101-000006", "failed", ""),
    ("20260101-000007", "done", "sweep"),
]


def make_lab(root: Path) -> Path:
    for run_id, status, model in RUNS:
        run_dir = root / "runs" / run_id
        run_dir.mkdir(parents=True)
        sweep = (
            Sweep(setting="finetune.lora_r", values=["8", "16"], branches=["lora_r-8"]) if model == "sweep" else None
        )
        write_state(
            run_dir, RunState(id=run_id, lab=str(root), profile="demo", config=LabConfig(), status=status, sweep=sweep)
        )
        (run_dir / "finetune").mkdir()
        (run_dir / "finetune" / "step.log").write_text(f"log of {run_id}\n")
        if model:
            out = run_dir / ("branches/lora_r-8/optimize/output" if model == "sweep" else "optimize/output")
            out.mkdir(parents=True)
            (out / "genai_config.json").write_text("{}")
            (out / "model.onnx").write_bytes(b"onnx " + run_id.encode())
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "runs").rglob("*")) if p.is_file()}


def runs_of(files: dict[str, bytes]) -> set[str]:
    return {name.split("/")[1] for name in files}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def prune(lab: Path, *args: str) -> int:
    return cli_main(["runs", "prune", "--lab", str(lab), *args])


def test_prune_lists_and_refuses_without_a_terminal_or_yes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lab = make_lab(tmp_path)
    before = snapshot(lab)
    assert prune(lab, "--keep", "3") == 1
    out = capsys.readouterr()
    assert "would remove 2 run(s)" in out.out
    assert "20260101-000001" in out.out and "20260101-000002" in out.out and "20260101-000003" not in out.out
    assert "--yes" in out.err
    assert snapshot(lab) == before


def test_prune_asks_and_no_keeps_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(tmp_path)
    before = snapshot(lab)
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))
    assert prune(lab, "--keep", "3") == 1
    assert "remove these 2 run(s)? [y/N]" in capsys.readouterr().out
    assert snapshot(lab) == before
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    assert prune(lab, "--keep", "3") == 0
    after = snapshot(lab)
    assert runs_of(before) - runs_of(after) == {"20260101-000001", "20260101-000002"}
    assert after == {k: v for k, v in before.items() if k.split("/")[1] in runs_of(after)}  # the rest untouched


def test_keep_counts_runs_with_a_model_and_the_newest_one_is_never_pruned(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(tmp_path)
    before = snapshot(lab)
    assert prune(lab, "--keep", "3", "--yes") == 0
    # the three newest runs with a model are the sweep and runs 4 and 3; the cancelled and failed runs are newer
    assert runs_of(snapshot(lab)) == {r for r, _, _ in RUNS[2:]}
    capsys.readouterr()
    assert prune(lab, "--keep", "0", "--yes") == 0
    out = capsys.readouterr().out
    assert "kept 20260101-000007: the newest run with a model" in out
    after = snapshot(lab)
    assert runs_of(after) == {"20260101-000007"}
    assert after == {k: v for k, v in before.items() if k.split("/")[1] == "20260101-000007"}


def test_failed_only_removes_failed_and_cancelled_runs_without_a_model(tmp_path: Path) -> None:
    lab = make_lab(tmp_path)
    assert prune(lab, "--failed-only", "--yes") == 0
    assert runs_of(snapshot(lab)) == {r for r, status, _ in RUNS if status == "done"}
