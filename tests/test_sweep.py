"""Sweeps on this machine: one run folder, one branch per value, branches one after another (or side by side on
slots standing in for GPUs), compared."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from cli import main as cli_main
from engine.config import LabConfig
from engine.runs.state import RunState, StepState, Sweep, branch_dir, read_state, write_state
from tests.conftest import olive_lab
from tests.helpers import LOGS, as_run, fake_lab, only_run


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
        # the section written as in lab.toml was said to "run once, before the branches"
        ("[finetune].lora_r=8,16", "('[finetune]' is not a step; did you mean 'finetune'?)"),
        (
            "finetune.lora_rr=8,16",
            "finetune.lora_rr is not a setting a sweep can change; did you mean 'finetune.lora_r'?",
        ),
    ],
)
def test_a_sweep_that_cannot_be_planned_is_refused_before_any_run(lab: Path, setting: str, expected: str) -> None:
    proc = olive_lab("sweep", "--set", setting, lab=lab)
    assert proc.returncode == 2, proc.stderr
    assert expected in proc.stderr and "Traceback" not in proc.stderr
    assert not (lab / "runs").exists() or not any((lab / "runs").iterdir())


def test_dry_run_prints_each_branch_without_starting_anything(lab: Path) -> None:
    proc = olive_lab("sweep", "--set", "finetune.lora_r=4,16", "--dry-run", lab=lab, check=True)
    assert (
        "# finetune (lora_r-4): this machine" in proc.stdout and "# optimize (lora_r-16): this machine" in proc.stdout
    )
    assert "--lora_r 4 " in proc.stdout and "--lora_r 16 " in proc.stdout
    assert not (lab / "runs").exists()


def test_each_branch_evaluates_its_own_model_where_the_settings_evaluate(lab: Path) -> None:
    """The demo evaluates after optimize: a sweep's branches do too (each its own fine-tune); off, none lists it."""
    proc = olive_lab("sweep", "--set", "finetune.lora_r=4,16", "--dry-run", lab=lab, check=True)
    assert (
        "# evaluate (lora_r-4): this machine" in proc.stdout and "# evaluate (lora_r-16): this machine" in proc.stdout
    )
    (lab / "lab.toml").write_text('profile = "demo"\n[evaluate]\nenabled = false\n')
    off = olive_lab("sweep", "--set", "finetune.lora_r=4,16", "--dry-run", lab=lab, check=True)
    assert "# evaluate" not in off.stdout and "# optimize (lora_r-16): this machine" in off.stdout


def test_a_local_sweep_runs_its_branches_one_after_another_and_compares_them(
    demo_lab, tmp_path, fake_olive_env
) -> None:
    lab = fake_lab(demo_lab, tmp_path)
    env = {**fake_olive_env, "CUDA_VISIBLE_DEVICES": ""}  # no GPU seen (a machine with several would run them at once)
    dry = olive_lab("sweep", "--set", "finetune.lora_r=4,16", "--golden", "0", "--dry-run", "--json", lab=lab, env=env)
    proc = olive_lab("sweep", "--set", "finetune.lora_r=4,16", "--golden", "0", lab=lab, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    sweep = only_run(lab)
    state = read_state(sweep)
    # each value was read once, with its setting's type: the branches take it as recorded
    assert [b.values for b in state.sweep.grid] == [{"finetune.lora_r": 4}, {"finetune.lora_r": 16}]  # type: ignore[union-attr]
    # each branch ran, in its own folder, the commands the dry run printed for it
    for item in as_run(json.loads(dry.stdout), sweep):
        if item["branch"] and item["argv"]:
            assert read_state(sweep / "branches" / item["branch"]).step(item["step"]).command == item["argv"]
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
    lab = fake_lab(demo_lab, tmp_path)
    env = {**fake_olive_env, "FAKE_OLIVE_LOG_AUTO_OPT": str(LOGS / "optimize_fail_torch_export.log")}
    proc = olive_lab("sweep", "--set", "finetune.lora_r=4,16", "--golden", "0", lab=lab, env=env)
    assert proc.returncode == 1
    state = read_state(only_run(lab))
    assert state.status == "failed"
    assert state.reason and state.reason.startswith("2 of 2 branches did not finish")
    assert "lora_r-4: optimize failed" in state.reason and "lora_r-16: optimize failed" in state.reason
    assert "── branch lora_r-16: failed: optimize failed" in proc.stdout


def test_cancelling_a_sweep_cancels_the_branch_that_runs(demo_lab, tmp_path, fake_olive_env) -> None:
    lab = fake_lab(demo_lab, tmp_path)
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


def test_an_optimize_sweep_fine_tunes_once_and_its_branches_reuse_that_model(
    demo_lab, tmp_path, fake_olive_env
) -> None:
    lab = fake_lab(demo_lab, tmp_path)
    dry = olive_lab("sweep", "--set", "optimize.precision=int4,fp32", "--dry-run", lab=lab, check=True).stdout
    assert "# finetune: this machine" in dry and "# finetune (" not in dry  # planned once, before the branches
    proc = olive_lab("sweep", "--set", "optimize.precision=int4,fp32", "--golden", "0", lab=lab, env=fake_olive_env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    sweep = only_run(lab)
    state = read_state(sweep)
    assert [s.name for s in state.steps] == ["prepare", "quantize", "finetune"]
    assert state.step("finetune").status == "done"
    for label in ("precision-int4", "precision-fp32"):
        branch = read_state(sweep / "branches" / label)
        assert branch.status == "done", branch.reason
        assert branch.step("finetune").status == "reused" and branch.step("finetune").reused_from == state.id
        assert not (sweep / "branches" / label / "finetune" / "step.log").exists()  # nothing trained here
        optimize = branch.step("optimize")
        assert optimize.status == "done"
        assert optimize.command[optimize.command.index("--precision") + 1] == label.split("-")[1]


def test_several_set_options_make_a_grid_each_value_checked_strictly(lab: Path) -> None:
    refused = olive_lab("sweep", "--set", "finetune.lora_r=8,16,true", "--dry-run", lab=lab)
    assert refused.returncode == 2 and "--set finetune.lora_r=true: Input should be a valid integer" in refused.stderr
    proc = olive_lab(
        "sweep", "--set", "finetune.lora_r=4,16", "--set", "finetune.lora_alpha=8,32", "--dry-run", lab=lab, check=True
    )
    for r in (4, 16):
        for a in (8, 32):
            assert f"# finetune (lora_r-{r}_lora_alpha-{a}): this machine" in proc.stdout, proc.stdout
    assert proc.stdout.count("# finetune (") == 4
    twice = olive_lab("sweep", "--set", "finetune.lora_r=4,16", "--set", "finetune.lora_r=8,32", "--dry-run", lab=lab)
    assert twice.returncode == 2 and "given twice" in twice.stderr
    assert not (lab / "runs").exists()


def test_a_grid_over_optimize_and_finetune_fine_tunes_in_every_branch() -> None:
    """A grid that changes a finetune setting shares nothing after quantize, whichever setting is named first."""
    from engine.runs.state import shared_steps

    assert shared_steps("optimize.precision") == ("prepare", "quantize", "finetune")
    assert shared_steps("optimize.precision,finetune.lora_r") == ("prepare", "quantize")
    assert shared_steps("finetune.lora_r,optimize.precision") == ("prepare", "quantize")


def test_two_slots_run_two_branches_side_by_side_each_on_its_own_device(demo_lab, tmp_path, fake_olive_env) -> None:
    lab = fake_lab(demo_lab, tmp_path)
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

    lab = fake_lab(demo_lab, tmp_path)
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
    slots = sorted(LabPaths.at(lab).slot_locks.glob("slot-*.lock"))
    assert slots, "no slot lock was taken"
    for slot in slots:
        deadline = time.time() + 10
        while (fd := try_lock(slot)) is None and time.time() < deadline:
            time.sleep(0.2)  # the branch's processes are on their way out
        assert fd is not None, f"{slot.name} is still held after the sweep ended"
        os.close(fd)


def test_a_grid_comparison_keeps_its_columns_under_their_headings() -> None:
    """A grid's setting (`a.x,b.y`) is wider than one setting: every row's figures still sit under their heading."""
    from engine.runs.sweep import BranchRow, sweep_table

    rows = [BranchRow("lora_r-4_learning_rate-0.001", "4,0.001", "done", final_loss=6.75, eval_loss=6.77,
                      duration_s=61, gpu_minutes=1.5, devices="0"),
            BranchRow("lora_r-8_learning_rate-0.002", "8,0.002", "failed", reason="optimize failed")]  # fmt: skip
    lines = sweep_table("finetune.lora_r,finetune.learning_rate", rows).splitlines()
    head, first, second, why = lines[0], lines[2], lines[3], lines[4]
    assert first.index("done") == head.index("status") == second.index("failed") == why.index("optimize failed")
    assert len(first) == len(head) and first.endswith(" 0") and head.endswith("GPUs")
    assert first[head.index("loss") - 4 : head.index("loss") + 4].strip() == "6.7500"


def test_a_branch_waiting_for_a_slot_is_said_to_start_only_after_one_has_ended(fake_olive_lab: Path) -> None:
    """Four branches on two slots: the follower never shows a slot taken twice (the ended branch is said first)."""
    import re

    env = {"OLIVE_LAB_SLOTS": "2", "CUDA_VISIBLE_DEVICES": ""}
    proc = olive_lab("sweep", "--set", "finetune.lora_r=4,8,16,32", "--golden", "0", lab=fake_olive_lab, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    busy: dict[str, str] = {}  # slot -> the branch the follower says runs on it
    for line in proc.stdout.splitlines():
        if m := re.match(r"── branch (\S+): running on slot (\d+) ", line):
            assert m.group(2) not in busy, f"slot {m.group(2)} shown running {busy.get(m.group(2))} and {m.group(1)}"
            busy[m.group(2)] = m.group(1)
        elif m := re.match(r"── branch (\S+): (done|failed|cancelled) ──", line):
            busy = {slot: label for slot, label in busy.items() if label != m.group(1)}
    assert proc.stdout.count(": running on slot ") == 4 and proc.stdout.count(": done ──") == 4


def test_a_sweep_cancelled_during_its_golden_check_is_closed_by_its_own_supervisor_within_five_seconds(
    demo_lab, tmp_path, fake_olive_env
) -> None:
    """The golden check (a child process) is stopped at once: the sweep's supervisor closes the run itself."""
    import psutil

    lab = fake_lab(demo_lab, tmp_path)
    slow = tmp_path / "slow-golden"  # the golden check takes its time: it sleeps before it starts
    slow.mkdir()
    (slow / "sitecustomize.py").write_text(
        "import time\n"
        "if b'engine.steps.golden_check' in open('/proc/self/cmdline', 'rb').read():\n"
        "    time.sleep(300)\n"
    )
    env = {**fake_olive_env, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(slow)}
    olive_lab("sweep", "--set", "finetune.lora_r=4,16", "--golden", "1", "--detach", lab=lab, env=env, check=True)
    sweep = only_run(lab)

    def checking() -> list[psutil.Process]:
        return [
            p
            for p in psutil.process_iter(["cmdline"])
            if "engine.steps.golden_check" in " ".join(p.info["cmdline"] or [])
            and str(sweep) in " ".join(p.info["cmdline"] or [])
        ]

    deadline = time.time() + 120
    while time.time() < deadline and not checking():
        time.sleep(0.2)
    assert checking(), "the golden check never started"
    started = time.time()
    olive_lab("runs", "cancel", lab=lab, check=True)
    while time.time() - started < 10 and not read_state(sweep).finished:
        time.sleep(0.05)
    took = time.time() - started
    state = read_state(sweep)
    assert state.status == "cancelled" and state.reason == "cancelled by the user", (state.status, state.reason)
    assert took < 5 + 3, took  # the command line's own start-up on top of the 5 s
    time.sleep(1)
    assert not checking(), "the golden check outlived the cancel"


def test_killing_a_sweeps_supervisor_ends_its_branches_and_their_steps(fake_olive_lab: Path, monkeypatch) -> None:
    """Like a step with its supervisor: the running branch ends (its step stopped), the next never starts, and
    every row of the sweep reads as ended."""
    import os
    import signal

    from tests.helpers import fake_olive_alive, wait_until

    env = {"FAKE_OLIVE_HANG": "1", "CUDA_VISIBLE_DEVICES": ""}
    olive_lab("sweep", "--set", "finetune.lora_r=4,16", "--detach", lab=fake_olive_lab, env=env, check=True)
    sweep = only_run(fake_olive_lab)
    first, second = sweep / "branches" / "lora_r-4", sweep / "branches" / "lora_r-16"
    wait_until(lambda: (first / "state.json").exists() and bool(read_state(first).step("finetune").pid),
               what="the first branch's finetune")  # fmt: skip
    os.kill(read_state(sweep).supervisor_pid or 0, signal.SIGKILL)
    wait_until(lambda: read_state(sweep).finished and read_state(first).finished, timeout=15, what="both closed")
    assert read_state(sweep).reason == "supervisor killed by signal 9 (SIGKILL)"
    branch = read_state(first)
    assert branch.status == "failed" and branch.reason == "its sweep's supervisor is gone"
    assert branch.step("finetune").status == "failed" and branch.step("finetune").ended_at is not None
    wait_until(lambda: not fake_olive_alive(), timeout=10, what="no step left")
    time.sleep(2)
    assert not (second / "state.json").exists()  # the next branch never started
    shown = olive_lab("runs", "show", lab=fake_olive_lab, check=False).stdout
    table = shown[shown.rindex("finetune.lora_r") :].splitlines()
    assert table[2].split()[:2] == ["4", "failed"] and table[4].split()[:2] == ["16", "skipped"], shown
    assert "pending" not in shown and "running" not in shown, shown


def test_runs_list_says_a_sweeps_branches_and_how_far_each_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sweep's row counts its branches by status, not only the steps the sweep ran itself."""
    lab = tmp_path / "lab"
    run = lab / "runs" / "20260101-000000-abcd"
    run.mkdir(parents=True)
    sweep = Sweep(setting="finetune.lora_r", values=["8", "16"], branches=["lora_r-8", "lora_r-16"])
    steps = [StepState(name="prepare", status="done"), StepState(name="quantize", status="reused")]
    me = os.getpid()
    write_state(run, RunState(id=run.name, lab=str(lab), profile="demo", config=LabConfig(), status="running",
                              supervisor_pid=me, steps=steps, sweep=sweep))  # fmt: skip
    for label, status in (("lora_r-8", "done"), ("lora_r-16", "running")):
        branch_dir(run, label).mkdir(parents=True)
        write_state(branch_dir(run, label), RunState(id=run.name, lab=str(lab), profile="demo", config=LabConfig(),
                                                     status=status, supervisor_pid=me, branch=label))  # fmt: skip
    assert cli_main(["runs", "list", "--lab", str(lab)]) == 0
    row = capsys.readouterr().out.splitlines()[1]
    assert row.endswith("quantize:reused  sweep of finetune.lora_r: 2 branches (1 done, 1 running)"), row
