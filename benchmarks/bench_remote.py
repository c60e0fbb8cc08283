"""Following a remote job: requests a minute and CPU of olive-lab's poller and the delay of a new log line to
the monitor, beside azure-ai-ml's own `MLClient.jobs.stream` on an identical job of the same fake service.

Azurite and the loopback Azure ML job service (tests/fakes/azure_jobs.py) run outside pytest; each job prints
`line <i> <unix time>` every 0.5 s for --seconds. Three followers, side by side, each on its own job: the
poller (the run's supervisor, from `olive-lab pipeline run --on azureml:gpu-a100 --detach`, its finetune run
by a stand-in `olive` on the node's PATH) at 5 s (its default) and at 1 s (OLIVE_LAB_AZURE_POLL_S), a line
reaching it when a RunWatcher polling step.log every 0.2 s (as the monitor does) reads it; and `jobs.stream`
in a child process, a line reaching it on the child's stdout. Over each job's Running window: requests/min
(answered by the fake service for that process, plus its log blob GETs to Azurite, counted by a hook every
process loads through the benchmark's sitecustomize) and CPU s/min (user + system, also less what the fake
service, which answers in the caller's thread, spent). Targets: at 5 s the poller's CPU and requests/min <=
jobs.stream's; each poller's p95 delay <= its interval + 0.5 s. Needs node.

    python -m benchmarks.bench_remote [--seconds 60]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTS_SITE = ROOT / "tests" / "fakes" / "azure_site"
TALLY_ENV = "OLIVE_LAB_BENCH_TALLY"
LINE = re.compile(r"^line (\d+) (\d+\.\d+)$")
PRINTER = (
    "import sys, time\nfor i in range(int(sys.argv[1])):\n"
    "    print(f'line {i} {time.time():.3f}', flush=True)\n"
    "    time.sleep(0.5)\n"
)
SITECUSTOMIZE = f"""import runpy
runpy.run_path({str(TESTS_SITE / "sitecustomize.py")!r})  # the fake Azure of the tests
from benchmarks.bench_remote import instrument
instrument()
"""
DELAY_SLACK_S = 0.5


def instrument() -> None:
    """Loaded in every process of the benchmark (its sitecustomize): write to TALLY/<pid> each log blob GET
    (with its size) and the CPU time the in-process fake service spends answering each request."""
    tally = os.environ.get(TALLY_ENV)
    if not tally or not os.environ.get("OLIVE_LAB_FAKE_AZURE"):
        return
    from azure.core.pipeline.transport import RequestsTransport

    from tests.fakes.azure_jobs import FakeAzureJobs

    def note(kind: str, value: float) -> None:
        with open(Path(tally) / str(os.getpid()), "a") as fh:  # the pid now: the supervisor forks away
            fh.write(f"{time.time():.3f} {kind} {value}\n")

    fake_send, real_send = FakeAzureJobs.send, RequestsTransport.send

    def timed(self: Any, request: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return fake_send(self, request, **kwargs)
        finally:
            note("fake_cpu", time.thread_time() - start)

    def counted(self: Any, request: Any, **kwargs: Any) -> Any:
        response = real_send(self, request, **kwargs)
        if request.method == "GET" and "/ExperimentRun/" in request.url:
            note("blob_get", float(response.headers.get("Content-Length") or 0))
        return response

    FakeAzureJobs.send = timed  # type: ignore[method-assign]
    RequestsTransport.send = counted  # type: ignore[method-assign]


def stream_child(lines: int, printer: str) -> int:
    """Submit a job printing `lines` lines and follow it with azure-ai-ml's `jobs.stream` (its stdout is ours)."""
    from urllib.parse import urlparse

    from azure.ai.ml import MLClient
    from azure.core.pipeline.transport import RequestsTransport
    from azure.storage.blob import ContainerClient

    from engine.azure.jobenv import context_url, job_environment
    from engine.azure.jobs import JobSpec, submit
    from engine.azure.upload import scan_folder, upload_folder
    from engine.config import AzureConfig
    from tests.fakes.azure_jobs import FakeAzureJobs
    from tests.fakes.azure_ml import FakeCredential

    spec = json.loads(os.environ["OLIVE_LAB_FAKE_AZURE"])
    fake = FakeAzureJobs.from_spec(spec)
    blob_host, storage, to_fake = urlparse(spec["blob_url"]).netloc, RequestsTransport(), fake.send

    def send(request: Any, **kwargs: Any) -> Any:  # a log's SAS URL goes to blob storage, as in Azure
        if urlparse(request.url).netloc == blob_host:
            return storage.send(request, **kwargs)
        return to_fake(request, **kwargs)

    fake.send = send  # type: ignore[method-assign]
    client = MLClient(FakeCredential(), spec["subscription"], spec["resource_group"], spec["workspace"],
                      transport=fake, show_progress=False)  # fmt: skip
    name = f"bench-stream-{os.getpid()}"
    azure = AzureConfig()
    environment = job_environment(azure.image)  # built by the fake node once (its cache: the spec's env_cache)
    container = ContainerClient(
        spec["blob_url"],
        fake.container,
        credential={"account_name": fake.account_name, "account_key": spec["account_key"]},
    )
    with tempfile.TemporaryDirectory() as tmp:
        uploaded = upload_folder(scan_folder(environment.write(Path(tmp) / "environment")), container)
    submit(client, JobSpec(name=name, display_name=name, experiment=azure.experiment, compute="gpu-a100",
                           command=f"python {printer} {lines}", image=azure.image, environment=environment, inputs={},
                           outputs={"output": f"azureml://datastores/workspaceblobstore/paths/bench/{name}/"}),
           context_url(container.url, uploaded.datastore_uri))  # fmt: skip
    print(f"submitted {name}", flush=True)
    client.jobs.stream(name)
    return 0


@dataclass
class Side:
    label: str
    key: str  # its figures' prefix
    interval: float | None  # the poll interval (None: jobs.stream's own schedule)
    pid: int | None = None
    job: str | None = None
    lab: Path | None = None  # the poller's lab (its run folder once the run has started)
    run_dir: Path | None = None
    window: list[float] = field(default_factory=list)  # [start, end] of the job's Running status
    cpu: list[float] = field(default_factory=list)  # the process's CPU seconds at start and end
    delays: dict[int, float] = field(default_factory=dict)  # line number -> seconds to reach the follower

    def seen(self, text: str) -> None:
        m = LINE.match(text.strip())
        if m and int(m.group(1)) not in self.delays:
            self.delays[int(m.group(1))] = time.time() - float(m.group(2))


def _cpu(pid: int | None) -> float:
    import psutil

    try:
        return float(sum(psutil.Process(pid).cpu_times()[:2]))  # user + system
    except (psutil.Error, ValueError):
        return float("nan")


def _run_dir(lab: Path) -> Path | None:
    from engine.paths import LabPaths
    from engine.runs.state import iter_runs

    return next((entry.dir for entry in iter_runs(LabPaths.at(lab).runs) if entry.state is not None), None)


def _watch(side: Side, stop: threading.Event) -> None:
    """As the monitor follows a run: a RunWatcher polled every 0.2 s."""
    from engine.runs.watch import RunWatcher

    assert side.lab is not None
    while (run_dir := _run_dir(side.lab)) is None:
        if stop.wait(0.05):
            return
    side.run_dir, watcher = run_dir, RunWatcher(run_dir)
    while not stop.is_set():
        for _kind, text in watcher.poll().lines:
            side.seen(text)
        time.sleep(0.2)


def _read_stream(side: Side, proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    for text in proc.stdout:
        if text.startswith("submitted "):
            side.job = text.split()[1]
        side.seen(text)


def _lab(root: Path, name: str) -> Path:
    from tests.azure_helpers import RG, SUB, WS

    lab = root / name
    lab.mkdir()
    (lab / "config.json").write_text(json.dumps({"subscription_id": SUB, "resource_group": RG, "workspace_name": WS}))
    (lab / "lab.toml").write_text('profile = "demo"\n[quantize]\nenabled = false\n')
    return lab


def _environment(root: Path, az: Any, shims: Path) -> dict[str, str]:
    from tests.azure_helpers import ACCOUNT_KEY, RG, SUB, WS
    from tests.fakes.azure_jobs import DEFAULT_COMPUTES, DEFAULT_KNOBS

    site, jobs_dir, tally = root / "site", root / "aml-jobs", root / "tally"
    for folder in (site, jobs_dir, tally, root / "no-az"):
        folder.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    spec = {"subscription": SUB, "resource_group": RG, "workspace": WS, "account_key": ACCOUNT_KEY,
            "blob_url": az.url, "jobs_dir": str(jobs_dir), "location": "eastus",
            "computes": [dict(c) for c in DEFAULT_COMPUTES],
            "jobs": {**DEFAULT_KNOBS, "path_prepend": str(shims),
                     # the jobs' environment, built by the fake node once (about a minute)
                     "env_cache": os.environ.get("OLIVE_LAB_NODE_ENV_CACHE") or str(root / "envs")}}  # fmt: skip
    pythonpath = os.pathsep.join(filter(None, [str(site), str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "OLIVE_LAB_FAKE_AZURE": json.dumps(spec), "PYTHONPATH": pythonpath,
            "AZURE_CONFIG_DIR": str(root / "no-az"), TALLY_ENV: str(tally), "HF_HUB_OFFLINE": "1",
            "OLIVE_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}  # fmt: skip


def _figures(root: Path, side: Side, requests: list[tuple[float, int, str, str]]) -> dict[str, Any]:
    start, end = side.window
    minutes = (end - start) / 60
    mine = [(t, m, p) for t, pid, m, p in requests if pid == side.pid and start <= t <= end]
    noted: dict[str, list[float]] = {"fake_cpu": [], "blob_get": []}  # what `instrument` wrote in the window
    tally = root / "tally" / str(side.pid)
    for stamp, kind, value in (row.split() for row in (tally.read_text().splitlines() if tally.exists() else [])):
        if start <= float(stamp) <= end:
            noted[kind].append(float(value))
    cpu = side.cpu[1] - side.cpu[0]
    delays = sorted(side.delays.values())
    details = [t for t, _m, p in mine if p.endswith("/details")]
    kinds: dict[str, int] = {}
    for _t, method, path in mine:
        kind = f"{method} {'run details' if path.endswith('/details') else path.rsplit('/', 2)[-2]}"
        kinds[kind] = kinds.get(kind, 0) + 1
    return {
        "window_s": end - start,
        "requests_per_min": (len(mine) + len(noted["blob_get"])) / minutes,
        "service_requests_per_min": len(mine) / minutes,
        "blob_gets_per_min": len(noted["blob_get"]) / minutes,
        "log_kib_downloaded_per_min": sum(noted["blob_get"]) / 1024 / minutes,
        "cpu_s_per_min": cpu / minutes,
        "cpu_s_per_min_less_fake": (cpu - sum(noted["fake_cpu"])) / minutes,
        "lines_seen": len(delays),
        "delay_median_s": statistics.median(delays) if delays else float("nan"),
        "delay_p95_s": delays[min(len(delays) - 1, int(0.95 * len(delays)))] if delays else float("nan"),
        "delay_max_s": delays[-1] if delays else float("nan"),
        "poll_gaps_s": [round(b - a, 1) for a, b in itertools.pairwise(details)],
        "requests_by_kind": kinds,
    }


def _stop_run(side: Side, wait_s: float) -> None:
    """Let the run end on its own (its job has ended) for up to `wait_s`; then kill its supervisor and warden."""
    import psutil

    from engine.runs.state import RunFileError, read_state

    run_dir = _run_dir(side.lab) if side.lab is not None else None
    deadline, state = time.time() + wait_s, None
    while run_dir is not None:
        with contextlib.suppress(RunFileError):
            state = read_state(run_dir)
        if (state is not None and state.finished) or time.time() >= deadline:
            break
        time.sleep(0.3)
    if state is None or state.finished:
        return
    for pid in (state.supervisor_pid, state.warden_pid):
        with contextlib.suppress(psutil.Error, ValueError):
            proc = psutil.Process(pid)
            if "engine.runs.supervisor" in " ".join(proc.cmdline()):  # still that run's process
                proc.kill()


def run(seconds: int = 60) -> dict[str, Any]:
    from tests.azure_helpers import CONTAINER
    from tests.fakes.azure_jobstore import JobStore
    from tests.fakes.azurite import Azurite, node_missing_reason

    reason = node_missing_reason()
    if reason:
        return {"skipped": reason}
    lines = max(4, int(seconds / 0.5))
    sides = [Side("olive-lab poller, 5 s", "poller_5s", 5.0), Side("olive-lab poller, 1 s", "poller_1s", 1.0),
             Side("azure-ai-ml jobs.stream", "jobs_stream", None)]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="olive-lab-bench-remote-") as tmp:
        root = Path(tmp)
        (shims := root / "node-bin").mkdir()
        printer = shims / "printer.py"
        printer.write_text(PRINTER)
        (shims / "olive").write_text(f"#!/bin/sh\nexec {sys.executable} {printer} {lines}\n")  # any olive command
        (shims / "olive").chmod(0o755)
        az = Azurite(root / "azurite").start()
        store: JobStore | None = None
        stream: subprocess.Popen[str] | None = None
        stop = threading.Event()
        try:
            from azure.storage.blob import BlobServiceClient

            BlobServiceClient.from_connection_string(az.connection_string).create_container(CONTAINER)
            env = _environment(root, az, shims)
            store = JobStore(json.loads(env["OLIVE_LAB_FAKE_AZURE"])["jobs_dir"])
            threads = []
            for side in sides[:2]:
                lab = side.lab = _lab(root, f"lab-{int(side.interval or 0)}s")
                subprocess.run([sys.executable, "-m", "cli.launch", "pipeline", "run", "--on", "azureml:gpu-a100",
                                "--detach", "--lab", str(lab)], cwd=ROOT, check=True, capture_output=True,
                               env={**env, "OLIVE_LAB_AZURE_POLL_S": str(side.interval)})  # fmt: skip
                threads.append(threading.Thread(target=_watch, args=(side, stop), daemon=True))
            stream = subprocess.Popen([sys.executable, "-u", "-m", "benchmarks.bench_remote", "--stream-child",
                                       str(lines), "--printer", str(printer)], cwd=ROOT, env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
            sides[2].pid = stream.pid
            threads.append(threading.Thread(target=_read_stream, args=(sides[2], stream), daemon=True))
            for thread in threads:
                thread.start()
            print(f"following three jobs of {seconds} s each...", flush=True)
            _follow(sides, store, deadline=time.time() + seconds + 180)
            grace = time.time() + 40  # the last lines reach each follower at its next poll
            while time.time() < grace and any(len(s.delays) < lines for s in sides):
                time.sleep(0.2)
            stop.set()
            for side in sides[:2]:
                _stop_run(side, wait_s=30)
            requests = store.requests()
            figures = {s.key: _figures(root, s, requests) for s in sides if len(s.window) == 2}
        finally:
            stop.set()
            for side in sides[:2]:
                _stop_run(side, wait_s=0)
            if stream is not None and stream.poll() is None:
                stream.kill()
                stream.wait()
            if store is not None:
                store.kill_all()
            az.kill()
    return _report(figures, sides, lines)


def _follow(sides: list[Side], store: Any, deadline: float) -> None:
    """Note each job's Running window, with its follower's CPU time at both ends."""
    from engine.runs.state import RunFileError, read_state

    while time.time() < deadline and not all(len(s.window) == 2 for s in sides):
        for side in sides:
            if side.job is None and side.run_dir is not None:
                with contextlib.suppress(RunFileError):
                    state = read_state(side.run_dir)
                    remote = next((s.remote for s in state.steps if s.name == "finetune"), None)
                    if remote is not None and remote.job_name and state.supervisor_pid:
                        side.job, side.pid = remote.job_name, state.supervisor_pid
            job = store.read(side.job) if side.job else None
            running = job is not None and job["status"] == "Running"
            if (running and not side.window) or (len(side.window) == 1 and not running):  # it starts, it ends
                side.window.append(time.time())
                side.cpu.append(_cpu(side.pid))
        time.sleep(0.1)


def _report(figures: dict[str, dict[str, Any]], sides: list[Side], lines: int) -> dict[str, Any]:
    cols = (
        "requests/min",
        "service",
        "blob GET",
        "log KiB/min",
        "CPU s/min",
        "less fake",
        "median s",
        "p95 s",
        "lines",
    )
    keys = ("requests_per_min", "service_requests_per_min", "blob_gets_per_min", "log_kib_downloaded_per_min",
            "cpu_s_per_min", "cpu_s_per_min_less_fake", "delay_median_s", "delay_p95_s", "lines_seen")  # fmt: skip
    print(f"\n{'':26}" + "".join(f"{c:>13}" for c in cols))
    shown = [(s, figures[s.key]) for s in sides if s.key in figures]
    for side, fig in shown:
        print(
            f"{side.label:26}"
            + "".join(f"{fig[k]:>13.3g}" if isinstance(fig[k], float) else f"{fig[k]:>13}" for k in keys)
        )
    out: dict[str, Any] = {"lines_per_job": lines}
    print("  requests/min = service (answered by the fake job service: jobs.get, run details) + blob GET (log reads "
          "from Azurite);\n  CPU s/min of the follower's process, also less what the fake service spent in it; "
          "delay from a line's printing to the follower")  # fmt: skip
    for side, fig in shown:
        print(f"  {side.label}: window {fig['window_s']:.0f} s; {fig['requests_by_kind']}; run-details polls "
              f"{fig['poll_gaps_s']} s apart")  # fmt: skip
        out.update({f"{side.key}_{k}": fig[k] for k in (*keys, "delay_max_s", "window_s")})
    default, stream = figures.get("poller_5s"), figures.get("jobs_stream")
    if default and stream:
        for what, key in (("CPU s/min", "cpu_s_per_min"), ("CPU s/min less fake", "cpu_s_per_min_less_fake"),
                          ("requests/min", "requests_per_min")):  # fmt: skip
            met = "met" if default[key] <= stream[key] else "NOT met"
            out[f"target {what} (5 s) <= jobs.stream"] = f"{default[key]:.3g} vs {stream[key]:.3g}: {met}"
    for side, fig in shown:
        if side.interval is not None:
            limit = side.interval + DELAY_SLACK_S
            met = "met" if fig["delay_p95_s"] <= limit else "NOT met"
            out[f"target p95 delay ({side.interval:g} s) <= {limit:g} s"] = f"{fig['delay_p95_s']:.2f} s: {met}"
    try:  # its schedule (seconds since it began streaming -> seconds to its next poll), from the SDK itself
        from azure.ai.ml.operations._job_ops_helper import _wait_before_polling

        steps = {t: _wait_before_polling(t) for t in (0, 30, 60, 90, 120, 180, 300)}
        out["jobs_stream_poll_interval_s_at"] = ", ".join(f"{t} s: {w}" for t, w in steps.items())
        print(f"  jobs.stream waits, after streaming for: {out['jobs_stream_poll_interval_s_at']}")
    except ImportError:
        pass
    for key, value in out.items():
        if key.startswith("target"):
            print(f"  {key}: {value}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--stream-child", type=int)
    parser.add_argument("--printer")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    if args.stream_child:
        return stream_child(args.stream_child, args.printer)
    print(json.dumps(run(args.seconds), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
