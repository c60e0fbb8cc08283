"""The GPU screen: a panel per GPU with gauges and history, the GPU process table and the host strip.

Samples come from `engine.gpu.sampler.Sampler` through a thread worker (the screen's own sampler, or one the app
shares), or from whoever calls `feed(sample)`; with no NVIDIA GPU the screen says so and shows the host.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Label, Static
from textual.worker import get_current_worker

from engine.gpu.sampler import NO_GPU_MESSAGE, History, Sample, Sampler
from engine.gpu.text import gib
from tui import keymap
from tui.widgets.gpu_panel import GpuPanel, HostPanel
from tui.widgets.host_processes import ProcessTable
from tui.widgets.mode_bar import ModeBar

MIN_INTERVAL_S = 0.25
MAX_INTERVAL_S = 10.0


class GpuScreen(Screen[None]):
    """Live GPU and host monitor. `live=False` leaves the feeding to `feed()` (tests, replays)."""

    SCOPE = "gpu"
    BINDINGS = keymap.bindings("gpu")

    DEFAULT_CSS = """
    GpuScreen #gpu-title { height: 1; padding: 0 1; background: $boost; }
    GpuScreen #gpu-notice { display: none; padding: 0 1; color: $warning; }
    GpuScreen #gpu-notice.shown { display: block; }
    GpuScreen #gpu-panels { height: auto; }
    GpuScreen #gpu-processes-title { padding: 0 1; color: $text-muted; }
    GpuScreen #gpu-processes { height: auto; max-height: 12; }
    """

    def __init__(
        self,
        sampler: Sampler | None = None,
        *,
        live: bool = True,
        interval: float = 1.0,
        lab_dir: str | os.PathLike[str] | None = None,
        lab_pids: Callable[[], Iterable[int]] | None = None,
        history_len: int = 120,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._sampler = sampler
        self._live = live
        self._interval = interval
        self._lab_dir = lab_dir
        self._lab_pids = lab_pids
        self.history = History(history_len)
        self.latest: Sample | None = None
        self._panels: dict[int, GpuPanel] = {}
        self._process_rows: list[tuple[str, str, str, str, str]] | None = None
        self._ready = False
        self._pending: list[Sample] = []
        self._active_sampler: Sampler | None = sampler
        self.show_processes = True
        """Whether the GPU process table is shown (`t` toggles it)."""
        self._host_processes = ProcessTable()

    def compose(self) -> ComposeResult:
        yield ModeBar("gpu")
        with VerticalScroll(id="gpu-body"):
            yield Static("GPU monitor: waiting for the first sample", id="gpu-title")
            yield Static("", id="gpu-notice")
            yield Vertical(id="gpu-panels")
            yield Label("GPU processes", id="gpu-processes-title")
            table: DataTable[str] = DataTable(id="gpu-processes", cursor_type="row", zebra_stripes=True)
            table.add_columns("PID", "Process", "GPU", "VRAM", "Run")
            yield table
            yield HostPanel(id="gpu-host")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        lab = getattr(self.app, "lab", None)
        if self._lab_dir is None and lab is not None:
            self._lab_dir = lab.root  # the disk reading is about the lab's disk
        if self._lab_pids is None and lab is not None:
            from engine.runs.select import lab_pids

            self._lab_pids = lambda: lab_pids(lab)  # the lab's own processes are marked, as `olive-lab gpu` does
        self._ready = True
        if self._pending:
            self._feed_many(self._pending)
            self._pending = []
        if self._live:
            self._follow_sampler()

    @work(thread=True, exclusive=True, group="gpu-sampler", exit_on_error=False, name="gpu-sampler")
    def _follow_sampler(self) -> None:
        worker = get_current_worker()
        own = self._sampler is None
        sampler = self._sampler or Sampler(self._interval, self.history.maxlen, self._lab_dir, self._lab_pids)
        if own:
            sampler.start()
        self._active_sampler = sampler
        try:
            backlog = list(sampler.history().samples)
            seen = sampler.seq
            if backlog and not worker.is_cancelled:
                self.app.call_from_thread(self._feed_many, backlog)
            while not worker.is_cancelled:
                got = sampler.wait_next(seen, timeout=0.5)
                if got is None or worker.is_cancelled:
                    continue
                seen, sample = got
                self.app.call_from_thread(self.feed, sample)
        except RuntimeError:  # the app closed while a sample was on its way
            pass
        finally:
            if own:
                sampler.stop()

    @property
    def interval(self) -> float:
        """Seconds between samples."""
        return self._active_sampler.interval if self._active_sampler is not None else self._interval

    def action_interval(self, factor: float) -> None:
        """Sample `factor` times as long apart (within MIN_INTERVAL_S..MAX_INTERVAL_S)."""
        seconds = min(MAX_INTERVAL_S, max(MIN_INTERVAL_S, self.interval * factor))
        self._interval = seconds
        if self._active_sampler is not None:
            self._active_sampler.interval = seconds
        self.notify(f"Sampling every {seconds:g} s", timeout=3)

    def action_toggle_processes(self) -> None:
        self.show_processes = not self.show_processes
        self.query_one("#gpu-processes", DataTable).display = self.show_processes and bool(
            self.latest is None or self.latest.gpus
        )
        if self.latest is not None:
            self._show_processes(self.latest)

    def _feed_many(self, samples: list[Sample]) -> None:
        for sample in samples[:-1]:
            self.history.add(sample)
        self.feed(samples[-1])

    def feed(self, sample: Sample) -> None:
        """Show a new sample (and add it to the history the charts draw). Call on the UI thread."""
        if not self._ready:  # fed before the screen was composed: show it once it is
            self._pending.append(sample)
            return
        self.history.add(sample)
        self.latest = sample
        count = len(sample.gpus)
        title = f"GPU monitor · {count} GPU{'s' if count != 1 else ''}"
        if sample.driver_version:
            title += f" · driver {sample.driver_version}"
        self.query_one("#gpu-title", Static).update(title)
        notice = self.query_one("#gpu-notice", Static)
        if sample.gpus:
            notice.remove_class("shown")
        else:
            reason = (sample.gpu_note or "").removeprefix(NO_GPU_MESSAGE).strip(" ()")
            notice.update(NO_GPU_MESSAGE + (f"\n{reason}" if reason else ""))
            notice.add_class("shown")
        panels = self.query_one("#gpu-panels", Vertical)
        for gpu in sample.gpus:
            panel = self._panels.get(gpu.index)
            if panel is None:
                panel = self._panels[gpu.index] = GpuPanel(gpu.index)
                panels.mount(panel)
            panel.show(gpu, self.history)
        self._show_processes(sample)
        self.query_one("#gpu-host", HostPanel).show(sample.host, self.history)

    def _show_processes(self, sample: Sample) -> None:
        rows = [
            (
                str(proc.pid),
                proc.name or "?",
                str(gpu.index),
                f"{gib(proc.used_mib)} GiB" if proc.used_mib is not None else "n/a",
                (f"● lab: {proc.branch}" if proc.branch else "● lab") if proc.is_lab else "",
            )
            for gpu in sample.gpus
            for proc in gpu.processes
        ]
        lab = sum(1 for row in rows if row[4])
        title = self.query_one("#gpu-processes-title", Label)
        if not self.show_processes:
            title.update(
                f"GPU processes: {len(rows)} (hidden; {keymap.key_label(self.app, 'gpu.processes')} shows them)"
            )
        elif not sample.gpus:
            rows = [(*row, "● lab") for row in self._host_processes.rows(sample.lab_pids)]
            title.update(
                f"No GPU: this lab's processes ({len(rows)}) with CPU and RAM"
                if rows
                else "No GPU, and no run of this lab is going (its processes would be listed here)"
            )
        else:
            title.update(f"GPU processes: {len(rows)}, {lab} from this lab's run" if rows else "GPU processes: none")
        if rows == self._process_rows:
            return
        self._process_rows = rows
        table = self.query_one("#gpu-processes", DataTable)
        table.display = bool(rows) and self.show_processes
        columns = ("PID", "Process") + (("GPU", "VRAM") if sample.gpus else ("CPU", "RAM")) + ("Run",)
        table.clear(columns=[str(c.label) for c in table.columns.values()] != list(columns))
        if not table.columns:
            table.add_columns(*columns)
        table.add_rows(rows)  # without a GPU: CPU and RAM in place of GPU and VRAM
