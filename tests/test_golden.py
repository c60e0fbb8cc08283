"""The golden check: ROUGE-L scores, bad evaluation files, the report table and `olive-lab chat eval`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from cli import main as cli_main
from engine.chat import ChatError, ChatModel, find_models
from engine.chat.golden import (
    GOLDEN_FILE,
    golden_table,
    load_golden,
    read_records,
    rouge_l,
    run_golden,
    save_golden,
)
from engine.paths import LabPaths


@pytest.fixture
def run_copy(demo_run: Path, tmp_path: Path) -> Path:
    """A writable copy of the demo run's model, data and state (the shared run stays read-only)."""
    run = tmp_path / "lab" / "runs" / demo_run.name
    shutil.copytree(demo_run / "optimize" / "output", run / "optimize" / "output")
    shutil.copytree(demo_run / "data", run / "data")
    shutil.copy(demo_run / "state.json", run / "state.json")
    return run


@pytest.mark.parametrize(
    ("prediction", "reference", "expected"),
    [
        ("the cat sat on the mat", "the cat sat on the mat", 1.0),
        ("the cat sat", "the cat", 0.8),  # LCS 2: precision 2/3, recall 1
        ("the cat is on the mat", "the cat sat on the mat", 5 / 6),  # LCS 5 of 6 words each side
        ("Paris, in SPRING!", "paris in spring", 1.0),  # case and punctuation do not count
        ("mat the on", "on the mat", 1 / 3),  # order matters: LCS 1
        ("nothing alike", "the cat", 0.0),
        ("", "the cat", 0.0),
    ],
)
def test_rouge_l_matches_hand_computed_scores(prediction: str, reference: str, expected: float) -> None:
    assert rouge_l(prediction, reference) == pytest.approx(expected, abs=1e-4)


def test_bad_evaluation_files_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "validation.jsonl"
    path.write_text('{"prompt": "a", "response": "b"}\n\n{"prompt": "c"\n')
    with pytest.raises(ChatError, match=r"validation.jsonl, line 3: not valid JSON"):
        read_records(path)
    path.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "c", "answer": "d"}\n')
    with pytest.raises(ChatError, match=r"line 2, field 'response': missing"):
        read_records(path)
    path.write_text('{"question": "a", "answer": "b"}\n{"question": "c", "answer": "d"}\n')
    pairs = read_records(path, ("question", "answer"))  # the lab's own field names (README's example)
    assert [(r.prompt, r.reference) for r in pairs] == [("a", "b"), ("c", "d")]
    assert len(read_records(path, ("question", "answer"), limit=1)) == 1
    with pytest.raises(ChatError, match="no held-back evaluation data"):
        read_records(tmp_path / "missing.jsonl")


@pytest.mark.pipeline
def test_golden_check_scores_base_and_adapter_and_saves_with_the_run(run_copy: Path, tmp_path: Path) -> None:
    model = ChatModel(find_models(run_copy)[0], lab=LabPaths.at(tmp_path / "lab"), device="cpu")
    data = run_copy / "data" / "validation.jsonl"
    records = read_records(data, limit=4)
    seen: list[tuple[int, int]] = []
    report = run_golden(model, records, data=data, progress=lambda done, total: seen.append((done, total)))
    assert len(report.rows) == 4 and seen[-1] == (4, 4)
    assert report.adapter != "base" and report.run_id == run_copy.name
    for row in report.rows:
        assert 0.0 <= row.base_rouge_l <= 1.0 and 0.0 <= row.adapter_rouge_l <= 1.0
        assert row.reference == next(r.reference for r in records if r.prompt == row.prompt)
    table = golden_table(report, worst=2)
    assert "Golden check: 4 held-back examples" in table
    assert f"{report.adapter_mean:.3f}" in table and f"{report.base_mean:.3f}" in table
    assert "Worst 2 for" in table and table.count("    reference  ") == 2
    worst = report.worst(2)
    assert worst[0].adapter_rouge_l == min(r.adapter_rouge_l for r in report.rows)
    assert worst[0].adapter_rouge_l <= worst[1].adapter_rouge_l
    saved = save_golden(report, run_copy)
    assert saved == run_copy / GOLDEN_FILE
    assert json.loads(saved.read_text())["summary"]["examples"] == 4
    assert load_golden(run_copy) == report


@pytest.mark.pipeline
def test_cli_eval_prints_json_and_writes_golden_json(run_copy: Path, capsys: pytest.CaptureFixture) -> None:
    lab = run_copy.parent.parent
    assert cli_main(["chat", "eval", "--lab", str(lab), "--run", run_copy.name, "--limit", "3", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["examples"] == 3 and len(data["rows"]) == 3 and data["saved"] == str(run_copy / GOLDEN_FILE)
    assert (run_copy / GOLDEN_FILE).is_file()
    assert cli_main(["chat", "eval", "--lab", str(lab), "--limit", "2"]) == 0  # newest finished run
    assert "Worst 2 for" in capsys.readouterr().out
    assert cli_main(["chat", "eval", "--lab", str(lab), "--limit", "0"]) == 2
