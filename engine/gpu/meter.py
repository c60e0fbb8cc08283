"""What one run step costs on the GPU, what to warn about while it runs, and whether it will fit at all.

The run supervisor calls `StepGpuMeter.sample()` about once a second while a step runs and stores
`summary()` in the step's state; `warnings()` turns a sample into the few lines a user must see (memory
nearly full, disk too small for the step's output); `estimate_step_memory()` and `preflight()` warn before a
step starts when it cannot fit in the free GPU memory or RAM.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from engine.gpu.readings import MIB, Sample
from engine.gpu.sampler import read_host, sample_once

GIB = 1024.0  # MiB per GiB
VRAM_WARN_PCT = 95.0
RAM_FREE_WARN_PCT = 5.0
DISK_MARGIN = 1.5
ENERGY_EVERY_S = 10.0  # the energy counter costs milliseconds a read; power fills in between reads


@dataclass
class _GpuTally:
    util_sum: float = 0.0
    util_count: int = 0
    first_energy: tuple[float, float] | None = None  # (time, mJ)
    last_energy: tuple[float, float] | None = None
    power_j: float = 0.0  # power integrated over time (trapezoids)
    power_j_at_last_energy: float = 0.0
    last_power: tuple[float, float] | None = None  # (time, W)


class StepGpuMeter:
    """Peak VRAM, mean utilisation and energy of one step, from samples taken while it runs.

    Only GPUs on which a process of the run appeared are counted. When the driver lists processes and none
    of the run's ever appeared, the step did not use a GPU and gets no figures; when it cannot list them
    (e.g. a container without host PIDs) every GPU is counted. Peak VRAM is the run's own processes'
    memory where the driver lists it, otherwise the memory used on the counted GPUs. Energy is the
    driver's energy counter, read every `ENERGY_EVERY_S`, plus power integrated since its last reading;
    power alone where the counter is not supported.
    """

    def __init__(self, root_pids: Callable[[], Iterable[int]], lab_dir: str | os.PathLike[str] | None = None) -> None:
        self._root_pids = root_pids
        self._lab_dir = lab_dir
        self._tallies: dict[int, _GpuTally] = {}
        self._lab_gpus: set[int] = set()
        self._peak_lab_mib: float | None = None
        self._peak_device_mib: dict[int, float] = {}
        self._samples = 0
        self._energy_read_at: float | None = None
        self._process_lists_read = False

    def sample(self) -> Sample:
        """Take a sample now, add it to the tally and return it (for `warnings`)."""

        try:
            pids = list(self._root_pids())
        except Exception:  # the step may be between processes; measure the GPUs anyway
            pids = []
        now = time.monotonic()
        energy = self._energy_read_at is None or now - self._energy_read_at >= ENERGY_EVERY_S
        if energy:
            self._energy_read_at = now
        sample = sample_once(self._lab_dir, pids, energy=energy)
        self.add(sample)
        return sample

    def add(self, sample: Sample) -> None:
        """Count a sample taken elsewhere (e.g. by a `Sampler` with the same root pids)."""
        self._samples += 1
        lab_total: float | None = None
        for gpu in sample.gpus:
            if "processes" not in gpu.unavailable:
                self._process_lists_read = True
            tally = self._tallies.setdefault(gpu.index, _GpuTally())
            if any(p.is_lab for p in gpu.processes):
                self._lab_gpus.add(gpu.index)
            lab = gpu.lab_memory_mib
            if lab is not None:
                lab_total = (lab_total or 0.0) + lab
            if gpu.memory_used_mib is not None:
                self._peak_device_mib[gpu.index] = max(self._peak_device_mib.get(gpu.index, 0.0), gpu.memory_used_mib)
            if gpu.util_gpu_pct is not None:
                tally.util_sum += gpu.util_gpu_pct
                tally.util_count += 1
            if gpu.power_w is not None:
                if tally.last_power is not None and sample.time > tally.last_power[0]:
                    span = sample.time - tally.last_power[0]
                    tally.power_j += span * (tally.last_power[1] + gpu.power_w) / 2.0
                tally.last_power = (sample.time, gpu.power_w)
            if gpu.energy_mj is not None:
                tally.first_energy = tally.first_energy or (sample.time, gpu.energy_mj)
                tally.last_energy = (sample.time, gpu.energy_mj)
                tally.power_j_at_last_energy = tally.power_j
        if lab_total is not None:
            self._peak_lab_mib = max(self._peak_lab_mib or 0.0, lab_total)

    def summary(self) -> dict[str, float | int | None]:
        """peak_vram_mib, mean_util_pct, energy_j (None where no GPU was read) and the sample count."""
        counted = self._lab_gpus or set(self._tallies)
        if not self._lab_gpus and self._process_lists_read:
            counted = set()  # the driver lists processes and none of the step's was ever on a GPU: a CPU step
        if not counted:
            return {"peak_vram_mib": None, "mean_util_pct": None, "energy_j": None, "samples": self._samples}
        if self._peak_lab_mib is not None:
            peak: float | None = self._peak_lab_mib
        else:
            peaks = [self._peak_device_mib[i] for i in counted if i in self._peak_device_mib]
            peak = sum(peaks) if peaks else None
        utils = [self._tallies[i] for i in counted if self._tallies[i].util_count]
        mean_util = sum(t.util_sum for t in utils) / sum(t.util_count for t in utils) if utils else None
        energy: float | None = None
        for index in counted:
            tally = self._tallies[index]
            if tally.first_energy and tally.last_energy and tally.last_energy[0] > tally.first_energy[0]:
                counted_j = (tally.last_energy[1] - tally.first_energy[1]) / 1000.0
                joules = counted_j + tally.power_j - tally.power_j_at_last_energy
            elif tally.last_power is not None:
                joules = tally.power_j
            else:
                continue
            energy = (energy or 0.0) + joules
        return {
            "peak_vram_mib": round(peak, 1) if peak is not None else None,
            "mean_util_pct": round(mean_util, 1) if mean_util is not None else None,
            "energy_j": round(energy, 1) if energy is not None else None,
            "samples": self._samples,
        }


def warnings(sample: Sample, lab_dir: str | os.PathLike[str], expected_output_bytes: int = 0) -> list[str]:
    """Lines to show now: a GPU above 95 % memory, host RAM under 5 % free, disk under 1.5x the output."""
    found: list[str] = []
    for gpu in sample.gpus:
        pct = gpu.memory_pct
        if pct is not None and pct > VRAM_WARN_PCT:
            found.append(
                f"GPU {gpu.index} ({gpu.name}): memory {pct:.0f}% full "
                f"({(gpu.memory_used_mib or 0) / GIB:.1f} of {(gpu.memory_total_mib or 0) / GIB:.1f} GiB); "
                "the step may run out of GPU memory"
            )
    host = sample.host
    if host.ram_total_mib and host.ram_free_pct < RAM_FREE_WARN_PCT:
        found.append(
            f"Host RAM: only {host.ram_free_pct:.1f}% free ({host.ram_available_mib / GIB:.1f} of "
            f"{host.ram_total_mib / GIB:.1f} GiB); the system may start swapping or kill the step"
        )
    if expected_output_bytes > 0:
        free_mib = _disk_free_mib(sample, Path(lab_dir))
        need_mib = DISK_MARGIN * expected_output_bytes / MIB
        if free_mib is not None and free_mib < need_mib:
            found.append(
                f"Disk: {free_mib / GIB:.1f} GiB free under {lab_dir}, the step writes about "
                f"{expected_output_bytes / MIB / GIB:.1f} GiB (want {need_mib / GIB:.1f} GiB free, 1.5x)"
            )
    return found


def _disk_free_mib(sample: Sample, lab_dir: Path) -> float | None:

    same = sample.host.disk_path and Path(sample.host.disk_path) == lab_dir.resolve()
    return sample.host.disk_free_mib if same else read_host(lab_dir).disk_free_mib


# Bytes per weight. int4 carries one fp16 scale and a packed zero point per group of 128 weights.
PRECISION_BYTES: dict[str, float] = {
    "fp32": 4.0,
    "fp16": 2.0,
    "bf16": 2.0,
    "int8": 1.0 + 2.0 / 128,
    "int4": 0.5 + 2.5 / 128,
}
_PRECISION_ALIASES = {"float32": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16"}
STEPS = ("quantize", "finetune", "optimize", "chat")


@dataclass
class MemoryEstimate:
    """Rough peak memory of one step, in GiB. `device_gib` is where it computes (GPU, else host RAM)."""

    step: str
    params_billion: float
    precision: str
    weights_gib: float
    activations_gib: float
    optimizer_gib: float
    overhead_gib: float
    device_gib: float
    host_gib: float  # RAM beside the GPU for loading and staging (when the step runs on a GPU)
    notes: list[str] = field(default_factory=list)


def estimate_step_memory(step: str, params_billion: float, precision: str) -> MemoryEstimate:
    """Estimate a step's peak memory from the model size and precision. Deliberately generous.

    Weights take params x bytes per weight: fp32 4, fp16/bf16 2, int8 ~1.02, int4 ~0.52 (packed nibbles
    plus an fp16 scale and zero point per group of 128). On top of that, per step:

    - quantize (AWQ): the model is calibrated in fp16 whatever the target precision, so weights count at
      2 bytes; calibration activations ~10 % of that (at least 0.25 GiB); RAM holds a loading copy.
    - finetune (LoRA): base weights at `precision` (frozen); LoRA adds ~0.5 % of the parameters as
      trainable fp32 weights, each costing 16 bytes (weight 4, gradient 4, two Adam moments 8); activations
      for short sequences ~30 % of the fp16 weight size (at least 0.5 GiB); RAM holds a loading copy.
    - optimize (ONNX model builder): the source model in fp16 and the output at `precision` are both held
      while the builder converts, in RAM and, on a GPU, on the device.
    - chat (onnxruntime-genai): weights at `precision` plus a KV cache ~5 % of the fp16 weights (at
      least 0.1 GiB).

    Every step adds 0.75 GiB for the runtime (CUDA context or the Python/torch process).
    """
    name = step.strip().lower()
    if name not in STEPS:
        raise ValueError(f"unknown step '{step}': expected one of {', '.join(STEPS)}")
    key = _PRECISION_ALIASES.get(precision.strip().lower(), precision.strip().lower())
    if key not in PRECISION_BYTES:
        raise ValueError(f"unknown precision '{precision}': expected one of {', '.join(PRECISION_BYTES)}")
    if not params_billion > 0:
        raise ValueError(f"params_billion must be positive, got {params_billion}")
    params = params_billion * 1e9
    gib = 1024.0**3
    fp16_gib = params * 2.0 / gib
    at_precision_gib = params * PRECISION_BYTES[key] / gib
    overhead = 0.75
    activations = optimizer = 0.0
    notes: list[str] = []
    if name == "quantize":
        weights = fp16_gib
        activations = max(0.25, 0.1 * fp16_gib)
        host = fp16_gib + overhead
        notes.append("AWQ calibrates in fp16; the int4 result is written at the end")
    elif name == "finetune":
        weights = at_precision_gib
        optimizer = 0.005 * params * 16.0 / gib
        activations = max(0.5, 0.3 * fp16_gib)
        host = fp16_gib + overhead
        notes.append("LoRA: ~0.5 % trainable parameters with Adam; longer sequences need more activations")
    elif name == "optimize":
        weights = fp16_gib + at_precision_gib
        host = weights + overhead
        notes.append("the model builder holds the source and the converted weights at once")
    else:
        weights = at_precision_gib
        activations = max(0.1, 0.05 * fp16_gib)
        host = overhead
        notes.append("KV cache grows with max_length")
    device = weights + activations + optimizer + overhead
    return MemoryEstimate(
        step=name,
        params_billion=params_billion,
        precision=key,
        weights_gib=round(weights, 2),
        activations_gib=round(activations, 2),
        optimizer_gib=round(optimizer, 2),
        overhead_gib=overhead,
        device_gib=round(device, 2),
        host_gib=round(host, 2),
        notes=notes,
    )


def preflight(estimate: MemoryEstimate, sample: Sample) -> list[str]:
    """Warnings when the estimated step does not fit in the free GPU memory (or RAM without a GPU)."""
    found: list[str] = []
    ram_free = sample.host.ram_available_mib / GIB
    label = f"{estimate.step} ({estimate.params_billion:g}B parameters, {estimate.precision})"
    readable = [g for g in sample.gpus if g.memory_used_mib is not None and g.memory_total_mib]
    if readable:
        best = max(readable, key=lambda g: (g.memory_total_mib or 0) - (g.memory_used_mib or 0))
        vram_free = ((best.memory_total_mib or 0) - (best.memory_used_mib or 0)) / GIB
        if estimate.device_gib > vram_free:
            found.append(
                f"{label} needs about {estimate.device_gib:.1f} GiB of GPU memory; GPU {best.index} "
                f"({best.name}), the one with most room, has {vram_free:.1f} GiB free"
            )
        if estimate.host_gib > ram_free:
            found.append(
                f"{label} needs about {estimate.host_gib:.1f} GiB of RAM to load the model; "
                f"{ram_free:.1f} GiB is available"
            )
    elif estimate.device_gib > ram_free:
        found.append(
            f"{label} needs about {estimate.device_gib:.1f} GiB of RAM on the CPU (no GPU); "
            f"{ram_free:.1f} GiB is available"
        )
    return found
