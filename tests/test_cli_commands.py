"""`olive-lab pipeline commands` prints lines that paste into a shell: no `<id>` or `<demo model>` placeholders."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cli import main as cli_main
from engine.config import LabConfig
from engine.runs.state import RunState, write_state


def commands(lab: Path, capsys: pytest.CaptureFixture[str]) -> str:
    cli_main(["pipeline", "commands", "--lab", str(lab)])
    return capsys.readouterr().out


def test_without_a_run_the_lines_use_a_run_variable_set_first(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = commands(tmp_path, capsys)
    assert "<" not in out.replace("<|", "").replace("|>", "")  # template tokens are not placeholders
    assert out.startswith("RUN=") and '"$RUN"/finetune/output' in out
    assert subprocess.run(["bash", "-n"], input=out, text=True).returncode == 0  # valid shell


def test_with_a_run_the_lines_name_its_folder(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    run_dir = tmp_path / "runs" / "20260101-000000"
    run_dir.mkdir(parents=True)
    write_state(run_dir, RunState(id=run_dir.name, lab=str(tmp_path), profile="demo", config=LabConfig(), status="done"))
    out = commands(tmp_path, capsys)
    assert f"{run_dir}/quantize/output" in out and "$RUN" not in out and "<id>" not in out
