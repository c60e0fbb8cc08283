"""Where a local sweep's branches run: the placement against fake GPU inventories (pure functions), and the
settings refused with their names."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.gpu.meter import estimate_step_memory
from engine.gpu.readings import GpuReading
from engine.runs.placement import (
    PlacementError,
    Settings,
    SlotPool,
    branch_need_gib,
    plan_slots,
    read_settings,
    slot_env,
    visible_gpus,
)
from tests.conftest import olive_lab


def gpu(index: int, total_gib: float, used_gib: float = 0.5, name: str = "NVIDIA H100 80GB HBM3") -> GpuReading:
    return GpuReading(index=index, name=name, memory_total_mib=total_gib * 1024, memory_used_mib=used_gib * 1024)


def devices(placement) -> list[str | None]:
    return [slot.devices for slot in placement.slots]


def test_one_gpu_runs_one_branch_at_a_time_by_default() -> None:
    placement = plan_slots([gpu(0, 80)], 9.0, Settings())
    assert devices(placement) == ["0"]
    assert placement.slots[0].where == "GPU 0 (NVIDIA H100 80GB HBM3)"
    assert placement.note.startswith("1 at a time on 1 GPU (GPU 0: 1)")


def test_two_gpus_of_different_memory_hold_as_many_branches_as_each_has_room_for() -> None:
    # 24 GiB: 0.9 x 23.5 GiB free holds two 9 GiB branches; 80 GiB holds eight, capped at four per GPU
    placement = plan_slots([gpu(0, 24, name="NVIDIA A10"), gpu(1, 80)], 9.0, Settings(per_gpu=4))
    assert devices(placement) == ["0", "1", "0", "1", "1", "1"]  # round the GPUs first
    assert "6 at a time on 2 GPUs (GPU 0: 2, GPU 1: 4)" in placement.note
    assert "a branch needs about 9.0 GiB" in placement.note


def test_four_gpus_leave_out_the_one_without_room_and_say_so() -> None:
    inventory = [gpu(0, 80), gpu(1, 80, used_gib=75), gpu(2, 40, name="NVIDIA A100-SXM4-40GB"), gpu(3, 80)]
    placement = plan_slots(inventory, 9.0, Settings())
    assert devices(placement) == ["0", "2", "3"]
    assert "left out for want of memory: GPU 1 (5.0 GiB free)" in placement.note


def test_eight_gpus_capped_by_the_slots_setting_spread_over_the_first_gpus() -> None:
    placement = plan_slots([gpu(i, 80) for i in range(8)], 9.0, Settings(slots=3, per_gpu=2))
    assert devices(placement) == ["0", "1", "2"]
    full = plan_slots([gpu(i, 80) for i in range(8)], 9.0, Settings(per_gpu=2))
    assert devices(full) == [str(i) for i in range(8)] * 2


def test_no_gpu_with_room_runs_one_at_a_time_on_the_roomiest() -> None:
    placement = plan_slots([gpu(0, 16, used_gib=12), gpu(1, 16, used_gib=8)], 20.0, Settings(per_gpu=4))
    assert devices(placement) == ["1"]


def test_without_a_memory_estimate_each_gpu_takes_the_asked_number() -> None:
    placement = plan_slots([gpu(0, 80), gpu(1, 80)], None, Settings(per_gpu=2))
    assert devices(placement) == ["0", "1", "0", "1"]
    assert "no memory estimate" in placement.note


def test_a_machine_without_gpu_runs_branches_one_after_another_unless_slots_are_set() -> None:
    alone = plan_slots([], 9.0, Settings())
    assert devices(alone) == [None] and "set OLIVE_LAB_SLOTS=N" in alone.note
    slots = plan_slots([], 9.0, Settings(slots=2))
    assert devices(slots) == ["0", "1"] and "2 slots side by side (OLIVE_LAB_SLOTS=2)" in slots.note


def test_a_branch_process_sees_its_slot_s_gpu_numbered_as_nvml_numbers_it() -> None:
    placement = plan_slots([gpu(0, 80), gpu(1, 80)], 9.0, Settings())
    assert slot_env(placement.slots[1]) == {"CUDA_VISIBLE_DEVICES": "1", "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    assert slot_env(plan_slots([], 9.0, Settings()).slots[0]) == {}  # one at a time: the environment as it is


def test_cuda_visible_devices_limits_the_inventory() -> None:
    inventory = [gpu(i, 80) for i in range(4)]
    assert [g.index for g in visible_gpus(inventory, "1,3")] == [1, 3]
    assert visible_gpus(inventory, "") == []
    assert len(visible_gpus(inventory, None)) == 4
    assert len(visible_gpus(inventory, "GPU-8f2c")) == 4  # UUIDs: kept as the user set them


def test_a_branch_needs_the_larger_of_its_steps_estimates() -> None:
    need = branch_need_gib(3.8, [("finetune", "bfloat16"), ("optimize", "int4")])
    assert need == max(estimate_step_memory("finetune", 3.8, "bf16").device_gib,
                       estimate_step_memory("optimize", 3.8, "int4").device_gib)  # fmt: skip
    assert branch_need_gib(3.8, [("finetune", "fp8-ish")]) is None


def test_a_taken_slot_is_not_handed_out_again_until_its_holder_lets_go(tmp_path: Path) -> None:
    import os

    pool = SlotPool(tmp_path / "slots", plan_slots([], None, Settings(slots=2)))
    first, second = pool.take(), pool.take()
    assert first and second and (first[0].devices, second[0].devices) == ("0", "1")
    assert pool.take() is None
    os.close(first[1])
    again = pool.take()
    assert again and again[0].devices == "0"
    os.close(again[1])
    os.close(second[1])


@pytest.mark.parametrize(("name", "value"), [("OLIVE_LAB_SLOTS", "two"), ("OLIVE_LAB_BRANCHES_PER_GPU", "0")])
def test_a_bad_setting_is_refused_with_its_name(name: str, value: str) -> None:
    with pytest.raises(PlacementError, match=f"{name}='{value}': give a whole number of at least 1"):
        read_settings({name: value})
    assert read_settings({"OLIVE_LAB_SLOTS": "2"}) == Settings(slots=2, per_gpu=1)


def test_the_sweep_command_refuses_a_bad_slots_setting_before_starting(lab: Path) -> None:
    proc = olive_lab("sweep", "--set", "finetune.lora_r=4,16", lab=lab, env={"OLIVE_LAB_SLOTS": "two"})
    assert proc.returncode == 2, proc.stderr
    assert "OLIVE_LAB_SLOTS='two'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (lab / "runs").exists() or not any((lab / "runs").iterdir())


def test_the_gpu_views_mark_each_running_branch_s_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two branches of a sweep run on two GPUs: `lab_pids` labels their processes by branch, and the sample
    (GPU inventory faked at the NVML gateway, processes real) marks each GPU process with its branch."""
    import os
    import subprocess
    import sys

    from engine.config import LabConfig
    from engine.gpu import sampler
    from engine.gpu.nvml import NVML
    from engine.gpu.readings import GpuProcess
    from engine.gpu.text import format_sample
    from engine.paths import LabPaths
    from engine.runs.select import lab_pids
    from engine.runs.state import RunState, StepState, Sweep, write_state

    lab = LabPaths.at(tmp_path)
    procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(2)]
    try:
        sweep_dir = lab.runs / "20261206-000000"
        sweep = RunState(
            id=sweep_dir.name,
            lab=str(tmp_path),
            profile="demo",
            config=LabConfig(),
            status="running",
            supervisor_pid=os.getpid(),
            steps=[StepState(name="quantize", status="done")],
            sweep=Sweep(setting="finetune.lora_r", values=["4", "16"], branches=["lora_r-4", "lora_r-16"]),
        )
        write_state(sweep_dir, sweep)
        for proc, label in zip(procs, ("lora_r-4", "lora_r-16"), strict=True):
            branch = sweep.model_copy(
                update={
                    "sweep": None,
                    "branch": label,
                    "devices": label[-1],
                    "steps": [StepState(name="finetune", status="running", pid=proc.pid)],
                }
            )
            write_state(sweep_dir / "branches" / label, branch)
        pids = lab_pids(lab)
        assert pids == {os.getpid(): "", procs[0].pid: "lora_r-4", procs[1].pid: "lora_r-16"}

        on_gpus = [
            GpuReading(
                index=i,
                name="NVIDIA H100 80GB HBM3",
                memory_total_mib=81559.0,
                memory_used_mib=9000.0,
                processes=[GpuProcess(pid=p.pid, used_mib=8500.0)],
            )
            for i, p in enumerate(procs)
        ]
        monkeypatch.setattr(NVML, "read_all", lambda name, energy=False: on_gpus)
        sample = sampler.sample_once(tmp_path, pids)
        assert [(g.processes[0].is_lab, g.processes[0].branch) for g in sample.gpus] == [
            (True, "lora_r-4"),
            (True, "lora_r-16"),
        ]
        text = format_sample(sample)
        assert f"{procs[0].pid:>8}" in text and "lab: lora_r-4" in text and "lab: lora_r-16" in text
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
