"""Property: whatever lab.toml, JSONL file, arguments or chat prompt a user gives, olive-lab answers with a
message and an exit status in {0, 1, 2}, within its bound, without a traceback and without changing a file
outside the lab. A few examples here (see tests/fuzz_cases.py); `./bootstrap.sh bench fuzz` runs many more."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tests import fuzz_cases as fz

FEW = settings(
    max_examples=15,
    deadline=None,  # the bound is judged per command (fuzz_cases.BOUND_S) on a loaded machine
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
pytestmark = pytest.mark.timeout(30)


@FEW
@given(toml=fz.lab_tomls())
def test_any_lab_toml_gets_a_message(tmp_path: Path, toml: bytes) -> None:
    def make(lab: Path) -> list[str]:
        (lab / "lab.toml").write_bytes(toml)
        return ["pipeline", "commands"]

    fz.in_lab(tmp_path, make)


@FEW
@given(data=fz.jsonl_files(), command=fz.st.sampled_from(["check", "stats"]))
def test_any_jsonl_file_gets_a_report(tmp_path: Path, data: bytes, command: str) -> None:
    def make(lab: Path) -> list[str]:
        (lab / "data.jsonl").write_bytes(data)
        return ["dataset", command, str(lab / "data.jsonl")]

    fz.in_lab(tmp_path, make)


@FEW
@given(argv=fz.arguments())
def test_any_arguments_get_a_message(tmp_path: Path, argv: list[str]) -> None:
    fz.in_lab(tmp_path, lambda lab: argv)


@settings(FEW, max_examples=8)
@given(prompt=fz.PROMPTS)
def test_any_chat_prompt_gets_a_message(tmp_path: Path, prompt: str) -> None:
    fz.in_lab(tmp_path, lambda lab: ["chat", "--prompt", prompt])
