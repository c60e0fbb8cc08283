"""The GPU screen's panels: one per GPU (gauges and history charts) and one for the host.

They only draw what they are given: readings from `engine.gpu.sampler` and series from its `History`.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, ProgressBar, Static

from engine.gpu.sampler import GpuReading, History, HostReading
from engine.gpu.text import gib, memory_line, power_line

_LEVELS = "▁▂▃▄▅▆▇█"


def spark_text(values: Sequence[float], width: int, top: float) -> str:
    """`values` as bars on a fixed 0..`top` scale (the newest at the right, each column the highest of the
    values it covers): 1 % of 100 is the lowest bar, never a full one."""
    if width <= 0 or not values or top <= 0:
        return ""
    values = list(values)
    columns = min(width, len(values))
    out = []
    for c in range(columns):
        chunk = values[c * len(values) // columns : (c + 1) * len(values) // columns] or [values[-1]]
        share = max(0.0, min(1.0, max(chunk) / top))
        out.append(_LEVELS[min(len(_LEVELS) - 1, int(share * len(_LEVELS)))] if share > 0 else " ")
    return "".join(out)


class ScaledSparkline(Static):
    """A history chart on a fixed scale (0-100 % for shares, the limit for power), unlike Textual's
    Sparkline, which stretches any series between its own minimum and maximum."""

    DEFAULT_CSS = "ScaledSparkline { color: $accent; }"

    def __init__(self) -> None:
        super().__init__("")
        self.values: list[float] = []
        self.top = 100.0

    def set_data(self, values: Sequence[float], top: float) -> None:
        self.values, self.top = list(values), top
        self.refresh()

    def render(self) -> str:
        return spark_text(self.values, self.size.width, self.top)


class MetricRow(Horizontal):
    """One reading: its name, a 0-100 % gauge, the figure as text and a chart of its recent history."""

    DEFAULT_CSS = """
    MetricRow { height: 1; }
    MetricRow > .metric-name { width: 8; color: $text-muted; }
    MetricRow > ProgressBar { width: 18; }
    MetricRow > ProgressBar Bar { width: 16; }
    MetricRow > .metric-value { width: 24; }
    MetricRow > ScaledSparkline { width: 1fr; margin-left: 1; }
    """

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._title = title

    def compose(self) -> ComposeResult:
        yield Label(self._title, classes="metric-name")
        yield ProgressBar(total=100, show_eta=False, show_percentage=False)
        yield Label("", classes="metric-value")
        yield ScaledSparkline()

    def show(self, pct: float | None, text: str, series: Sequence[float], top: float = 100.0) -> None:
        """`series` is drawn on 0..`top` (100 for percentages)."""
        self.query_one(ProgressBar).update(progress=max(0.0, min(100.0, pct or 0.0)))
        self.query_one(".metric-value", Label).update(text)
        self.query_one(ScaledSparkline).set_data(series, top)


class _Panel(Vertical):
    """A bordered panel that keeps what it was given until its children exist."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._ready = False
        self._pending: tuple[object, History] | None = None

    def on_mount(self) -> None:
        self._ready = True
        if self._pending is not None:
            self.show(*self._pending)

    def show(self, reading: object, history: History) -> None:
        if not self._ready:
            self._pending = (reading, history)
            return
        self._draw(reading, history)

    def _draw(self, reading: object, history: History) -> None:
        raise NotImplementedError


class GpuPanel(_Panel):
    """One GPU: utilisation, memory, power and temperature with their history, then clocks."""

    DEFAULT_CSS = """
    GpuPanel { height: auto; border: round $primary; padding: 0 1; }
    GpuPanel > .gpu-clocks { color: $text-muted; }
    """

    def __init__(self, index: int) -> None:
        super().__init__(id=f"gpu-panel-{index}")
        self.index = index

    def compose(self) -> ComposeResult:
        yield MetricRow("util", id="gpu-util")
        yield MetricRow("memory", id="gpu-memory")
        yield MetricRow("power", id="gpu-power")
        yield MetricRow("temp", id="gpu-temp")
        yield Static("", classes="gpu-clocks")

    def _draw(self, reading: object, history: History) -> None:
        assert isinstance(reading, GpuReading)
        gpu, series = reading, history.gpu_series
        self.border_title = f"GPU {gpu.index} · {gpu.name}"
        util = "n/a" if gpu.util_gpu_pct is None else f"{gpu.util_gpu_pct:.0f}%"
        self.query_one("#gpu-util", MetricRow).show(gpu.util_gpu_pct, util, series(gpu.index, "util_gpu_pct"))
        memory = memory_line(gpu).replace(" GiB (", " GiB  (")
        self.query_one("#gpu-memory", MetricRow).show(gpu.memory_pct, memory, series(gpu.index, "memory_pct"))
        power_pct = 100.0 * gpu.power_w / gpu.power_limit_w if gpu.power_w is not None and gpu.power_limit_w else None
        watts = series(gpu.index, "power_w")
        self.query_one("#gpu-power", MetricRow).show(
            power_pct, power_line(gpu), watts, gpu.power_limit_w or max(watts, default=0.0) or 1.0
        )
        temp = "n/a" if gpu.temperature_c is None else f"{gpu.temperature_c:.0f} °C"
        self.query_one("#gpu-temp", MetricRow).show(
            gpu.temperature_c,
            temp,
            series(gpu.index, "temperature_c"),  # on 0-100 °C, as its gauge
        )
        parts = []
        if gpu.clock_sm_mhz is not None:
            parts.append(f"SM {gpu.clock_sm_mhz} MHz")
        if gpu.clock_memory_mhz is not None:
            parts.append(f"memory {gpu.clock_memory_mhz} MHz")
        if gpu.util_memory_pct is not None:
            parts.append(f"memory bus {gpu.util_memory_pct:.0f}%")
        missing = sorted({why for key, why in gpu.unavailable.items() if key != "energy_mj"})
        clocks = "clocks " + " · ".join(parts) if parts else "clocks n/a"
        self.query_one(".gpu-clocks", Static).update("\n".join([clocks, *missing]))


class HostPanel(_Panel):
    """The host: CPU and RAM with their history, and the lab folder's free disk."""

    DEFAULT_CSS = """
    HostPanel { height: auto; border: round $secondary; padding: 0 1; }
    HostPanel > .host-disk { color: $text-muted; }
    """

    def compose(self) -> ComposeResult:
        yield MetricRow("CPU", id="host-cpu")
        yield MetricRow("RAM", id="host-ram")
        yield Static("", classes="host-disk")

    def _draw(self, reading: object, history: History) -> None:
        assert isinstance(reading, HostReading)
        host = reading
        self.border_title = "Host"
        cpu = f"{host.cpu_pct:.0f}% of {host.cpu_count} cores"
        self.query_one("#host-cpu", MetricRow).show(host.cpu_pct, cpu, history.host_series("cpu_pct"))
        used_pct = 100.0 - host.ram_free_pct
        ram = f"{gib(host.ram_used_mib)} / {gib(host.ram_total_mib)} GiB"
        used = [100.0 * h.ram_used_mib / h.ram_total_mib for h in history.host if h.ram_total_mib]
        self.query_one("#host-ram", MetricRow).show(used_pct, ram, used)
        disk = (
            f"disk {gib(host.disk_free_mib)} GiB free of {gib(host.disk_total_mib)} under {host.disk_path}"
            if host.disk_free_mib is not None
            else f"disk n/a under {host.disk_path}"
        )
        self.query_one(".host-disk", Static).update(disk)
