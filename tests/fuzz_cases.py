"""Generated input for the command line: lab.toml files, JSONL records, arguments and chat prompts, each run
in-process through the command line's entry function and judged the same way (no traceback, an exit status
in {0, 1, 2}, done within its bound, nothing outside the lab changed). The property tests run a few examples;
`./bootstrap.sh bench fuzz` runs many more."""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from hypothesis import strategies as st

from cli import main as cli_main

BOUND_S = 10.0  # one command on generated input
SECTIONS = ["", "[dataset]", "[quantize]", "[finetune]", "[optimize]", "[finetune.env]", "[quantize.env]", "[keys]"]
KEYS = ["profile", "model", "path", "seed", "lora_r", "enabled", "python", "epochs", "learning_rate", "A", "A=B", ""]
ODD_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]) | st.sampled_from(["\x00", "=", "\ufeff", "\n"]),
    max_size=40,
)
VALUES = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.booleans().map(lambda b: str(b).lower()),
    st.floats(allow_nan=True).map(lambda f: repr(f).replace("inf", "inf").replace("nan", "nan")),
    ODD_TEXT.map(json.dumps),
    st.just('"' + "m" * 3000 + '"'),
    st.just("9" * 5000),
    st.lists(st.integers(0, 100), max_size=4).map(str),
)


@st.composite
def lab_tomls(draw: st.DrawFn) -> bytes:
    """A lab.toml: sections and keys olive-lab knows or nearly knows, odd values, at times broken bytes."""
    lines = ['profile = "demo"'] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(0, 6))):
        section = draw(st.sampled_from(SECTIONS))
        if section:
            lines.append(section)
        key = draw(st.sampled_from(KEYS) | ODD_TEXT)
        lines.append(f"{json.dumps(key)} = {draw(VALUES)}")
    text = "\n".join(lines).encode("utf-8", "surrogatepass")
    return (
        draw(st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe"])) + text + draw(st.sampled_from([b"", b"\n", b"\x00"]))
    )


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | ODD_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ODD_TEXT, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def jsonl_files(draw: st.DrawFn) -> bytes:
    """A JSONL file: good records, records of the wrong shape, broken lines, huge numbers, deep nesting."""
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.integers(0, 5))
        if kind == 0:
            lines.append(json.dumps({"prompt": draw(ODD_TEXT), "response": draw(ODD_TEXT)}).encode())
        elif kind == 1:
            lines.append(json.dumps(draw(JSON_VALUES)).encode())
        elif kind == 2:
            lines.append(b'{"prompt": "a", "response": "b", "n": ' + b"9" * draw(st.integers(4000, 20000)) + b"}")
        elif kind == 3:
            depth = draw(st.integers(50, 3000))
            lines.append(b"[" * depth + b"]" * depth)
        else:
            lines.append(draw(st.binary(max_size=60)))
    return draw(st.sampled_from([b"\n", b"\r\n"])).join(lines)


ARG = st.one_of(
    st.sampled_from(["latest", "--json", "--yes", "--seed", "--out", "--limit", "--fields", "--keep", "0", "-1", ".."]),
    ODD_TEXT,
    st.binary(max_size=8).map(lambda b: b.decode("utf-8", "surrogateescape")),
)
COMMANDS = [
    ["dataset", "check"],
    ["dataset", "stats"],
    ["dataset", "split"],
    ["runs", "list"],
    ["runs", "show"],
    ["runs", "rm"],
    ["runs", "report"],
    ["runs", "prune"],
    ["pipeline", "commands"],
]


def arguments() -> st.SearchStrategy[list[str]]:
    return st.tuples(st.sampled_from(COMMANDS), st.lists(ARG, max_size=4)).map(lambda t: [*t[0], *t[1]])


PROMPTS = st.one_of(ODD_TEXT, st.binary(max_size=20).map(lambda b: b.decode("utf-8", "surrogateescape")))


def snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root` (but not under `skip`) with its size and modification time."""
    found = {}
    for folder, dirs, files in os.walk(root):
        if Path(folder) == skip:
            dirs[:] = []
            continue
        for name in files:
            path = Path(folder) / name
            with contextlib.suppress(OSError):
                st_ = path.lstat()
                found[str(path)] = (st_.st_size, st_.st_mtime_ns)
    return found


def run_cli(argv: list[str]) -> tuple[int, str, float]:
    """One command in-process: its exit status (argparse's SystemExit included), its output and its time."""
    out = io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = cli_main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), time.monotonic() - started


def judge(argv: list[str], sandbox: Path, lab: Path) -> None:
    """Run one command and assert the property; AssertionError says which input broke it."""
    before = snapshot(sandbox, lab)
    code, text, took = run_cli(argv)
    assert "Traceback" not in text, (argv, text[-2000:])
    assert code in (0, 1, 2), (argv, code, text[-2000:])
    assert took < BOUND_S, (argv, took)
    assert snapshot(sandbox, lab) == before, (argv, "a file outside the lab changed")


def in_lab(sandbox: Path, make: Callable[[Path], list[str]]) -> None:
    """A fresh lab folder in `sandbox` (emptied first), the command that `make` builds for it, judged."""
    import shutil

    lab = sandbox / "lab"
    shutil.rmtree(lab, ignore_errors=True)
    lab.mkdir()
    here = os.getcwd()
    os.chdir(lab)  # a relative path in the arguments lands in the lab
    try:
        judge([*make(lab), "--lab", str(lab)], sandbox, lab)
    finally:
        os.chdir(here)
