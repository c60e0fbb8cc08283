"""Plain-text rendering of a GPU/host sample, for `olive-lab gpu` and logs (the app draws its own widgets).

Figures shared with the screen (GiB formatting, "n/a" with its reason) live here so both say the same.
"""

from __future__ import annotations

import time

from engine.gpu.readings import GpuReading, HostReading, Sample

GIB = 1024.0


def gib(mib: float | None) -> str:
    return "n/a" if mib is None else f"{mib / GIB:.1f}"


def bar(pct: float | None, width: int = 20) -> str:
    if pct is None:
        return "[" + "?" * width + "]"
    filled = round(max(0.0, min(100.0, pct)) / 100.0 * width)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def figure(value: float | None, unit: str, gpu: GpuReading, field: str, digits: int = 0) -> str:
    """`value` with its unit, or "n/a" followed by the device's reason."""
    if value is None:
        return f"n/a ({gpu.why(field)})"
    return f"{value:.{digits}f}{unit}"


def memory_line(gpu: GpuReading) -> str:
    if gpu.memory_used_mib is None:
        return f"n/a ({gpu.why('memory_used_mib')})"
    return f"{gib(gpu.memory_used_mib)} / {gib(gpu.memory_total_mib)} GiB ({gpu.memory_pct or 0:.0f}%)"


def power_line(gpu: GpuReading) -> str:
    if gpu.power_w is None:
        return f"n/a ({gpu.why('power_w')})"
    cap = f" / {gpu.power_limit_w:.0f}" if gpu.power_limit_w is not None else ""
    return f"{gpu.power_w:.0f}{cap} W"


def host_line(host: HostReading) -> str:
    disk = (
        f"disk {gib(host.disk_free_mib)} GiB free under {host.disk_path}"
        if host.disk_free_mib is not None
        else "disk n/a"
    )
    return (
        f"CPU {host.cpu_pct:.0f}% of {host.cpu_count} cores   RAM {gib(host.ram_used_mib)} / "
        f"{gib(host.ram_total_mib)} GiB ({100 - host.ram_free_pct:.0f}% used)   {disk}"
    )


def format_sample(sample: Sample, interval: float | None = None) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(sample.time))
    head = f"olive-lab gpu   {stamp}"
    if sample.driver_version:
        head += f"   driver {sample.driver_version}"
    if interval is not None:
        head += f"   every {interval:g} s, Ctrl-C to stop"
    lines = [head, ""]
    if not sample.gpus:
        lines += [sample.gpu_note or "No NVIDIA GPU found: monitoring the host only", ""]
    for gpu in sample.gpus:
        lines.append(f"GPU {gpu.index}  {gpu.name}")
        lines.append(f"  memory  {bar(gpu.memory_pct)}  {memory_line(gpu)}")
        util = figure(gpu.util_gpu_pct, "%", gpu, "util_gpu_pct")
        bus = figure(gpu.util_memory_pct, "%", gpu, "util_memory_pct")
        lines.append(f"  util    {bar(gpu.util_gpu_pct)}  {util}   memory bus {bus}")
        temp = figure(gpu.temperature_c, " °C", gpu, "temperature_c")
        lines.append(f"  power   {power_line(gpu)}   temperature {temp}")
        sm = figure(gpu.clock_sm_mhz, " MHz", gpu, "clock_sm_mhz")
        mem = figure(gpu.clock_memory_mhz, " MHz", gpu, "clock_memory_mhz")
        lines.append(f"  clocks  SM {sm}, memory {mem}")
        for note in ("processes", "process_ids", "process_memory"):
            if note in gpu.unavailable:
                lines.append(f"  note: {gpu.unavailable[note]}")
        if gpu.processes:
            lines.append(f"  {'PID':>8}  {'NAME':<24} {'VRAM':>10}")
            for proc in gpu.processes:
                vram = f"{gib(proc.used_mib)} GiB" if proc.used_mib is not None else "n/a"
                mark = (f"  lab: {proc.branch}" if proc.branch else "  lab") if proc.is_lab else ""
                lines.append(f"  {proc.pid:>8}  {(proc.name or '?')[:24]:<24} {vram:>10}{mark}")
        else:
            lines.append("  no processes on this GPU")
        lines.append("")
    lines.append("host  " + host_line(sample.host))
    return "\n".join(lines)
