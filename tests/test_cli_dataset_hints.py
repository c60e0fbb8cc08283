"""`olive-lab dataset check`: the verdict counts what it lists, and unset field names are suggested."""

from __future__ import annotations

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
