"""`olive-lab export` on a full disk and under the user's umask, through the CLI's entry function."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli import main as cli_main


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (skips where mounting is not permitted)."""
    mnt = tmp_path / "full"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here ({mounted.stderr.decode().strip()})")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_export_to_a_full_disk_says_so_in_one_line_and_leaves_nothing(lab_with_run, small_disk, capsys) -> None:  # type: ignore[no-untyped-def]
    lab, run_dir = lab_with_run
    target = small_disk / "exp"
    code = cli_main(["export", "--run", run_dir.name, "--to", str(target), "--lab", str(lab)])
    err = capsys.readouterr().err
    assert code == 1, err
    first = err.splitlines()[0]
    assert f"{target}: no space left on device, " in first and " MiB free" in first, err
    assert "Errno" not in err and ".partial" not in err and "[(" not in err
    assert os.listdir(small_disk) == []  # the partial folder is removed


def test_export_follows_the_users_umask_not_the_runs_private_modes(lab_with_run) -> None:  # type: ignore[no-untyped-def]
    lab, run_dir = lab_with_run
    for path in (run_dir / "optimize").rglob("*"):  # as the supervisor (umask 077) made them
        path.chmod(0o700 if path.is_dir() else 0o600)
    target = lab / "exported"
    old = os.umask(0o022)
    try:
        assert cli_main(["export", "--run", run_dir.name, "--to", str(target), "--lab", str(lab)]) == 0
    finally:
        os.umask(old)
    modes = {p.relative_to(target).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in [target, *target.rglob("*")]}
    assert modes.pop(".") == 0o755
    assert modes and all(mode == (0o755 if (target / name).is_dir() else 0o644) for name, mode in modes.items()), modes


def test_export_makes_the_folders_above_its_target(lab_with_run) -> None:  # type: ignore[no-untyped-def]
    """The app offers exports/<run>-<branch> in a lab that has no exports/ folder yet."""
    lab, run_dir = lab_with_run
    target = lab / "exports" / f"{run_dir.name}-first"
    assert cli_main(["export", "--run", run_dir.name, "--to", str(target), "--lab", str(lab)]) == 0
    assert (target / "README.md").is_file()


def test_olives_cache_never_leaves_with_the_model(lab_with_run) -> None:  # type: ignore[no-untyped-def]
    """Olive writes `.olive-cache/` (copies of every model it made) into the folder it was started in: a model
    folder where someone ran Olive holds one. Neither an export nor an upload of that folder carries it."""
    from engine.azure.upload import scan_folder

    lab, run_dir = lab_with_run
    output = run_dir / "optimize" / "output"
    cache = output / ".olive-cache" / "default_workflow" / "models"
    cache.mkdir(parents=True)
    (cache / "model.onnx").write_bytes(b"\0" * 64)
    target = lab / "exported"
    assert cli_main(["export", "--run", run_dir.name, "--to", str(target), "--lab", str(lab)]) == 0
    assert (target / "genai_config.json").is_file() and not (target / ".olive-cache").exists()
    sent = [f.rel for f in scan_folder(output).files]
    assert "genai_config.json" in sent and not [rel for rel in sent if ".olive-cache" in rel]


def test_a_lab_moved_to_another_folder_exports_the_model_chat_finds(lab_with_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A run's state names its step outputs by the paths they had; export finds the model where chat does,
    in the run folder as it is now."""
    import shutil

    from engine.paths import LabPaths
    from engine.runs.models import pick_model

    lab, run_dir = lab_with_run
    moved = tmp_path / "moved-lab"
    shutil.move(str(lab), moved)
    model = pick_model(LabPaths.at(moved), run_dir.name).model_dir
    target = tmp_path / "exported"
    assert cli_main(["export", "--run", run_dir.name, "--to", str(target), "--lab", str(moved)]) == 0
    assert sorted(p.name for p in target.iterdir() if p.name != "README.md") == sorted(
        p.name for p in model.iterdir() if not p.name.startswith(".")
    )
