"""The fake Azure ML job service's state, on disk so that every process sees the same jobs: the test, the
product's poller (killable, restartable), and the detached "node" process that runs each job
(`tests/fakes/azure_node.py`).

Layout of `jobs_dir`:
  .lock                        flock'd around every read-modify-write
  environments.json            environment versions PUT by the SDK (name:version -> body)
  requests.log                 one line per request answered: "<unix time> <pid> <METHOD> <path>"
  sas_signatures.txt           the signature of every log SAS URL handed out (tests scan product files for it)
  <job>/job.json               the job: status, REST body, times, error, request count, node/process ids
  <job>/user_logs/std_log.txt  what the job's command printed so far (stdout and stderr)
  <job>/work/                  the node's inputs/outputs folders while it runs
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

TERMINAL = ("Completed", "Failed", "Canceled")
# Statuses in which the job holds a node of its cluster
ON_NODE = ("Running", "Finalizing", "CancelRequested")  # Preparing builds the image before the queue


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


class JobStore:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- files
    def job_dir(self, name: str) -> Path:
        return self.root / name

    def log_path(self, name: str) -> Path:
        return self.job_dir(name) / "logs" / "user_logs" / "std_log.txt"

    def _read_json(self, path: Path, default: Any) -> Any:
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return default

    def _write_json(self, path: Path, data: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=1))
        os.replace(tmp, path)

    # -- jobs
    def read(self, name: str) -> dict[str, Any] | None:
        if not name or "/" in name or name.startswith("."):
            return None
        return self._read_json(self.job_dir(name) / "job.json", None)

    def write(self, name: str, job: dict[str, Any]) -> None:
        self._write_json(self.job_dir(name) / "job.json", job)

    def update(self, name: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any] | None:
        """Read, change in place and write back one job under the lock; None if there is no such job."""
        with self.lock():
            job = self.read(name)
            if job is None:
                return None
            change(job)
            self.write(name, job)
            return job

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/job.json"))

    def jobs(self) -> list[dict[str, Any]]:
        return [job for job in (self.read(n) for n in self.names()) if job]

    # -- environments
    def environments(self) -> dict[str, Any]:
        return self._read_json(self.root / "environments.json", {})

    def put_environment(self, key: str, body: dict[str, Any]) -> None:
        with self.lock():
            envs = self.environments()
            envs[key] = body
            self._write_json(self.root / "environments.json", envs)

    # -- bookkeeping
    def count_request(self, method: str, path: str, job: str | None) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "requests.log", "a") as handle:
            handle.write(f"{time.time():.3f} {os.getpid()} {method} {path}\n")
        if job:
            self.update(job, lambda j: j.__setitem__("requests", j.get("requests", 0) + 1))

    def requests(self) -> list[tuple[float, int, str, str]]:
        """Every request answered so far, in every process: (time, pid, method, path)."""
        try:
            lines = (self.root / "requests.log").read_text().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            stamp, pid, method, path = line.split(" ", 3)
            out.append((float(stamp), int(pid), method, path))
        return out

    def remember_sas(self, signature: str) -> None:
        with open(self.root / "sas_signatures.txt", "a") as handle:
            handle.write(signature + "\n")

    def sas_signatures(self) -> set[str]:
        """Each SAS signature handed out, as in the URL (percent-encoded) and decoded (base64)."""
        try:
            found = set((self.root / "sas_signatures.txt").read_text().split())
        except FileNotFoundError:
            return set()
        return found | {unquote(sig) for sig in found}

    # -- processes
    def kill_all(self) -> None:
        """End every node process and job command still running (a test's teardown)."""
        for job in self.jobs():
            for key in ("proc_pgid", "node_pid"):
                pid = job.get(key)
                if pid:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(pid, signal.SIGKILL)
