"""The snapshot of one GPU-and-host reading, as plain dataclasses that round-trip through JSON.

Every reading a device may refuse is optional: `None` means "not available", and the GPU's `unavailable`
map says why (MIG, a container without host PIDs, a driver that does not report it). The screen, the
command line and the run supervisor all read these objects, so they carry no NVML handles and no logic
beyond a few derived figures.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

MIB = 1024 * 1024


@dataclass
class GpuProcess:
    """One process holding memory on a GPU."""

    pid: int
    name: str = ""
    used_mib: float | None = None
    kind: str = "compute"  # "compute" or "graphics"
    is_lab: bool = False  # part of the lab run's own process tree
    branch: str = ""  # part of this sweep branch's process tree (a local sweep runs several at once)


@dataclass
class GpuReading:
    """One GPU at one moment."""

    index: int
    name: str
    uuid: str = ""
    memory_used_mib: float | None = None
    memory_total_mib: float | None = None
    util_gpu_pct: float | None = None
    util_memory_pct: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    clock_sm_mhz: int | None = None
    clock_memory_mhz: int | None = None
    energy_mj: float | None = None  # the driver's running total since it loaded; read only when asked
    processes: list[GpuProcess] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)  # field name -> why it is missing

    @property
    def memory_pct(self) -> float | None:
        if self.memory_used_mib is None or not self.memory_total_mib:
            return None
        return 100.0 * self.memory_used_mib / self.memory_total_mib

    @property
    def lab_memory_mib(self) -> float | None:
        """GPU memory held by the lab's own processes, None where no per-process figure is readable."""
        figures = [p.used_mib for p in self.processes if p.is_lab and p.used_mib is not None]
        return sum(figures) if figures else None

    def why(self, name: str) -> str:
        return self.unavailable.get(name, "not available")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GpuReading:
        values = dict(data)
        values["processes"] = [GpuProcess(**p) for p in values.get("processes", [])]
        return cls(**values)


@dataclass
class HostReading:
    """The host's CPU, memory and the lab folder's disk at one moment."""

    cpu_pct: float
    cpu_count: int
    ram_used_mib: float
    ram_total_mib: float
    ram_available_mib: float
    disk_path: str = ""
    disk_free_mib: float | None = None
    disk_total_mib: float | None = None

    @property
    def ram_free_pct(self) -> float:
        return 100.0 * self.ram_available_mib / self.ram_total_mib if self.ram_total_mib else 0.0


@dataclass
class Sample:
    """Everything read at one moment: the GPUs (possibly none, then `gpu_note` says why) and the host."""

    time: float
    host: HostReading
    gpus: list[GpuReading] = field(default_factory=list)
    gpu_note: str | None = None
    driver_version: str | None = None
    lab_pids: list[int] = field(default_factory=list)  # the root pids the caller asked to mark

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sample:
        values = dict(data)
        values["host"] = HostReading(**values["host"])
        values["gpus"] = [GpuReading.from_dict(g) for g in values.get("gpus", [])]
        return cls(**values)


def load_samples(text: str, source: str = "samples") -> list[Sample]:
    """Read a JSON list of samples (as written by `Sample.to_dict`), naming the bad entry on failure."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{source}: not JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from exc
    if not isinstance(raw, list):
        raise ValueError(f"{source}: expected a JSON list of samples")
    samples = []
    for number, item in enumerate(raw):
        try:
            samples.append(Sample.from_dict(item))
        except (TypeError, KeyError) as exc:
            raise ValueError(f"{source}: sample {number} is malformed: {exc}") from exc
    return samples
