"""The Markdown report of a run and the comparison of two runs, from hand-written run folders."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.runfolders import finished_run

from engine.runs.compare import compare_runs
from engine.runs.report import ReportError, render_report, write_report


def test_report_holds_status_commands_durations_loss_memory_and_settings(tmp_path: Path) -> None:
    run = finished_run(tmp_path / "runs", fail_step="finetune", reason="RuntimeError: out of memory")
    text = render_report(run)
    assert "- Status: **failed** (RuntimeError: out of memory)" in text
    assert "| finetune | failed | 0:31 | 1 | 1234 | failed: RuntimeError: out of memory |" in text
    assert "| optimize | pending | - | - | - | pending |" in text
    run_id = run.name
    assert f"finetune --method lora -m runs/{run_id}/quantize/output -d runs/{run_id}/data" in text
    assert "- Training loss: first 3.9120, last 2.2100, lowest 2.2100 (4 points, steps 5-20)" in text
    assert "| 20 | 2.4800 |" in text
    assert "- Peak GPU memory: 1234 MiB" in text
    assert "| finetune.lora_r | 8 |" in text


def test_write_report_saves_report_md_and_is_repeatable(tmp_path: Path) -> None:
    run = finished_run(tmp_path / "runs")
    path = write_report(run)
    assert path == run / "report.md"
    first = path.read_text()
    assert write_report(run).read_text() == first
    assert "- Duration: 1:13" in first and "Status: **done**" in first


def test_report_of_a_folder_that_is_not_a_run_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=str(tmp_path)):
        render_report(tmp_path)


def test_compare_lists_changed_settings_step_times_and_verdicts(tmp_path: Path) -> None:
    a = finished_run(tmp_path / "runs", "20251124-100000-a")
    b = finished_run(tmp_path / "runs", "20251124-110000-b", loss_scale=0.9, lora_r=16)
    c = compare_runs(a, b)
    assert c.settings_diff == [("finetune.lora_r", 8, 16)]
    assert [(p.name, p.a_seconds, p.b_seconds) for p in c.steps][2] == ("finetune", 31.0, 31.0)
    assert "20251124-110000-b has the lower final eval loss: 2.2320 against 2.4800" in c.verdicts


def test_compare_says_which_run_was_faster_in_the_one_duration_format(tmp_path: Path) -> None:
    from engine.runs.state import read_state, write_state

    a = finished_run(tmp_path / "runs", "20251124-100000-a")
    b = finished_run(tmp_path / "runs", "20251124-110000-b")
    slow = read_state(b)
    assert slow.started_at is not None
    slow.ended_at = slow.started_at + 3723
    write_state(b, slow)
    assert "20251124-100000-a was faster: 1:13 against 1:02:03" in compare_runs(a, b).verdicts


def test_compare_with_a_failed_run_says_which_failed(tmp_path: Path) -> None:
    a = finished_run(tmp_path / "runs", "20251124-100000-a")
    b = finished_run(tmp_path / "runs", "20251124-110000-b", fail_step="quantize")
    c = compare_runs(a, b)
    assert c.verdicts[:2] == ["20251124-100000-a: done", "20251124-110000-b: failed"]
    optimize = c.steps[-1]
    assert (optimize.a_status, optimize.b_status, optimize.b_seconds) == ("done", "pending", None)
