"""Input Python refuses and disks that refuse: each case gets a message saying what and where, and the
documented exit status (2 bad input, 1 failure), never a traceback."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli import main as cli_main
from engine.paths import LabPaths
from engine.runs.control import cancel_run
from tests.conftest import olive_lab
from tests.helpers import start

pytestmark = pytest.mark.timeout(60)
DEMO = 'profile = "demo"\n[quantize]\nenabled = false\n'


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli_main(list(argv))
    out = capsys.readouterr()
    text = out.out + out.err
    assert "Traceback" not in text, text
    return code, text


def write_lab(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "lab.toml").write_bytes(text.encode("utf-8"))
    return root


@pytest.mark.parametrize(
    ("toml", "where", "what"),
    [
        ('\ufeffprofile = "demo"\n', "line 1", "byte-order mark"),
        ('profile = "demo"\n[finetune.env]\n"A=B" = "x"\n', "finetune.env", "'A=B'"),
        ('profile = "demo"\n[optimize.env]\nA = "x\\u0000y"\n', "optimize.env", "NUL"),
        ('profile = "demo"\n[quantize.env]\n"A\\u0000" = "x"\n', "quantize.env", "NUL"),
        (f'profile = "demo"\nmodel = "{"m" * 5000}"\n', "field model", "at most 1024 characters"),
        (f'profile = "demo"\n[finetune]\nseed = {"9" * 5000}\n', "lab.toml", "number too long"),
    ],
    ids=["bom", "equals-in-env-name", "nul-in-env-value", "nul-in-env-name", "long-model", "huge-number"],
)
def test_a_lab_toml_python_would_refuse_is_named_with_its_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, where: str, what: str
) -> None:
    lab = write_lab(tmp_path / "lab", toml)
    code, text = run_cli(capsys, "pipeline", "run", "--lab", str(lab))
    assert code == 2 and "lab.toml" in text and where in text and what in text, text


def test_a_record_with_a_huge_integer_is_a_problem_on_its_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "data.jsonl"
    data.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "a", "response": "b", "n": ' + "9" * 100_000 + "}\n")
    code, text = run_cli(capsys, "dataset", "check", str(data), "--lab", str(tmp_path))
    assert code == 1 and "data.jsonl:2" in text and "4300 digits" in text, text


def test_an_argument_that_is_not_utf8_is_refused(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    prompt = b"caf\xe9".decode("utf-8", "surrogateescape")  # what Python makes of a Latin-1 terminal's bytes
    code, text = run_cli(capsys, "chat", "--prompt", prompt, "--lab", str(tmp_path))
    assert code == 2 and "argument 3 (the value of --prompt) is not UTF-8" in text, text


@pytest.mark.parametrize("seed", ["99999999999999999999999", "-1", "2147483648"])
def test_an_out_of_range_seed_is_refused_with_its_flag(tmp_path: Path, capsys, seed: str) -> None:  # type: ignore[no-untyped-def]
    for argv in (["chat", "--prompt", "hi"], ["dataset", "split", "--out", str(tmp_path / "o")]):
        with pytest.raises(SystemExit) as stopped:
            cli_main([*argv, "--seed", seed, "--lab", str(tmp_path)])
        text = capsys.readouterr().err
        assert stopped.value.code == 2 and "--seed" in text and "out of range" in text, text
    assert not (tmp_path / "o").exists()


def test_split_onto_a_file_or_an_unwritable_place_is_refused(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    taken = tmp_path / "taken"
    taken.write_text("mine\n")
    code, text = run_cli(capsys, "dataset", "split", "--out", str(taken), "--lab", str(tmp_path))
    assert code == 2 and f"--out {taken}: is a file, not a folder" in text, text
    assert taken.read_text() == "mine\n"
    code, text = run_cli(capsys, "dataset", "split", "--out", "/proc/olive-lab-split", "--lab", str(tmp_path))
    assert code == 1 and "/proc/olive-lab-split" in text, text


def test_a_missing_quantize_python_fails_the_preflight(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    lab = write_lab(tmp_path / "lab", 'profile = "demo"\n[quantize]\nenabled = true\npython = "/nowhere/python3"\n')
    code, text = run_cli(capsys, "pipeline", "run", "--lab", str(lab))
    assert code == 2 and "quantize.python: '/nowhere/python3' not found" in text, text
    assert not (lab / "runs").exists() or not any((lab / "runs").iterdir())


def test_a_full_disk_at_the_first_state_write_leaves_no_run_behind(fake_olive_lab: Path) -> None:
    proc = olive_lab(
        "pipeline", "run", "--detach", lab=fake_olive_lab, env={"OLIVE_LAB_FAULT_ENOSPC_AT": "state:1"}, timeout=60
    )
    assert proc.returncode == 1 and "No space left on device" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not any((fake_olive_lab / "runs").iterdir())  # nothing half-made that would read "starting" forever
    listed = olive_lab("runs", "list", lab=fake_olive_lab, check=True)
    assert "starting" not in listed.stdout


@contextlib.contextmanager
def read_only_view(src: Path, mnt: Path) -> Iterator[Path]:
    """`src` seen through a read-only bind mount at `mnt` (as root, a chmod read-only folder would still be
    writable). Skips the test where mounting is not permitted."""
    mnt.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(src), str(mnt)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a folder here ({mounted.stderr.decode().strip()})")
    try:
        remounted = subprocess.run(["mount", "-o", "remount,bind,ro", str(mnt)], capture_output=True)
        if remounted.returncode != 0:
            pytest.skip(f"cannot remount read-only here ({remounted.stderr.decode().strip()})")
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


@pytest.fixture
def read_only_lab(tmp_path: Path, fake_olive_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A lab holding one ended run and an Olive cache, seen read-only."""
    src = tmp_path / "lab"
    for key, value in fake_olive_env.items():
        monkeypatch.setenv(key, value)
    write_lab(src, DEMO)
    run_dir = start(src)
    cancel_run(LabPaths.at(src), run_dir.name)
    (src / ".olive-cache").mkdir()
    (src / ".olive-cache" / "blob").write_bytes(b"x" * 4096)
    with read_only_view(src, tmp_path / "ro") as mnt:
        yield mnt


def test_a_read_only_lab_gets_a_message_not_a_traceback(read_only_lab: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    run_id = next((read_only_lab / "runs").iterdir()).name
    code, text = run_cli(capsys, "pipeline", "run", "--lab", str(read_only_lab))
    assert code == 2 and f"lab: {read_only_lab} cannot be written" in text, text
    for argv in (["runs", "rm", run_id, "--yes"], ["runs", "report", run_id]):
        code, text = run_cli(capsys, *argv, "--lab", str(read_only_lab))
        assert code == 1 and "Read-only file system" in text and str(read_only_lab) in text, (argv, text)
    assert os.listdir(read_only_lab / "runs") == [run_id]
    code, text = run_cli(capsys, "cache", "clear", "--keep-models", "--lab", str(read_only_lab))
    assert code == 1 and "removed 0 cache folder(s)" in text and "could not remove" in text, text
    assert f"{read_only_lab}/.olive-cache" in text and (read_only_lab / ".olive-cache" / "blob").exists()
    code, text = run_cli(capsys, "doctor", "--quick", "--lab", str(read_only_lab))  # said before any run too
    failed = [line for line in text.splitlines() if line.startswith("FAIL") and "lab folder" in line]
    assert code == 1 and failed and f"{read_only_lab} cannot be written" in failed[0], text


def test_a_copied_run_folder_is_listed_and_shown_under_its_folder_name(fake_olive_lab: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import shutil

    original = start(fake_olive_lab)
    cancel_run(LabPaths.at(fake_olive_lab), original.name)
    copy = original.with_name("20990101-000000-copy")
    shutil.copytree(original, copy)
    shutil.rmtree(original)
    code, text = run_cli(capsys, "runs", "list", "--lab", str(fake_olive_lab))
    assert code == 0 and copy.name in text and original.name not in text, text
    code, text = run_cli(capsys, "runs", "show", copy.name, "--lab", str(fake_olive_lab))
    assert code == 0 and f"run {copy.name}" in text, text
