"""Byte-level progress of a transfer (an upload or a download): bytes moved, speed, time left.

azure-storage-blob's `progress_hook(current, total)` reports per blob and may be called from its worker
threads; the meter adds those up across files, keeps a short window of samples for the speed, and hands a
`TransferProgress` to its listener at most every `interval` seconds (and always for the last byte), so a
screen or a log is never flooded.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from pydantic import BaseModel

from engine.durations import format_duration


class TransferProgress(BaseModel):
    done_bytes: int
    total_bytes: int
    skipped_bytes: int = 0  # already there (a resumed upload, a cached download): counted in done_bytes
    files_done: int = 0
    files_total: int = 0
    current_file: str | None = None
    speed_bps: float | None = None
    eta_s: float | None = None
    elapsed_s: float = 0.0

    @property
    def fraction(self) -> float:
        return self.done_bytes / self.total_bytes if self.total_bytes else 1.0

    def line(self) -> str:
        """One line for a log or a status bar, e.g. `12.0/20.0 MiB 60% 8.1 MiB/s ETA 1s (3/7 files)`."""
        mib = 2**20
        parts = [f"{self.done_bytes / mib:.1f}/{self.total_bytes / mib:.1f} MiB", f"{self.fraction:.0%}"]
        if self.speed_bps:
            parts.append(f"{self.speed_bps / mib:.1f} MiB/s")
        if self.eta_s is not None:
            parts.append(f"ETA {format_duration(self.eta_s)}")
        parts.append(f"({self.files_done}/{self.files_total} files)")
        return " ".join(parts)


ProgressListener = Callable[[TransferProgress], None]


class TransferMeter:
    """Adds up per-file byte counts into one progress, with speed over the last few seconds."""

    def __init__(
        self,
        total_bytes: int,
        files_total: int,
        listener: ProgressListener | None = None,
        *,
        interval: float = 0.25,
        window_s: float = 5.0,
    ) -> None:
        self.total_bytes = total_bytes
        self.files_total = files_total
        self._listener = listener
        self._interval = interval
        self._window_s = window_s
        self._lock = threading.Lock()
        self._finished_bytes = 0  # files completed or skipped
        self._skipped = 0
        self._in_flight: dict[str, int] = {}
        self._files_done = 0
        self._current: str | None = None
        self._start = time.monotonic()
        self._samples: deque[tuple[float, int]] = deque([(self._start, 0)])
        self._last_emit = 0.0

    def _done(self) -> int:
        return self._finished_bytes + sum(self._in_flight.values())

    def skip(self, name: str, size: int) -> None:
        with self._lock:
            self._finished_bytes += size
            self._skipped += size
            self._files_done += 1
        self._emit()

    def start_file(self, name: str) -> None:
        with self._lock:
            self._in_flight[name] = 0
            self._current = name
        self._emit()

    def advance(self, name: str, current: int) -> None:
        with self._lock:
            self._in_flight[name] = current
        self._emit()

    def finish_file(self, name: str, size: int) -> None:
        with self._lock:
            self._in_flight.pop(name, None)
            self._finished_bytes += size
            self._files_done += 1
        self._emit(force=True)  # a finished file is always reported (a resume point)

    def abandon_file(self, name: str) -> None:
        with self._lock:
            self._in_flight.pop(name, None)

    def snapshot(self) -> TransferProgress:
        with self._lock:
            now = time.monotonic()
            done = self._done()
            self._samples.append((now, done))
            while len(self._samples) > 2 and now - self._samples[0][0] > self._window_s:
                self._samples.popleft()
            t0, b0 = self._samples[0]
            moved = done - b0
            speed = moved / (now - t0) if now - t0 > 0.05 and moved > 0 else None
            left = max(self.total_bytes - done, 0)
            return TransferProgress(
                done_bytes=done,
                total_bytes=self.total_bytes,
                skipped_bytes=self._skipped,
                files_done=self._files_done,
                files_total=self.files_total,
                current_file=self._current,
                speed_bps=speed,
                eta_s=(left / speed) if speed else (0.0 if left == 0 else None),
                elapsed_s=now - self._start,
            )

    def _emit(self, force: bool = False) -> None:
        if self._listener is None:
            return
        now = time.monotonic()
        if not force and now - self._last_emit < self._interval:
            return
        self._last_emit = now
        self._listener(self.snapshot())

    def final(self) -> TransferProgress:
        progress = self.snapshot()
        if self._listener is not None:
            self._listener(progress)
        return progress
