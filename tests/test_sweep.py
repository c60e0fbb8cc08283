"""Sweeps on this machine: one run folder, one branch per value, branches one after another (or side by side on
slots standing in for GPUs), compared."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine.runs.state import read_state
from tests.conftest import olive_lab
from tests.test_pipeline import LOGS, _fake_lab, only_run


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("quantize.group_size=32,64", "a sweep changes a finetune or optimize setting"),
        ("finetune.lora_r=8", "at least two different values"),
        ("finetune.lora_r=8,8", "at least two different values"),
        ("finetune.lora_r=8,big", "finetune.lora_r=big: Input should be a valid integer"),
        ("finetune.lora_r=8,0", "finetune.lora_r=0: Input should be greater than or equal to 1"),
        ("finetune.no_such=1,2", "finetune.no_such is not a setting a sweep can change"),
        ("lora_r=8,16", "write SECTION.SETTING=V1,V2"),
    ],
)
def test_a_sweep_that_cannot_be_planned_is_refused_before_any_run(lab: Path, setting: str, expected: str) -> None:
    proc = olive_lab("sweep", "--set", setting, lab=lab)
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr and "Traceback" not in proc.stderr
    assert not (lab / "runs").exists() or not any((lab / "runs").iterdir())


def test_dry_run_prints_each_branch_without_starting_anything(lab: Path) -> None:
    proc = olive_lab("sweep", "--set", "finetune.lora_r=4,16", "--dry-run", lab=lab, check=True)
    assert "# finetune (lora_r-4): this machine" in proc.stdout and "# optimize (lora_r-16): this machine" in proc.stdout
    assert "--lora_r 4 " in proc.stdout and "--lora_r 16 " in proc.stdout
    assert not (lab / "runs").exists()


def test_a_local_sweep_runs_its_branches_one_after_another_and_compares_them(demo_lab, tmp_path, fake_olive_env) -> None:
    lab = _fake_lab(demo_lab, tmp_path)
    env = {**fake_olive_env, "CUDA_VISIBLE_DEVICES": ""}  # no GPU seen (a machine with several would run them at once)
    proc = olive_lab("sweep", "--set", "finetune.lora_r=4,16", "--golden", "0", lab=lab, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    sweep = only_run(lab)
    state = read_state(sweep)
    assert state.status == "done" and [s.name for s in state.steps] == ["prepare", "quantize"]
    first, second = (read_state(sweep / "branches" / label) for label in ("lora_r-4", "lora_r-16"))
    for branch, rank in ((first, "4"), (second, "16")):
        assert branch.status == "done" and branch.branch in ("lora_r-4", "lora_r-16")
        finetune = branch.step("finetune")
        assert finetune.command[finetune.command.index("--lora_r") + 1] == rank
        assert f"lora_r = {rank}" in (sweep / "branches" / branch.branch / "settings.toml").read_text()
    # one after another: the second branch started once the first had ended
    assert second.step("finetune").started_at >= first.step("optimize").ended_at  # type: ignore[operator]
    # the follower said when each branch started and ended; the comparison came last
    assert "── branch lora_r-4: done ──" in proc.stdout and "── branch lora_r-16: done ──" in proc.stdout
    table = proc.stdout[proc.stdout.rindex("finetune.lora_r") :]
    assert table.splitlines()[2].split()[:2] == ["4", "done"] and table.splitlines()[3].split()[:2] == ["16", "done"]
    assert "training loss, one scale for all" in table
    shown = olive_lab("runs", "show", lab=lab, check=True).stdout
    assert "sweep of finetune.lora_r" in shown and "lora_r-16" not in shown.split("sweep of")[0]


def test_failed_branches_fail_the_sweep_with_their_reasons(demo_lab, tmp_path, fake_olive_env) -> None:
    lab = _fake_lab(demo_lab, tmp_path)
    env = {**fake_olive_env, "FAKE_OLIVE_LOG_AUTO_OPT": str(LOGS / "optimize_fail_torch_export.log")}
    proc = olive_lab("sweep", "--set", "finetune.lora_r=4,16", "--golden", "0", lab=lab, env=env)
    assert proc.returncode == 1
    state = read_state(only_run(lab))
    assert state.status == "failed"
    assert state.reason and state.reason.startswith("2 of 2 branches did not finish")
    assert "lora_r-4: optimize failed" in state.reason and "lora_r-16: optimize failed" in state.reason
    assert "── branch lora_r-16: failed: optimize failed" in proc.stdout


def test_cancelling_a_sweep_cancels_the_branch_that_runs(demo_lab, tmp_path, fake_olive_env) -> None:
    lab = _fake_lab(demo_lab, tmp_path)
    env = {**fake_olive_env, "FAKE_OLIVE_HANG": "1", "CUDA_VISIBLE_DEVICES": ""}  # one branch at a time
    olive_lab("sweep", "--set", "finetune.lora_r=4,16", "--detach", lab=lab, env=env, check=True)
    sweep = only_run(lab)
    branch = sweep / "branches" / "lora_r-4"
    deadline = time.time() + 90
    while time.time() < deadline and not ((branch / "state.json").exists() and read_state(branch).step("finetune").pid):
        time.sleep(0.2)
    assert read_state(branch).step("finetune").pid, "the first branch never started its finetune"
    olive_lab("runs", "cancel", lab=lab, check=True)
    deadline = time.time() + 30
    while time.time() < deadline and not read_state(sweep).finished:
        time.sleep(0.2)
    assert read_state(sweep).status == "cancelled"
    assert read_state(branch).status == "cancelled" and read_state(branch).step("finetune").status == "cancelled"
    assert not (sweep / "branches" / "lora_r-16" / "state.json").exists() or read_state(
        sweep / "branches" / "lora_r-16"
    ).step("finetune").status in ("pending", "skipped", "cancelled")


def test_two_slots_run_two_branches_side_by_side_each_on_its_own_device(demo_lab, tmp_path, fake_olive_env) -> None:
    lab = _fake_lab(demo_lab, tmp_path)
    # no GPU seen (CUDA_VISIBLE_DEVICES empty), two CPU slots standing in for GPUs, steps slowed down
    env = {**fake_olive_env, "OLIVE_LAB_SLOTS": "2", "CUDA_VISIBLE_DEVICES": "", "FAKE_OLIVE_DELAY": "0.04"}
    proc = olive_lab("sweep", "--set", "finetune.lora_r=4,16", "--golden", "0", lab=lab, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    sweep = only_run(lab)
    first, second = (read_state(sweep / "branches" / label) for label in ("lora_r-4", "lora_r-16"))
    assert first.status == second.status == "done"
    # each branch recorded the device list it was started with: one slot each
    assert sorted([first.devices, second.devices]) == ["0", "1"]  # type: ignore[type-var]
    # side by side: their finetunes ran at the same time
    a, b = first.step("finetune"), second.step("finetune")
    assert a.started_at and a.ended_at and b.started_at and b.ended_at
    assert max(a.started_at, b.started_at) < min(a.ended_at, b.ended_at), "the branches ran one after another"
    # the follower said how they were packed and where each ran; the comparison has their GPU-minutes
    assert "── branches: 2 to run, no GPU: 2 slots side by side (OLIVE_LAB_SLOTS=2) ──" in proc.stdout
    on = f"slot {first.devices} (CUDA_VISIBLE_DEVICES={first.devices})"
    assert f"── branch lora_r-4: running on {on} ──" in proc.stdout
    table = proc.stdout[proc.stdout.rindex("finetune.lora_r") :].splitlines()
    assert table[0].split()[-2:] == ["GPU-min", "GPUs"]
    assert table[2].split()[-1] == first.devices and float(table[2].split()[-2]) > 0


def test_cancelling_a_sweep_cancels_every_branch_running_side_by_side_and_frees_their_slots(
    demo_lab, tmp_path, fake_olive_env
) -> None:
    import os

    from engine.fs import try_lock
    from engine.paths import LabPaths

    lab = _fake_lab(demo_lab, tmp_path)
    env = {**fake_olive_env, "FAKE_OLIVE_HANG": "1", "OLIVE_LAB_SLOTS": "2", "CUDA_VISIBLE_DEVICES": ""}
    olive_lab("sweep", "--set", "finetune.lora_r=4,16,64", "--detach", lab=lab, env=env, check=True)
    sweep = only_run(lab)
    branches = [sweep / "branches" / label for label in ("lora_r-4", "lora_r-16")]

    def started(branch: Path) -> bool:
        return (branch / "state.json").exists() and bool(read_state(branch).step("finetune").pid)

    deadline = time.time() + 90
    while time.time() < deadline and not all(started(b) for b in branches):
        time.sleep(0.2)
    assert all(started(b) for b in branches), "the two branches never ran at the same time"
    assert not started(sweep / "branches" / "lora_r-64")  # the third waits for a slot
    olive_lab("runs", "cancel", lab=lab, check=True)
    deadline = time.time() + 30
    while time.time() < deadline and not read_state(sweep).finished:
        time.sleep(0.2)
    assert read_state(sweep).status == "cancelled"
    for branch in branches:
        assert read_state(branch).status == "cancelled" and read_state(branch).step("finetune").status == "cancelled"
    assert not started(sweep / "branches" / "lora_r-64")
    for slot in sorted(LabPaths.at(lab).slot_locks.glob("slot-*.lock")) or [None]:
        assert slot is not None, "no slot lock was taken"
        deadline = time.time() + 10
        while (fd := try_lock(slot)) is None and time.time() < deadline:
            time.sleep(0.2)  # the branch's processes are on their way out
        assert fd is not None, f"{slot.name} is still held after the sweep ended"
        os.close(fd)
