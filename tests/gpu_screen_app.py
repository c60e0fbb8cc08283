"""A small app that shows the GPU screen fed from samples recorded on an H100 (for snapshot tests).

`app` replays the first `REPLAYED` samples of tests/data/gpu_samples.json, which ends with the lab's
CUDA job holding 4.7 GiB at full load; `no_gpu_app` feeds one sample of a machine without a GPU.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from textual.app import App

from engine.gpu.sampler import NO_GPU_MESSAGE, Sample, load_samples
from tui.screens.gpu import GpuScreen

FIXTURE = Path(__file__).parent / "data" / "gpu_samples.json"
REPLAYED = 26


def recorded_samples() -> list[Sample]:
    return load_samples(FIXTURE.read_text(), str(FIXTURE))


class GpuReplayApp(App[None]):
    """Mounts a GpuScreen that samples nothing itself and feeds it the given samples."""

    def __init__(self, samples: list[Sample]) -> None:
        super().__init__()
        self.samples = samples

    def on_mount(self) -> None:
        screen = GpuScreen(live=False)
        self.push_screen(screen)
        for sample in self.samples:
            screen.feed(sample)


def no_gpu_samples() -> list[Sample]:
    sample = recorded_samples()[0]
    note = f"{NO_GPU_MESSAGE} (no NVIDIA driver library (libnvidia-ml.so) on this machine)"
    return [replace(sample, gpus=[], gpu_note=note, driver_version=None)]


app = GpuReplayApp(recorded_samples()[:REPLAYED])
no_gpu_app = GpuReplayApp(no_gpu_samples())

if __name__ == "__main__":
    app.run()
