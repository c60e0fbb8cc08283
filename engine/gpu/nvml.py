"""NVML access for the GPU monitor: opened lazily, once, and never raising into the caller.

`pynvml` (the nvidia-ml-py package) is imported on first use only. A machine without the package, the
driver library or a GPU gets an `NvmlStatus` that says which of these is missing; a reading one device
does not support becomes `None` plus a reason in `GpuReading.unavailable`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.gpu.readings import MIB, GpuProcess, GpuReading

NO_GPU_MESSAGE = "No NVIDIA GPU found: monitoring the host only"
SLOW_READINGS_TTL_S = 30.0  # MIG mode (0.14 ms a call on an H100) and the power cap change rarely
# The energy counter is the one expensive reading (3.5 ms median, 18 ms worst on an H100, against
# microseconds for the others), so a sample reads it only when asked to.


@dataclass
class _Slow:
    """Readings that rarely change, kept between samples so a sample makes fewer NVML calls."""

    read_at: float = float("-inf")
    values: dict[str, Any] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NvmlStatus:
    available: bool
    reason: str = ""  # why not, when not available
    driver_version: str | None = None
    device_count: int = 0
    names: tuple[str, ...] = ()


class _Nvml:
    """The process-wide NVML session: initialised on first use, handles cached, failures remembered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._status: NvmlStatus | None = None
        self._module: Any = None
        self._handles: list[Any] = []
        self._slow: list[_Slow] = []

    def status(self) -> NvmlStatus:
        with self._lock:
            if self._status is None:
                self._status = self._open()
            return self._status

    def _open(self) -> NvmlStatus:
        try:
            import pynvml
        except ImportError:
            return NvmlStatus(False, "the nvidia-ml-py package is not installed")
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            return NvmlStatus(False, _init_reason(pynvml, exc))
        except OSError as exc:  # a broken driver library can fail to load at the C level
            return NvmlStatus(False, f"the NVIDIA driver library could not be loaded ({exc})")
        try:
            count = pynvml.nvmlDeviceGetCount()
            handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            driver = _text(pynvml.nvmlSystemGetDriverVersion())
            names = tuple(_text(pynvml.nvmlDeviceGetName(h)) for h in handles)
        except pynvml.NVMLError as exc:
            return NvmlStatus(False, f"the NVIDIA driver answered but listing GPUs failed ({exc})")
        if not handles:
            return NvmlStatus(False, "the NVIDIA driver reports no GPU", driver, 0)
        self._module, self._handles = pynvml, handles
        self._slow = [_Slow() for _ in handles]
        return NvmlStatus(True, "", driver, len(handles), names)

    def read_all(self, process_name: Callable[[int], str | None], energy: bool = False) -> list[GpuReading]:
        """Read every GPU. `process_name(pid)` gives a name, or None when the pid is not visible here.

        With `energy`, also read the driver's energy counter (slow: milliseconds per GPU).
        """
        if not self.status().available:
            return []
        return [
            _read_device(self._module, i, h, self._slow[i], process_name, energy) for i, h in enumerate(self._handles)
        ]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _init_reason(pynvml: Any, exc: Any) -> str:
    code = getattr(exc, "value", None)
    if code == pynvml.NVML_ERROR_LIBRARY_NOT_FOUND:
        return "no NVIDIA driver library (libnvidia-ml.so) on this machine"
    if code == pynvml.NVML_ERROR_DRIVER_NOT_LOADED:
        return "the NVIDIA driver is not loaded"
    if code == pynvml.NVML_ERROR_NO_PERMISSION:
        return "no permission to open the NVIDIA driver"
    return f"NVML could not start ({exc})"


def _read_slow(pynvml: Any, index: int, handle: Any, slow: _Slow) -> None:
    now = time.monotonic()
    if now - slow.read_at < SLOW_READINGS_TTL_S:
        return
    slow.read_at = now
    slow.unavailable = {}
    try:
        mig = bool(pynvml.nvmlDeviceGetMigMode(handle)[0])
    except pynvml.NVMLError:
        mig = False
    slow.values["mig"] = mig
    for key, call in (
        ("name", lambda: _text(pynvml.nvmlDeviceGetName(handle))),
        ("uuid", lambda: _text(pynvml.nvmlDeviceGetUUID(handle))),
        ("power_limit_w", lambda: pynvml.nvmlDeviceGetEnforcedPowerLimit(handle) / 1000.0),
    ):
        try:
            slow.values[key] = call()
        except pynvml.NVMLError as exc:
            slow.values[key] = None
            slow.unavailable[key] = _reason(pynvml, exc, mig)


def _read_device(
    pynvml: Any,
    index: int,
    handle: Any,
    slow: _Slow,
    process_name: Callable[[int], str | None],
    energy_wanted: bool,
) -> GpuReading:
    _read_slow(pynvml, index, handle, slow)
    unavailable: dict[str, str] = dict(slow.unavailable)
    mig = bool(slow.values["mig"])

    def read(field: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except pynvml.NVMLError as exc:
            unavailable[field] = _reason(pynvml, exc, mig)
            return None

    name = slow.values["name"] or f"GPU {index}"
    uuid = slow.values["uuid"] or ""
    memory = read("memory", lambda: _memory_info(pynvml, handle))
    rates = read("util_gpu_pct", lambda: pynvml.nvmlDeviceGetUtilizationRates(handle))
    if rates is None and "util_gpu_pct" in unavailable:
        unavailable["util_memory_pct"] = unavailable["util_gpu_pct"]
    temperature = read("temperature_c", lambda: pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU))
    power = read("power_w", lambda: pynvml.nvmlDeviceGetPowerUsage(handle))
    sm_clock = read("clock_sm_mhz", lambda: pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM))
    mem_clock = read("clock_memory_mhz", lambda: pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_MEM))
    energy = None
    if energy_wanted:
        energy = read("energy_mj", lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(handle))
    processes = _processes(pynvml, handle, process_name, unavailable, mig)
    if memory is not None:
        unavailable.pop("memory", None)
    elif "memory" in unavailable:
        unavailable["memory_used_mib"] = unavailable["memory_total_mib"] = unavailable.pop("memory")
    return GpuReading(
        index=index,
        name=name,
        uuid=uuid,
        memory_used_mib=memory[0] / MIB if memory else None,
        memory_total_mib=memory[1] / MIB if memory else None,
        util_gpu_pct=float(rates.gpu) if rates is not None else None,
        util_memory_pct=float(rates.memory) if rates is not None else None,
        temperature_c=float(temperature) if temperature is not None else None,
        power_w=power / 1000.0 if power is not None else None,
        power_limit_w=slow.values["power_limit_w"],
        clock_sm_mhz=sm_clock,
        clock_memory_mhz=mem_clock,
        energy_mj=float(energy) if energy is not None else None,
        processes=processes,
        unavailable=unavailable,
    )


def _memory_info(pynvml: Any, handle: Any) -> tuple[int, int]:
    """(used, total) bytes. The v2 call leaves out memory the driver reserves, as nvidia-smi does."""
    try:
        info = pynvml.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2)
    except (pynvml.NVMLError, AttributeError):
        info = pynvml.nvmlDeviceGetMemoryInfo(handle)
    return int(info.used), int(info.total)


def _processes(
    pynvml: Any,
    handle: Any,
    process_name: Callable[[int], str | None],
    unavailable: dict[str, str],
    mig: bool,
) -> list[GpuProcess]:
    found: dict[int, GpuProcess] = {}
    for kind, call in (
        ("compute", pynvml.nvmlDeviceGetComputeRunningProcesses),
        ("graphics", pynvml.nvmlDeviceGetGraphicsRunningProcesses),
    ):
        try:
            listed = call(handle)
        except pynvml.NVMLError as exc:
            if kind == "compute":
                unavailable["processes"] = _reason(pynvml, exc, mig)
            continue
        for proc in listed:
            used = proc.usedGpuMemory
            if proc.pid in found:  # a process with both contexts: count its memory once
                continue
            found[proc.pid] = GpuProcess(
                pid=int(proc.pid), used_mib=used / MIB if used is not None else None, kind=kind
            )
    invisible = 0
    for proc in found.values():
        name = process_name(proc.pid)
        if name is None:
            invisible += 1
        proc.name = name or ""
    if invisible:
        unavailable["process_ids"] = (
            f"{invisible} GPU process id(s) are not visible here: the monitor runs in another PID"
            " namespace (a container without the host's PIDs)"
        )
    if mig and not found and "processes" not in unavailable:
        unavailable["processes"] = "per-process memory is listed per MIG instance, not on the whole GPU"
    if any(p.used_mib is None for p in found.values()):
        unavailable["process_memory"] = "the driver does not report per-process memory here"
    return sorted(found.values(), key=lambda p: (-(p.used_mib or 0.0), p.pid))


def _reason(pynvml: Any, exc: Any, mig: bool) -> str:
    code = getattr(exc, "value", None)
    if code == pynvml.NVML_ERROR_NOT_SUPPORTED:
        return "not available while MIG is enabled" if mig else "not supported by this GPU or driver"
    if code == pynvml.NVML_ERROR_NO_PERMISSION:
        return "no permission to read it"
    if code == pynvml.NVML_ERROR_GPU_IS_LOST:
        return "the GPU has fallen off the bus"
    return str(exc)


NVML = _Nvml()
