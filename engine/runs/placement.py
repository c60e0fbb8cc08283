"""Where a local sweep's branches run: one branch per GPU by default, several on one GPU where the pre-flight's
memory estimate says they fit, and numbered CPU "slots" standing in for GPUs on a machine without one.

`plan_slots` is a pure function of the GPU inventory (readings from the one NVML gateway, engine.gpu.nvml), a
branch's estimated GPU memory and the two settings below. Each branch process gets its slot's GPUs through
`CUDA_VISIBLE_DEVICES` and holds the slot's lock file while it lives, so a slot is free exactly when its lock
can be taken; more branches than slots wait their turn.

Settings (environment variables, read where the sweep starts):
- `OLIVE_LAB_SLOTS=N`: at most N branches at once; on a machine without a GPU, N slots stand in for GPUs
  (each branch gets `CUDA_VISIBLE_DEVICES` = its slot number), so branches run side by side on the CPUs.
- `OLIVE_LAB_BRANCHES_PER_GPU=N`: up to N branches share one GPU where its free memory holds them (default 1).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.config import LabConfig
from engine.errors import OliveLabError
from engine.fs import private_dir, try_lock
from engine.gpu.meter import estimate_step_memory
from engine.gpu.nvml import NVML
from engine.gpu.readings import GpuReading

SLOTS_ENV = "OLIVE_LAB_SLOTS"
PER_GPU_ENV = "OLIVE_LAB_BRANCHES_PER_GPU"
CUDA_ENV = "CUDA_VISIBLE_DEVICES"
MEMORY_USE = 0.9  # the share of a GPU's free memory a packing plans to fill
GIB_MIB = 1024.0


class PlacementError(OliveLabError):
    """A placement setting that cannot be read, and where."""


@dataclass(frozen=True)
class Slot:
    """One place a branch runs: `devices` is its CUDA_VISIBLE_DEVICES (None: left as it is)."""

    index: int
    devices: str | None
    where: str  # "GPU 0 (NVIDIA H100 80GB HBM3)", "slot 1"


@dataclass(frozen=True)
class Placement:
    slots: list[Slot]
    note: str  # how the branches were packed, in one line


@dataclass(frozen=True)
class Settings:
    slots: int | None = None  # OLIVE_LAB_SLOTS
    per_gpu: int = 1  # OLIVE_LAB_BRANCHES_PER_GPU


def read_settings(env: dict[str, str] | None = None) -> Settings:
    """The two placement settings from the environment; a bad value is refused with its name."""
    env = dict(os.environ) if env is None else env

    def number(name: str) -> int | None:
        text = env.get(name, "").strip()
        if not text:
            return None
        if not text.isdigit() or int(text) < 1:
            raise PlacementError(f"{name}={text!r}: give a whole number of at least 1", f"for example {name}=2")
        return int(text)

    return Settings(slots=number(SLOTS_ENV), per_gpu=number(PER_GPU_ENV) or 1)


def slot_env(slot: Slot | None) -> dict[str, str]:
    """The environment that puts a branch's processes on its slot. GPUs are numbered as NVML numbers them (in
    PCI bus order), so CUDA is told to number them the same way (its default puts the fastest first)."""
    if slot is None or slot.devices is None:
        return {}
    return {CUDA_ENV: slot.devices, "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}


def plan_slots(gpus: Sequence[GpuReading], need_gib: float | None, settings: Settings) -> Placement:
    """The slots a sweep's branches run in. One per GPU; up to `settings.per_gpu` on a GPU whose free memory
    holds that many branches of `need_gib` each (None: the estimate is unknown, one per GPU). A GPU without
    room for one branch is left out. `settings.slots` caps the total, or, without a GPU, makes that many
    CPU slots. Slots go round the GPUs, so fewer branches than slots still spread over all of them."""
    if not gpus:
        if settings.slots and settings.slots > 1:
            cpu = [Slot(i, str(i), f"slot {i}") for i in range(settings.slots)]
            return Placement(cpu, f"no GPU: {settings.slots} slots side by side ({SLOTS_ENV}={settings.slots})")
        return Placement(
            [Slot(0, None, "this machine")],
            f"no GPU: branches run one after another (set {SLOTS_ENV}=N to run N side by side)",
        )
    per_gpu: list[tuple[GpuReading, int]] = []
    left_out: list[str] = []
    for gpu in sorted(gpus, key=lambda g: g.index):
        free = _free_gib(gpu)
        if need_gib is not None and free is not None and free * MEMORY_USE < need_gib:
            left_out.append(f"GPU {gpu.index} ({free:.1f} GiB free)")
            continue
        fits = settings.per_gpu if need_gib is None or free is None else int(free * MEMORY_USE // need_gib)
        per_gpu.append((gpu, min(settings.per_gpu, fits)))
    if not per_gpu:  # no GPU has room by the estimate: one at a time on the one with most room
        best = max(gpus, key=lambda g: _free_gib(g) or 0.0)
        per_gpu, left_out = [(best, 1)], []
    slots: list[Slot] = []
    for rank in range(max(n for _, n in per_gpu)):
        for gpu, n in per_gpu:
            if rank < n:
                slots.append(Slot(len(slots), str(gpu.index), f"GPU {gpu.index} ({gpu.name})"))
    if settings.slots:
        slots = slots[: settings.slots]
    counts = {gpu.index: sum(1 for s in slots if s.devices == str(gpu.index)) for gpu, _ in per_gpu}
    used = {i: n for i, n in counts.items() if n}
    packed = ", ".join(f"GPU {i}: {n}" for i, n in used.items())
    note = f"{len(slots)} at a time on {len(used)} GPU{'s' if len(used) != 1 else ''} ({packed})"
    if need_gib is not None:
        note += f"; a branch needs about {need_gib:.1f} GiB of GPU memory"
    if settings.per_gpu > 1 and need_gib is None:
        note += "; no memory estimate, so no GPU was checked for room"
    if left_out:
        note += f"; left out for want of memory: {', '.join(left_out)}"
    return Placement(slots, note)


def _free_gib(gpu: GpuReading) -> float | None:
    if gpu.memory_total_mib is None or gpu.memory_used_mib is None:
        return None
    return (gpu.memory_total_mib - gpu.memory_used_mib) / GIB_MIB


def visible_gpus(readings: Sequence[GpuReading], visible: str | None) -> list[GpuReading]:
    """The GPUs this process may use: all, or those `CUDA_VISIBLE_DEVICES` names by index."""
    if visible is None:
        return list(readings)
    wanted = [part.strip() for part in visible.split(",") if part.strip()]
    if not all(part.isdigit() for part in wanted):  # UUIDs or MIG names: keep them all, as set
        return list(readings)
    return [g for g in readings if str(g.index) in wanted]


def inventory() -> list[GpuReading]:
    """This machine's GPUs as the one NVML gateway reads them (none where NVML is not available)."""

    return visible_gpus(NVML.read_all(lambda _pid: None), os.environ.get(CUDA_ENV))


def branch_need_gib(params_billion: float, precisions: Sequence[tuple[str, str]]) -> float | None:
    """The most GPU memory one branch needs: the pre-flight's estimate for each (step, precision) it runs."""

    try:
        return max(estimate_step_memory(step, params_billion, precision).device_gib for step, precision in precisions)
    except ValueError:  # a precision the estimate does not know: no estimate
        return None


def sweep_placement(configs: Sequence[LabConfig], settings: Settings | None = None) -> Placement:
    """The placement of a local sweep whose branches run with these settings (the lab's profile sizes the
    model, each branch's finetune and optimize precision the estimate)."""
    from engine.runs.preflight import PROFILE_PARAMS_B

    needs = [
        branch_need_gib(
            PROFILE_PARAMS_B.get(c.profile, 3.8),
            [("finetune", c.finetune.torch_dtype), ("optimize", c.optimize.precision)],
        )
        for c in configs
    ]
    need = None if not needs or None in needs else max(n for n in needs if n is not None)
    return plan_slots(inventory(), need, settings or read_settings())


class SlotPool:
    """The slots' lock files (under the lab's private folder): a slot is taken by locking its file."""

    def __init__(self, lock_dir: Path, placement: Placement) -> None:
        self.lock_dir = lock_dir
        self.placement = placement

    def take(self, busy: Collection[int] = ()) -> tuple[Slot, int] | None:
        """A free slot and the descriptor holding its lock (hand it to the branch process, then close it).
        `busy`: slots whose branch has not yet been said to end; they are not taken even when their lock is free
        (a branch's process releases the lock before its end is read), so no slot ever reads as running two."""

        private_dir(self.lock_dir)
        for slot in self.placement.slots:
            if slot.index in busy:
                continue
            fd = try_lock(self.lock_dir / f"slot-{slot.index}.lock")
            if fd is not None:
                return slot, fd
        return None
