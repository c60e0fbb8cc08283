"""The one way to write a folder atomically (engine.fs.atomic_dir): whole beside its target, then put in place;
a failed writer leaves the target as it was and nothing beside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.config import build_config
from engine.fs import atomic_dir
from engine.paths import LabPaths
from engine.runs.launch import first_state
from engine.runs.state import read_state
from engine.runs.supervisor_start import hidden_folder, make_run_folder


def _fill(folder: Path, text: str) -> None:
    folder.mkdir()
    (folder / "a.txt").write_text(text)


def test_a_whole_folder_replaces_the_target_and_leaves_nothing_beside_it(tmp_path: Path) -> None:
    target = tmp_path / "out" / "model"  # missing parents are made
    with atomic_dir(target) as tmp:
        assert tmp.parent == target.parent and tmp.name.startswith(".") and not tmp.exists()
        _fill(tmp, "one")
        assert not target.exists()  # nothing is there until the block ends
    assert (target / "a.txt").read_text() == "one"
    with atomic_dir(target) as tmp:
        _fill(tmp, "two")
    assert (target / "a.txt").read_text() == "two"
    assert os.listdir(target.parent) == ["model"]


def test_a_failed_writer_leaves_the_old_folder_and_removes_its_own(tmp_path: Path) -> None:
    target = tmp_path / "model"
    _fill(target, "old")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        _fill(tmp, "half")
        raise RuntimeError("disk full")
    assert (target / "a.txt").read_text() == "old"
    assert os.listdir(tmp_path) == ["model"]


def test_without_replace_an_existing_target_is_refused_and_kept(tmp_path: Path) -> None:
    target = tmp_path / "run"
    _fill(target, "theirs")
    with pytest.raises(FileExistsError), atomic_dir(target, replace=False) as tmp:
        _fill(tmp, "mine")
    assert (target / "a.txt").read_text() == "theirs"
    assert os.listdir(tmp_path) == ["run"]


def test_a_fixed_name_left_by_a_killed_writer_is_cleared_first(tmp_path: Path) -> None:
    target = tmp_path / "model"
    stale = tmp_path / ".model.partial"
    _fill(stale, "stale")
    (stale / "leftover.bin").write_text("x")
    with atomic_dir(target, tmp=stale) as tmp:
        _fill(tmp, "new")
    assert sorted(os.listdir(target)) == ["a.txt"] and not stale.exists()


def test_the_run_folder_is_made_whole_under_its_hidden_name(tmp_path: Path) -> None:
    lab = LabPaths.at(tmp_path / "lab")
    run_dir = lab.run_dir("20260101-000000-abcd")
    request = first_state(lab, run_dir.name, build_config("demo"), [], None)
    make_run_folder(run_dir, request)
    assert read_state(run_dir).id == run_dir.name and (run_dir / "settings.toml").is_file()
    assert os.listdir(lab.runs) == [run_dir.name]  # the hidden `.new-<pid>-<id>` folder is gone
    with pytest.raises(FileExistsError):
        make_run_folder(run_dir, request)
    assert not hidden_folder(run_dir, os.getpid()).exists()
