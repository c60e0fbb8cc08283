"""`olive-lab dataset check`: the verdict counts what it lists, and unset field names are suggested."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli import main as cli_main

GOOD = '{"prompt": "p", "response": "r"}'


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    cli_main(["dataset", "check", str(path), "--lab", str(path.parent)])
    return capsys.readouterr().out


def test_the_verdict_says_which_listed_problems_block(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text("\n".join([GOOD] * 5 + ['{"prompt": "p"}'] * 8 + [""] + [GOOD]) + "\n")
    out = check(path, capsys)
    listed = [line for line in out.splitlines() if line.startswith(f"{path}:") and line[len(str(path)) + 1].isdigit()]
    assert len(listed) == 9
    assert "fix 8 problem(s)" in out and "1 more only noted" in out


def test_question_answer_fields_are_suggested(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text("\n".join(f'{{"question": "q{i}", "answer": "a{i}"}}' for i in range(6)) + "\n")
    out = check(path, capsys)
    assert "try --fields question,answer" in out


QA = "\n".join(f'{{"question": "q{i}?", "answer": "answer {i}"}}' for i in range(2)) + "\n"


def test_json_objects_without_the_configured_fields_are_called_json_and_the_settings_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """(A question/answer set was reported as not JSONL.)"""
    path = tmp_path / "qa.jsonl"
    path.write_text(QA)
    out = check(path, capsys)
    assert "2 of 2 lines are JSON objects, but none holds the configured fields 'prompt' and 'response'" in out
    assert "they hold 'question', 'answer'" in out
    assert 'set dataset.prompt_field = "question" and dataset.response_field = "answer"' in out
    assert "not look like JSONL" not in out


def test_stats_of_a_question_answer_set_count_its_own_fields_and_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text(QA)
    code = cli_main(["dataset", "stats", str(path), "--lab", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "none holds the configured fields 'prompt' and 'response'" in out
    assert "the statistics below are of 'question', 'answer'" in out
    assert f"{path}: 2 records, 2 lines, 0 bad lines" in out
    assert any(line.split()[:2] == ["answer", "8"] for line in out.splitlines())  # 'answer 0' is 8 characters
    # with --fields naming the missing fields, nothing is substituted: the reason is given and the status says so
    code = cli_main(["dataset", "stats", str(path), "--fields", "prompt,response", "--lab", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1 and "none holds the configured fields" in out and "0 records" in out


def test_the_counts_and_the_listed_problems_come_from_one_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lab's own check of a question/answer set (the default template names {prompt}) said '2 usable
    records' and `ok: true` beside a blocked verdict."""
    (tmp_path / "qa.jsonl").write_text(QA)
    (tmp_path / "lab.toml").write_text('[dataset]\npath = "qa.jsonl"\n')
    code = cli_main(["dataset", "check", "--lab", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "0 usable records in 2 lines" in out and "fields: 'prompt' in 0, 'response' in 0" in out
    listed = [line for line in out.splitlines() if line.split(":")[1].isdigit()]
    assert len(listed) == 4 and "blocked: no usable records" in out
    cli_main(["dataset", "check", "--lab", str(tmp_path), "--json"])
    data = json.loads(capsys.readouterr().out)
    assert (data["records"], data["ok"], data["problem_count"], len(data["problems"])) == (0, False, 4, 4)
    assert data["suggested_fields"] == {"prompt": "question", "response": "answer"}
