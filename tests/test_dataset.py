"""The dataset checks a user meets before training: exact lines and fields, huge files, splits, templates."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from engine.config import build_config
from engine.data.browse import DatasetStats, JsonlIndex, compute_stats, search
from engine.data.lines import Problem
from engine.data.records import (
    DatasetError,
    check_dataset,
    load_records,
    render,
    template_fields,
    template_warnings,
    validate_template,
)
from engine.data.split import eval_indices, write_split
from engine.errors import OliveLabError
from engine.paths import BUNDLED_DATASET, PROJECT_ROOT

FIELDS = ("prompt", "response")
GOOD = b'{"prompt": "Where is the station?", "response": "Two streets north."}\n'


def write(tmp_path: Path, data: bytes, name: str = "travel.jsonl") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def found(report) -> list[tuple[int, str | None, str]]:
    return [(p.line, p.field, p.message) for p in report.problems]


# ---------------------------------------------------------------- the bundled set


def test_bundled_set_is_clean_and_large_enough() -> None:
    report = check_dataset(BUNDLED_DATASET, FIELDS)
    assert report.ok and report.problems == [] and report.notes == []
    assert report.records >= 300
    stats = compute_stats(BUNDLED_DATASET, FIELDS)
    assert stats.duplicates == 0 and stats.empty_fields == 0
    prompts = [r.data["prompt"] for r in load_records(BUNDLED_DATASET, FIELDS)]
    assert len(set(prompts)) > 0.9 * len(prompts)  # varied questions, not one question many times


def test_bundled_set_is_rebuilt_identically(tmp_path: Path) -> None:
    script = PROJECT_ROOT / "scripts" / "make_travel_data.py"
    code = f"import runpy, pathlib; m = runpy.run_path({str(script)!r}); print(len(m['build']()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) == check_dataset(BUNDLED_DATASET, FIELDS).records


# ---------------------------------------------------------------- bad lines: exact line, field and message


def test_every_kind_of_bad_line_is_named_by_line_and_field(tmp_path: Path) -> None:
    lines = [
        GOOD,  # 1
        b"   \n",  # 2 blank: reported, does not block
        b'{"prompt": "a", "response": 5}\n',  # 3
        b'{"prompt": "a" "response": "b"}\n',  # 4
        b"[1, 2]\n",  # 5
        b'{"prompt": "  ", "response": "b"}\n',  # 6
        b'{"response": "b"}\n',  # 7
        b'{"prompt": "caf\xe9", "response": "b"}\n',  # 8: Latin-1, not UTF-8
        b'{"prompt": null, "response": ["x"]}\n',  # 9
        GOOD,  # 10
    ]
    report = check_dataset(write(tmp_path, b"".join(lines)), FIELDS)
    assert found(report) == [
        (2, None, "empty line"),
        (3, "response", "not a string (a number)"),
        (4, None, "not valid JSON: Expecting ',' delimiter (column 16)"),
        (5, None, "is a list, not a JSON object"),
        (6, "prompt", "empty"),
        (7, "prompt", "missing"),
        (8, None, "not UTF-8 text (bad byte at column 16)"),
        (9, "prompt", "not a string (null)"),
        (9, "response", "not a string (a list)"),
    ]
    assert report.records == 2 and report.lines == 10
    assert report.problem_count == 9 and report.blocking_count == 8
    assert not report.ok and not report.fatal
    assert report.field_counts == {"prompt": 5, "response": 6}  # line 8 cannot be read
    err = report.error()
    assert str(err) == "travel.jsonl, line 3, field 'response': not a string (a number) (and 7 more problems)"
    assert (err.line, err.field) == (3, "response")


def test_blank_lines_alone_do_not_block(tmp_path: Path) -> None:
    report = check_dataset(write(tmp_path, GOOD + b"\n" + GOOD), FIELDS)
    assert report.ok and found(report) == [(2, None, "empty line")]


def test_problem_list_is_capped_but_counted(tmp_path: Path) -> None:
    report = check_dataset(write(tmp_path, b"{}\n" * 50), FIELDS, max_problems=5)
    assert len(report.problems) == 5 and report.problem_count == 100 and report.blocking_count == 100


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.jsonl", "does not exist"),
        (lambda p: p, "is a folder, not a file"),
        (lambda p: write(p, b""), "is empty"),
        (
            lambda p: write(p, GOOD + b'{"prompt": "\x00\x01\x02"}\n'),
            "looks like a binary file (NUL byte on line 2)",
        ),
        (lambda p: write(p, '{"prompt": "a"}\n'.encode("utf-16")), "is UTF-16 text; save it as UTF-8"),
    ],
)
def test_unreadable_files_are_fatal_with_a_reason(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path)
    report = check_dataset(path, FIELDS)
    assert report.fatal and report.fatal_message == message and not report.ok
    with pytest.raises(DatasetError, match=re.escape(message)):
        load_records(path, FIELDS)


def test_bom_and_crlf_are_accepted_with_a_note(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf" + GOOD.replace(b"\n", b"\r\n") * 3
    report = check_dataset(write(tmp_path, data), FIELDS)
    assert report.ok and report.records == 3 and report.problems == []
    assert any("byte-order mark" in n for n in report.notes) and any("CRLF" in n for n in report.notes)
    assert report.sha256 == hashlib.sha256(data).hexdigest()
    assert [r.data["prompt"] for r in load_records(tmp_path / "travel.jsonl", FIELDS)] == ["Where is the station?"] * 3


def test_last_line_without_newline_counts(tmp_path: Path) -> None:
    report = check_dataset(write(tmp_path, GOOD + GOOD.rstrip(b"\n")), FIELDS)
    assert report.ok and report.records == 2 and report.lines == 2


def test_a_50_mb_line_is_measured_without_holding_it(tmp_path: Path) -> None:
    huge = b'{"prompt": "' + b"x" * 50_000_000 + b'", "response": "y"}\n'
    path = write(tmp_path, GOOD + huge + GOOD)
    tracemalloc.start()
    try:
        report = check_dataset(path, FIELDS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found(report) == [(2, None, "line 2 is 50.0 MB, longer than the 1 MB limit")]
    assert report.records == 2 and report.lines == 3
    assert report.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert peak < 8_000_000, f"peak {peak / 1e6:.1f} MB while reading a 50 MB line"
    row = JsonlIndex(path).page(1, 1)[0]
    assert row.line_no == 2 and isinstance(row.parsed, Problem) and row.text.endswith("…")


def test_dataset_error_names_file_line_and_field() -> None:
    err = DatasetError("not a string", path="/data/travel.jsonl", line=12, field="response")
    assert str(err) == "travel.jsonl, line 12, field 'response': not a string"
    assert isinstance(err, ValueError) and (err.line, err.field, err.path) == (
        12,
        "response",
        Path("/data/travel.jsonl"),
    )


def test_load_records_keeps_line_numbers(tmp_path: Path) -> None:
    records = load_records(write(tmp_path, GOOD + b"oops\n" + GOOD), FIELDS)
    assert [r.line for r in records] == [1, 3]
    assert records[0].data == {"prompt": "Where is the station?", "response": "Two streets north."}


# ---------------------------------------------------------------- the held-back split


def test_eval_indices_are_seeded_sized_and_stable() -> None:
    assert eval_indices(100, 0.1, 7) == eval_indices(100, 0.1, 7)
    assert eval_indices(100, 0.1, 7) != eval_indices(100, 0.1, 8)
    assert len(eval_indices(365, 0.1, 1)) == 36
    assert len(eval_indices(3, 0.1, 1)) == 1  # at least one when share > 0
    assert eval_indices(1, 0.5, 1) == set() and eval_indices(50, 0.0, 1) == set()
    assert len(eval_indices(2, 0.5, 1)) == 1  # never everything
    assert all(0 <= i < 1000 for i in eval_indices(1000, 0.3, 5))
    with pytest.raises(ValueError):
        eval_indices(10, 1.5, 1)


def test_write_split_is_deterministic_and_disjoint(tmp_path: Path) -> None:
    rows = [json.dumps({"prompt": f"q{i}", "response": f"a{i}", "extra": i}) for i in range(40)]
    src = write(tmp_path, ("\n".join(rows) + "\n").encode())
    first = write_split(src, "prompt", "response", 0.25, 99, tmp_path / "one")
    second = write_split(src, "prompt", "response", 0.25, 99, tmp_path / "two")
    assert first.train_path.read_bytes() == second.train_path.read_bytes()
    assert first.validation_path.read_bytes() == second.validation_path.read_bytes()
    train = [json.loads(x) for x in first.train_path.read_text().splitlines()]
    held = [json.loads(x) for x in first.validation_path.read_text().splitlines()]
    assert (len(train), len(held)) == (30, 10) == (first.train_records, first.validation_records)
    assert {r["prompt"] for r in train}.isdisjoint({r["prompt"] for r in held})
    assert len(train) + len(held) == 40 and all(set(r) == {"prompt", "response"} for r in train + held)
    assert first.source_sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    other = write_split(src, "prompt", "response", 0.25, 100, tmp_path / "three")
    assert other.validation_path.read_bytes() != first.validation_path.read_bytes()


def test_write_split_refuses_bad_lines_unless_allowed(tmp_path: Path) -> None:
    src = write(tmp_path, GOOD + b'{"prompt": "x"}\n' + GOOD.replace(b"station", b"museum"))
    with pytest.raises(DatasetError) as exc:
        write_split(src, "prompt", "response", 0.5, 1, tmp_path / "out")
    assert (exc.value.line, exc.value.field) == (2, "response")
    info = write_split(src, "prompt", "response", 0.5, 1, tmp_path / "out", allow_problems=True)
    assert (info.train_records, info.validation_records, info.skipped_lines) == (1, 1, 1)


def test_write_split_needs_two_records_to_hold_one_back(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="at least 2 records"):
        write_split(write(tmp_path, GOOD), "prompt", "response", 0.1, 1, tmp_path / "out")


# ---------------------------------------------------------------- templates, as Olive renders them

TEMPLATE_CASES: list[tuple[str, dict[str, Any]]] = [
    ("<|user|>\n{prompt}<|end|>\n<|assistant|>\n{response}<|end|>", {"prompt": "Hi", "response": "Hello"}),
    ("### Question: {prompt} \\n### Answer: {response}", {"prompt": "Where?", "response": "There."}),
    ("{{literal}} {prompt}\\t{response}", {"prompt": "a", "response": "b"}),
    ("Q: {prompt}\nA: {response}", {"prompt": "Café?", "response": "Oui, très bien.", "extra": 1}),
    ("Frage – {prompt}: {response}", {"prompt": "Wo?", "response": "Da."}),  # non-ASCII in the template
]


def test_render_matches_olive_itself() -> None:
    """Olive's own code path: its --text_template argument type, then its text-generation formatter."""
    code = (
        "import json, sys\n"
        "from olive.common.utils import unescaped_str\n"
        "from olive.data.component.text_generation import get_text\n"
        "cases = json.load(sys.stdin)\n"
        "print(json.dumps([get_text(rec, template=unescaped_str(t)) for t, rec in cases]))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OLIVE_DISABLE_TELEMETRY": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps(TEMPLATE_CASES),
        capture_output=True,
        text=True,
        env=env,
    )
    if out.returncode != 0 and "ModuleNotFoundError" in out.stderr:
        pytest.skip("olive-ai is not installed")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [render(t, rec) for t, rec in TEMPLATE_CASES]


def test_template_fields_and_errors() -> None:
    assert template_fields("<|user|>\\n{prompt} {{x}} {response.upper} {prompt}") == ["prompt", "response"]
    with pytest.raises(DatasetError) as exc:
        validate_template("{prompt} {answer}", {"prompt": 10, "response": 10, "answer": 0})
    assert exc.value.field == "answer" and "'answer'" in str(exc.value)
    with pytest.raises(DatasetError) as exc:
        render("{prompt} {answer}", {"prompt": "a"})
    assert exc.value.field == "answer"
    with pytest.raises(DatasetError, match="positional"):
        template_fields("{} {prompt}")
    with pytest.raises(DatasetError, match="braces"):
        template_fields("{prompt")
    assert validate_template("{prompt} {response}", ["prompt", "response"]) == []
    assert "\\u00e9" in template_warnings("café {prompt}")[0]


# ---------------------------------------------------------------- paging through a million records


@pytest.fixture(scope="module")
def million(tmp_path_factory: pytest.TempPathFactory) -> Path:
    line = b'{"prompt": "Question %d", "response": "Answer %d"}\n'
    path = tmp_path_factory.mktemp("big") / "big.jsonl"
    path.write_bytes(b"".join(line % (i, i) for i in range(1_000_000)))
    return path


def test_first_page_of_a_million_records_is_instant(million: Path) -> None:
    start = time.perf_counter()
    rows = JsonlIndex(million).page(0, 100)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5
    assert [r.line_no for r in rows] == list(range(1, 101))
    assert rows[0].parsed == {"prompt": "Question 0", "response": "Answer 0"}


def test_index_builds_in_the_background_while_pages_are_read(million: Path) -> None:
    index = JsonlIndex(million)
    seen: list[tuple[int, int]] = []
    worker = threading.Thread(
        target=index.build, kwargs={"progress_cb": lambda done, total: seen.append((done, total))}
    )
    worker.start()
    early = index.page(10, 5)  # while the index is being built
    worker.join(timeout=30)
    assert index.complete and index.line_count == 1_000_000
    assert [r.parsed["prompt"] for r in early if isinstance(r.parsed, dict)] == [f"Question {i}" for i in range(10, 15)]
    assert seen[-1] == (million.stat().st_size, million.stat().st_size)
    last = index.page(999_998, 10)
    assert [r.line_no for r in last] == [999_999, 1_000_000]
    assert index.page(1_000_000, 10) == []
    assert search(million, "question 999990", 999_000, index=index) == 999_991


def test_index_build_stops_when_asked(million: Path) -> None:
    stop = threading.Event()
    stop.set()
    index = JsonlIndex(million)
    assert index.build(stop=stop) is False and not index.complete and index.line_count is None
    rows = index.page(500, 2)  # still readable from the file itself
    assert [r.line_no for r in rows] == [501, 502]


def test_page_rows_carry_problems(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + b'{"prompt": 1}\n')
    index = JsonlIndex(path)
    index.build()
    rows = index.page(0, 5)
    assert len(rows) == 2 and rows[1].parsed == Problem(2, "prompt", "not a string (a number)")
    assert rows[1].text == '{"prompt": 1}'


# ---------------------------------------------------------------- statistics and search


class WordTokenizer:
    """A tokenizer-shaped object: one token per word."""

    def encode(self, text: str) -> list[str]:
        return text.split()


def test_stats_report_lengths_duplicates_and_empties(tmp_path: Path) -> None:
    data = (
        b'{"prompt": "ab", "response": "one two three"}\n'
        b'{"prompt": "ab", "response": "one two three"}\n'
        b'{"prompt": "abcd", "response": "x"}\n'
        b'{"prompt": "", "response": "x"}\n'
        b"not json\n"
    )
    updates: list[DatasetStats] = []
    stats = compute_stats(write(tmp_path, data), FIELDS, tokenizer=WordTokenizer(), progress_cb=updates.append)
    assert (stats.records, stats.lines, stats.bad_lines, stats.duplicates, stats.empty_fields) == (
        3,
        5,
        2,
        1,
        1,
    )
    p = stats.chars["prompt"]
    assert (p.min, p.p50, p.max, p.mean and round(p.mean, 2)) == (2, 2, 4, 2.67)
    assert stats.tokens is not None and (stats.tokens["response"].min, stats.tokens["response"].max) == (1, 3)
    assert updates and updates[-1].done and updates[-1].fraction == 1.0


def test_stats_can_be_cancelled(million: Path) -> None:
    stop = threading.Event()
    stop.set()
    stats = compute_stats(million, FIELDS, stop=stop)
    assert stats.cancelled and not stats.done and stats.records == 0


def test_search_is_case_insensitive_and_starts_where_asked(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + b'{"prompt": "Caf\xc3\xa9 hours?", "response": "Eight."}\n' + GOOD)
    assert search(path, "STATION") == 1
    assert search(path, "station", start_line=2) == 3
    assert search(path, "CAFÉ") == 2
    assert search(path, "nowhere") is None


# ---------------------------------------------------------------- the command line


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, cwd=cwd, env=env)


def test_cli_check_exit_codes_and_problem_lines(tmp_path: Path) -> None:
    ok = cli("dataset", "check", str(BUNDLED_DATASET), cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "ok: ready to train" in ok.stdout

    bad = write(tmp_path, GOOD + b'{"prompt": "a", "response": 5}\n')
    out = cli("dataset", "check", str(bad), cwd=tmp_path)
    assert out.returncode == 1
    assert f"{bad}:2: field 'response': not a string (a number)" in out.stdout.splitlines()

    missing = cli("dataset", "check", str(tmp_path / "nope.jsonl"), "--json", cwd=tmp_path)
    assert missing.returncode == 2
    assert json.loads(missing.stdout)["fatal_message"] == "does not exist"

    templ = cli("dataset", "check", str(BUNDLED_DATASET), "--template", "{prompt} {answer}", cwd=tmp_path)
    assert templ.returncode == 1 and "field 'answer'" in templ.stdout and templ.stdout.count("missing") == 0


def test_cli_stats_and_split(tmp_path: Path) -> None:
    stats = cli("dataset", "stats", str(BUNDLED_DATASET), "--json", cwd=tmp_path)
    assert stats.returncode == 0 and json.loads(stats.stdout)["duplicates"] == 0
    split = cli("dataset", "split", str(BUNDLED_DATASET), "--out", str(tmp_path / "s"), "--share", "0.2", cwd=tmp_path)
    assert split.returncode == 0, split.stderr
    held = (tmp_path / "s" / "validation.jsonl").read_text().splitlines()
    assert len(held) == round(check_dataset(BUNDLED_DATASET, FIELDS).records * 0.2)


# ---------------------------------------------------------------- input limits: nesting depth, lone surrogates

DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000 + b"\n"
DEEP_FIELD = b'{"prompt": "a", "response": "b", "meta": ' + b"{" + b'"x": {' * 5000 + b"}" * 5001 + b"}\n"
SURROGATE = b'{"prompt": "caf\\ud800", "response": "b"}\n'


def test_deep_nesting_is_a_problem_on_its_line_not_a_crash(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + DEEP_ARRAY + DEEP_FIELD + GOOD)
    report = check_dataset(path, FIELDS)
    assert found(report) == [
        (2, None, "nested deeper than 100 levels"),
        (3, None, "nested deeper than 100 levels"),
    ]
    assert report.records == 2 and not report.ok
    err = report.error()
    assert isinstance(err, OliveLabError)
    assert str(err) == "travel.jsonl, line 2: nested deeper than 100 levels (and 1 more problem)"
    stats = compute_stats(path, FIELDS)
    assert (stats.records, stats.bad_lines) == (2, 2)
    index = JsonlIndex(path)
    index.build()
    assert [row.parsed for row in index.page(1, 2)] == [
        Problem(2, None, "nested deeper than 100 levels"),
        Problem(3, None, "nested deeper than 100 levels"),
    ]
    with pytest.raises(DatasetError, match="line 2: nested deeper"):
        write_split(path, "prompt", "response", 0.5, 1, tmp_path / "split")


def test_brackets_inside_strings_and_nesting_up_to_the_limit_are_fine(tmp_path: Path) -> None:
    def line(depth: int) -> bytes:  # a record whose "meta" field makes the line `depth` levels deep
        meta = json.loads("[" * (depth - 1) + "]" * (depth - 1))
        return json.dumps({"prompt": "[{" * 500, "response": "ok", "meta": meta}).encode() + b"\n"

    report = check_dataset(write(tmp_path, line(100) + line(101)), FIELDS)
    assert found(report) == [(2, None, "nested deeper than 100 levels")]
    assert report.records == 1


def test_a_lone_surrogate_is_a_problem_on_its_line_and_never_reaches_the_split(tmp_path: Path) -> None:
    pair = b'{"prompt": "smile \\ud83d\\ude00", "response": "b"}\n'  # a proper pair: one character
    escaped = b'{"prompt": "a \\\\ud800 backslash", "response": "b"}\n'  # an escaped backslash, not a surrogate
    path = write(tmp_path, GOOD + SURROGATE + pair + escaped)
    report = check_dataset(path, FIELDS)
    assert found(report) == [(2, "prompt", "holds a lone surrogate escape (like \\ud800), which is not a character")]
    assert report.records == 3
    with pytest.raises(DatasetError, match="line 2, field 'prompt': holds a lone surrogate"):
        write_split(path, "prompt", "response", 0.5, 1, tmp_path / "split")
    info = write_split(path, "prompt", "response", 0.5, 1, tmp_path / "split", allow_problems=True)
    written = (tmp_path / "split" / "train.jsonl").read_text("utf-8") + info.validation_path.read_text("utf-8")
    assert "😀" in written and "caf" not in written
    assert compute_stats(path, FIELDS).bad_lines == 1
    records = load_records(path, FIELDS)
    assert [r.line for r in records] == [1, 3, 4]


def test_cli_refuses_deep_and_surrogate_lines_with_their_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD + DEEP_ARRAY + SURROGATE + GOOD)
    out = cli("dataset", "check", str(path), cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert f"{path}:2: nested deeper than 100 levels" in out.stdout.splitlines()
    assert any(line.startswith(f"{path}:3: field 'prompt': holds a lone surrogate") for line in out.stdout.splitlines())
    stats = cli("dataset", "stats", str(path), "--json", cwd=tmp_path)
    assert stats.returncode == 0 and json.loads(stats.stdout)["bad_lines"] == 2, stats.stderr
    split = cli("dataset", "split", str(path), "--out", str(tmp_path / "s"), cwd=tmp_path)
    assert split.returncode == 1 and "Traceback" not in split.stderr, split.stderr
    assert "line 2: nested deeper than 100 levels" in split.stdout + split.stderr


def test_pipeline_run_refuses_deep_and_surrogate_lines_before_making_a_run(tmp_path: Path) -> None:
    from tests.conftest import olive_lab

    for bad, message in [(DEEP_ARRAY, "line 3: nested deeper than 100 levels"), (SURROGATE, "line 3, field 'prompt'")]:
        lab = tmp_path / f"lab{len(bad)}"
        (lab / "data").mkdir(parents=True)
        (lab / "data" / "set.jsonl").write_bytes(GOOD * 2 + bad + GOOD * 5)
        (lab / "lab.toml").write_text('[dataset]\npath = "data/set.jsonl"\n')
        out = olive_lab("pipeline", "run", lab=lab, timeout=120)
        assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
        assert message in out.stdout + out.stderr
        assert not (lab / "runs").exists() or not any((lab / "runs").iterdir())


# ---------------------------------------------------------------- exact duplicates and the held-back split


def test_a_copy_of_a_held_back_record_is_held_back_with_it_and_the_user_is_told(tmp_path: Path) -> None:
    """Line 21 repeats line 2, which the seeded split holds back: the copy used to land in training, so
    evaluation scored a record the model had trained on, silently."""
    records = [f'{{"prompt": "question {i}", "response": "answer {i}"}}' for i in range(20)]
    path = write(tmp_path, ("\n".join([*records, records[1]]) + "\n").encode())
    out = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    argv = ["--data", str(path), "--fields", "prompt,response", "--eval-share", "0.1", "--seed", "0"]
    step = subprocess.run(
        [sys.executable, "-m", "engine.steps.prepare", *argv, "--output", str(out)],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert step.returncode == 0, step.stdout + step.stderr
    train = set((out / "train.jsonl").read_text().splitlines())
    held = (out / "validation.jsonl").read_text().splitlines()
    assert held and not train & set(held)
    assert json.dumps({"prompt": "question 1", "response": "answer 1"}) in held
    assert "[WARNING]" in step.stdout and "1 record(s) repeat an earlier one exactly" in step.stdout
    checked = cli("dataset", "check", str(path), cwd=tmp_path)
    assert f"{path}: note: 1 record(s) repeat an earlier one exactly (line 21 = line 2)" in checked.stdout
    assert "same side of the evaluation split" in checked.stdout


def test_readme_says_as_many_held_out_demo_records_as_prepare_holds_back(tmp_path: Path) -> None:
    """The README's count of the demo's held-out records is what prepare computes from data/travel.jsonl."""
    data = build_config("demo").dataset
    split = write_split(data.path, data.prompt_field, data.response_field, data.eval_share, data.split_seed, tmp_path)
    readme = (PROJECT_ROOT / "README.md").read_text()
    said = re.search(r"On the demo \((\d+) held-out records", readme)
    assert said is not None and int(said.group(1)) == split.validation_records, (said, split.validation_records)
