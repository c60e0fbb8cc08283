"""The finetune output's copy of its input model becomes hard links (engine/steps/dedupe.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from engine.steps.dedupe import link_identical, same_contents


def _folder(path: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return path


def _disk_bytes(root: Path) -> int:
    seen, total = set(), 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            st = os.lstat(os.path.join(dirpath, name))
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_size
    return total


def test_identical_files_become_hard_links_to_the_input(tmp_path):
    run = tmp_path / "run"
    weights = os.urandom(300_000)
    source = _folder(
        run / "quantize" / "output",
        {"model.safetensors": weights, "config.json": b"{}", "sub/tokenizer.json": b"tok", "only_here.txt": b"x"},
    )
    copy = run / "finetune" / "output" / "model"
    shutil.copytree(source, copy)
    (copy / "config.json").write_bytes(b'{"changed": 1}')  # differs: stays a copy
    (copy / "only_in_copy.bin").write_bytes(b"y")
    before = _disk_bytes(run)

    done = link_identical(copy, source, within=run)

    assert done.files == 3 and done.bytes == len(weights) + len(b"tok") + len(b"x")
    for name in ("model.safetensors", "sub/tokenizer.json", "only_here.txt"):
        a, b = (copy / name).stat(), (source / name).stat()
        assert (a.st_ino, a.st_nlink, b.st_nlink) == (b.st_ino, 2, 2)
        assert not (copy / name).is_symlink()
    assert (copy / "config.json").read_bytes() == b'{"changed": 1}'
    assert (copy / "config.json").stat().st_nlink == 1
    assert (copy / "only_in_copy.bin").stat().st_nlink == 1
    assert _disk_bytes(run) == before - done.bytes
    assert (copy / "model.safetensors").read_bytes() == weights
    assert not list(copy.rglob(".*"))  # no temporary link left beside a file

    # Removing the input keeps the data for the output (what `runs rm` of an earlier run relies on).
    shutil.rmtree(source)
    assert (copy / "model.safetensors").read_bytes() == weights
    assert (copy / "model.safetensors").stat().st_nlink == 1


def test_a_second_pass_changes_nothing(tmp_path):
    run = tmp_path / "run"
    source = _folder(run / "in", {"w.bin": b"abc" * 1000})
    copy = run / "out"
    shutil.copytree(source, copy)
    assert link_identical(copy, source, within=run).files == 1
    assert link_identical(copy, source, within=run).files == 0
    assert (copy / "w.bin").stat().st_nlink == 2


def test_inputs_outside_the_run_folder_are_never_linked(tmp_path):
    user_model = _folder(tmp_path / "my-model", {"w.bin": b"weights"})
    copy = tmp_path / "run" / "finetune" / "output" / "model"
    shutil.copytree(user_model, copy)
    assert link_identical(copy, user_model, within=tmp_path / "run").files == 0
    assert (copy / "w.bin").stat().st_nlink == 1


def test_symbolic_links_are_left_alone(tmp_path):
    run = tmp_path / "run"
    source = _folder(run / "in", {"w.bin": b"data"})
    copy = run / "out"
    copy.mkdir()
    (copy / "w.bin").symlink_to(source / "w.bin")
    assert link_identical(copy, source, within=run).files == 0
    assert (copy / "w.bin").is_symlink()


def test_same_contents_compares_bytes_not_only_sizes(tmp_path):
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.write_bytes(b"x" * 100 + b"1")
    b.write_bytes(b"x" * 100 + b"2")
    assert not same_contents(a, b)
    b.write_bytes(a.read_bytes())
    assert same_contents(a, b)
