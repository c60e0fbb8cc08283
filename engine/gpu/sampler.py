"""GPU and host monitoring: one `sample_once()` reading, and a `Sampler` thread that keeps a history.

The screen, the `olive-lab gpu` command and the run supervisor all read the same `Sample` objects
(`engine.gpu.readings`). GPUs are read through NVML (`engine.gpu.nvml`, opened lazily); the host's CPU,
memory and the lab folder's free disk through psutil. The lab run's own processes are marked: the caller
passes the run's root pids and every GPU process descending from one of them counts as the lab's.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import psutil

from engine.gpu.nvml import NO_GPU_MESSAGE, NVML, NvmlStatus
from engine.gpu.readings import MIB, GpuProcess, GpuReading, HostReading, Sample, load_samples
from engine.paths import nearest_existing

__all__ = [
    "NO_GPU_MESSAGE",
    "GpuProcess",
    "GpuReading",
    "History",
    "HostReading",
    "NvmlStatus",
    "ProcessTable",
    "Sample",
    "Sampler",
    "load_samples",
    "probe",
    "read_host",
    "sample_once",
]

_ANCESTRY_TTL_S = 10.0  # a process is re-parented when its parent dies; look again after this long


def probe() -> NvmlStatus:
    """Whether NVIDIA GPUs can be read here, and if not, why. Opens NVML on first call."""
    return NVML.status()


class ProcessTable:
    """Names and ancestry of GPU processes, cached briefly so a sample stays cheap."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[int, tuple[float, str | None, tuple[int, ...]]] = {}

    def _lookup(self, pid: int) -> tuple[str | None, tuple[int, ...]]:
        now = time.monotonic()
        hit = self._cache.get(pid)
        if hit is not None and now - hit[0] < _ANCESTRY_TTL_S:
            return hit[1], hit[2]
        name: str | None = None
        chain: list[int] = []
        try:
            proc = psutil.Process(pid)
            try:
                name = proc.name()
            except psutil.AccessDenied:
                name = "?"
            parent = proc.ppid()
            while parent > 0 and len(chain) < 64:
                chain.append(parent)
                parent = psutil.Process(parent).ppid()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass  # the chain read so far stands; an unseen pid keeps name None
        if len(self._cache) > 2048:
            self._cache.clear()
        self._cache[pid] = (now, name, tuple(chain))
        return name, tuple(chain)

    def name(self, pid: int) -> str | None:
        """The process name, or None when no such process is visible from here."""
        with self._lock:
            return self._lookup(pid)[0]

    def in_tree(self, pid: int, roots: frozenset[int]) -> bool:
        """True when `pid` is one of `roots` or descends from one."""
        if pid in roots:
            return True
        if not roots:
            return False
        with self._lock:
            return not roots.isdisjoint(self._lookup(pid)[1])


_PROCESSES = ProcessTable()


def read_host(lab_dir: str | os.PathLike[str] | None = None, cpu_interval: float | None = None) -> HostReading:
    """Host CPU (since the previous call, or over `cpu_interval` seconds), RAM, and the lab disk's space."""
    memory = psutil.virtual_memory()
    folder = nearest_existing(Path(lab_dir or os.getcwd()))
    try:
        disk = psutil.disk_usage(str(folder))
        disk_free, disk_total = disk.free / MIB, disk.total / MIB
    except OSError:
        disk_free = disk_total = None
    return HostReading(
        cpu_pct=float(psutil.cpu_percent(interval=cpu_interval)),
        cpu_count=psutil.cpu_count() or 1,
        ram_used_mib=(memory.total - memory.available) / MIB,
        ram_total_mib=memory.total / MIB,
        ram_available_mib=memory.available / MIB,
        disk_path=str(folder),
        disk_free_mib=disk_free,
        disk_total_mib=disk_total,
    )


def sample_once(
    lab_dir: str | os.PathLike[str] | None = None,
    lab_pids: Iterable[int] = (),
    cpu_interval: float | None = None,
    energy: bool = False,
) -> Sample:
    """Read every GPU and the host now. Never raises for a missing GPU: `gpu_note` says why there is none.

    `energy` also reads each GPU's energy counter, which costs milliseconds: the step meter asks for it
    now and then, the live views never.
    """
    branches: dict[str, set[int]] = {}  # a mapping of pid -> sweep branch marks each branch's processes
    for pid, label in lab_pids.items() if isinstance(lab_pids, Mapping) else ():
        if label:
            branches.setdefault(label, set()).add(int(pid))
    roots = frozenset(int(p) for p in lab_pids)
    status = NVML.status()
    gpus: list[GpuReading] = NVML.read_all(_PROCESSES.name, energy)
    for gpu in gpus:
        for proc in gpu.processes:
            proc.is_lab = _PROCESSES.in_tree(proc.pid, roots)
            if proc.is_lab:
                proc.branch = next(
                    (b for b, pids in branches.items() if _PROCESSES.in_tree(proc.pid, frozenset(pids))), ""
                )
    return Sample(
        time=time.time(),
        host=read_host(lab_dir, cpu_interval),
        gpus=gpus,
        gpu_note=None if status.available else f"{NO_GPU_MESSAGE} ({status.reason})",
        driver_version=status.driver_version,
        lab_pids=sorted(roots),
    )


class History:
    """Bounded history of samples: one deque per GPU (by index) and one for the host."""

    def __init__(self, maxlen: int = 300) -> None:
        self.maxlen = maxlen
        self.samples: deque[Sample] = deque(maxlen=maxlen)
        self.times: deque[float] = deque(maxlen=maxlen)
        self.host: deque[HostReading] = deque(maxlen=maxlen)
        self.gpus: dict[int, deque[GpuReading]] = {}

    def add(self, sample: Sample) -> None:
        self.samples.append(sample)
        self.times.append(sample.time)
        self.host.append(sample.host)
        for gpu in sample.gpus:
            self.gpus.setdefault(gpu.index, deque(maxlen=self.maxlen)).append(gpu)

    def __len__(self) -> int:
        return len(self.times)

    def gpu_series(self, index: int, attribute: str) -> list[float]:
        """One reading of one GPU over time (`util_gpu_pct`, `memory_pct`, `power_w`, ...); gaps are skipped."""
        values = (getattr(g, attribute) for g in self.gpus.get(index, ()))
        return [float(v) for v in values if v is not None]

    def host_series(self, attribute: str) -> list[float]:
        return [float(getattr(h, attribute)) for h in self.host]

    def copy(self) -> History:
        other = History(self.maxlen)
        other.samples.extend(self.samples)
        other.times.extend(self.times)
        other.host.extend(self.host)
        for index, readings in self.gpus.items():
            other.gpus[index] = deque(readings, maxlen=self.maxlen)
        return other


class Sampler:
    """Samples GPUs and host on its own thread every `interval` seconds, keeping a bounded history.

    `lab_pids` is called before each sample and returns the root pids of the lab's running processes.
    Consumers poll `latest()`, read `history()`, or block in `wait_next()` (from a worker thread).
    """

    def __init__(
        self,
        interval: float = 1.0,
        history_len: int = 300,
        lab_dir: str | os.PathLike[str] | None = None,
        lab_pids: Callable[[], Iterable[int]] | None = None,
    ) -> None:
        self._interval = max(0.05, float(interval))
        self._lab_dir = lab_dir
        self._lab_pids = lab_pids or (lambda: ())
        self._history = History(history_len)
        self._latest: Sample | None = None
        self._seq = 0
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None

    @property
    def interval(self) -> float:
        return self._interval

    @interval.setter
    def interval(self, seconds: float) -> None:
        self._interval = max(0.05, float(seconds))

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Sampler:
        if not self.running:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="olive-lab-gpu-sampler", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def sample_once(self) -> Sample:
        """Take one sample now (on the calling thread), record it and return it."""
        try:
            found = self._lab_pids()
            pids: Iterable[int] = dict(found) if isinstance(found, Mapping) else list(found)
        except Exception as exc:  # a caller's pid source must not stop monitoring
            self.last_error = f"could not read the lab's process ids: {exc}"
            pids = []
        sample = sample_once(self._lab_dir, pids)
        with self._changed:
            self._history.add(sample)
            self._latest = sample
            self._seq += 1
            self._changed.notify_all()
        return sample

    def latest(self) -> Sample | None:
        with self._changed:
            return self._latest

    def history(self) -> History:
        """A copy of the history, safe to read while sampling goes on."""
        with self._changed:
            return self._history.copy()

    @property
    def seq(self) -> int:
        """How many samples have been taken so far."""
        return self._seq

    def wait_next(self, after: int, timeout: float) -> tuple[int, Sample] | None:
        """Block until a sample newer than number `after` exists; None on timeout or stop."""
        with self._changed:
            self._changed.wait_for(lambda: self._seq > after or self._stop.is_set(), timeout)
            if self._seq > after and self._latest is not None:
                return self._seq, self._latest
            return None

    def _loop(self) -> None:
        due = time.monotonic()
        while not self._stop.is_set():
            try:
                self.sample_once()
                self.last_error = None
            except Exception as exc:  # keep sampling; the UI shows the error
                self.last_error = f"sampling failed: {exc}"
            due += self._interval
            now = time.monotonic()
            if due < now:  # fell behind (suspended laptop, slow disk): do not burst to catch up
                due = now
            self._stop.wait(due - now)
