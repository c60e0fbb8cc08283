"""A one-line GPU and host summary (VRAM and utilisation per GPU, host RAM) for other screens to embed.

The owner calls `update_sample(sample)` with an `engine.gpu.sampler.Sample` whenever it has a new one.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from engine.gpu.sampler import Sample
from engine.gpu.text import gib

_WARN_PCT = 95.0


class GpuStrip(Static):
    """`GPU0 VRAM 4.7/79.6 GiB util 98% │ RAM 10.2/125.9 GiB`; VRAM shown in red above 95 %."""

    DEFAULT_CSS = """
    GpuStrip { height: auto; color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("GPU: waiting for the first sample", id=id, classes=classes)

    def update_sample(self, sample: Sample) -> None:
        self.update(strip_text(sample))


def strip_text(sample: Sample) -> Text:
    text = Text()
    if not sample.gpus:
        text.append("no NVIDIA GPU")
    for number, gpu in enumerate(sample.gpus):
        if number:
            text.append("  ")
        text.append(f"GPU{gpu.index} ", style="bold")
        pct = gpu.memory_pct
        vram = (
            f"VRAM {gib(gpu.memory_used_mib)}/{gib(gpu.memory_total_mib)} GiB"
            if gpu.memory_used_mib is not None
            else "VRAM n/a"
        )
        text.append(vram, style="bold red" if pct is not None and pct > _WARN_PCT else "")
        util = "n/a" if gpu.util_gpu_pct is None else f"{gpu.util_gpu_pct:.0f}%"
        text.append(f" util {util}")
    host = sample.host
    text.append(" │ ")
    text.append(f"RAM {gib(host.ram_used_mib)}/{gib(host.ram_total_mib)} GiB")
    return text
