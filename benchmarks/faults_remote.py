"""The fault bench's scenarios on the fake Azure ML service (Azurite plus the loopback job service of the
tests, tests/fakes/): a remote step's poller killed, passing errors from the service, a job cancelled, and an
upload killed between its upload and its registration. Needs node (for Azurite)."""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.faults_harness import (
    FAKE,
    LAB_TOML,
    ROOT,
    Result,
    Watch,
    cli,
    first_run,
    has,
    judge,
    kill,
    run_folders,
    timed_cancel,
    try_state,
)

SITE = ROOT / "tests" / "fakes" / "azure_site"


@dataclass
class RemoteCloud:
    root: Path
    azurite: Any
    spec: dict[str, Any]

    @classmethod
    def start(cls, root: Path) -> RemoteCloud | None:
        from azure.storage.blob import BlobServiceClient

        from tests.azure_helpers import ACCOUNT_KEY, CONTAINER, RG, SUB, WS
        from tests.fakes.azure_jobs import DEFAULT_COMPUTES, DEFAULT_KNOBS
        from tests.fakes.azurite import Azurite, node_missing_reason

        if node_missing_reason():
            return None
        root.mkdir(parents=True)
        (shims := root / "node-bin").mkdir()
        (shims / "olive").write_text(f'#!/bin/sh\nexec python {FAKE} "$@"\n')
        (shims / "olive").chmod(0o755)
        az = Azurite(root / "azurite").start()
        BlobServiceClient.from_connection_string(az.connection_string).create_container(CONTAINER)
        (jobs := root / "aml-jobs").mkdir()
        spec = {"subscription": SUB, "resource_group": RG, "workspace": WS, "account_key": ACCOUNT_KEY,
                "blob_url": az.url, "jobs_dir": str(jobs), "location": "eastus",
                "computes": [dict(c) for c in DEFAULT_COMPUTES],
                "jobs": {**DEFAULT_KNOBS, "path_prepend": str(shims),
                         "env_cache": os.environ.get("OLIVE_LAB_NODE_ENV_CACHE") or str(root / "envs")}}  # fmt: skip
        return cls(root, az, spec)

    def env(self, **top: Any) -> dict[str, str]:
        spec = {**self.spec, **top}
        (self.root / "no-az").mkdir(exist_ok=True)
        return {
            **os.environ,
            "OLIVE_LAB_FAKE_AZURE": json.dumps(spec),
            "AZURE_CONFIG_DIR": str(self.root / "no-az"),
            "PYTHONPATH": os.pathsep.join([str(SITE), str(ROOT)]),
            "OLIVE_LAB_AZURE_POLL_S": "0.2",
            "FAKE_OLIVE_DELAY": "0.02",
            "HF_HUB_OFFLINE": "1",
            "OLIVE_LAB_OLIVE": f"{sys.executable} {FAKE}",
        }

    def lab(self, root: Path, name: str) -> Path:
        from tests.azure_helpers import RG, SUB, WS

        lab = root / f"{name}-{time.time_ns()}"
        lab.mkdir()
        (lab / "config.json").write_text(
            json.dumps({"subscription_id": SUB, "resource_group": RG, "workspace_name": WS})
        )
        (lab / "lab.toml").write_text(LAB_TOML)
        return lab

    def job(self, name: str) -> dict[str, Any]:
        from tests.fakes.azure_jobstore import JobStore

        return dict(JobStore(self.spec["jobs_dir"]).read(name))

    def stop(self) -> None:
        from tests.fakes.azure_jobstore import JobStore

        JobStore(self.spec["jobs_dir"]).kill_all()
        self.azurite.kill()


def _job_running(run_dir: Path | None, timeout: float = 300) -> Any:
    deadline = time.time() + timeout
    while run_dir is not None and time.time() < deadline:
        state = try_state(run_dir)
        job = state.step("finetune").remote if state is not None else None
        if state is not None and (state.finished or (job is not None and job.status == "Running" and job.log_offsets)):
            return state
        time.sleep(0.1)
    return None


def remote_kill_poller(root: Path, rng: random.Random, cloud: RemoteCloud) -> Result:
    """The poller killed while its job runs: the run goes on (the job is the truth); the next command resumes."""
    lab, env = cloud.lab(root, "remote-kill"), cloud.env()
    cli(lab, "pipeline", "run", "--on", "azureml:gpu-a100", "--detach", env=env)
    watch, run_dir = Watch(lab), first_run(lab)
    state = _job_running(run_dir)
    time.sleep(rng.uniform(0.0, 1.0))
    kill(state.supervisor_pid if state is not None else None)
    deadline = time.time() + 30
    while (
        run_dir is not None and time.time() < deadline and not (try_state(run_dir) and try_state(run_dir).poller_gone)
    ):
        time.sleep(0.1)
    cli(lab, "runs", "show", env=env)  # any command takes the run up again
    return judge("remote_kill_poller", lab, watch, None, lambda s, _: has(s, "done") and s.poller_gone is None)


def remote_transient(root: Path, rng: random.Random, cloud: RemoteCloud) -> Result:
    """More 503s and 429s than the SDK's own retries absorb, and expired log links: the run rides them out."""
    lab = cloud.lab(root, "remote-flaky")
    env = cloud.env(
        flaky=[["GET", r"/details$", 503, rng.randint(4, 10)], ["GET", r"/details$", 429, rng.randint(2, 6)]],
        expired_log_sas=rng.randint(0, 2),
    )
    cli(lab, "pipeline", "run", "--on", "azureml:gpu-a100", "--detach", env=env)
    watch = Watch(lab)
    first_run(lab)
    return judge("remote_transient", lab, watch, None, lambda s, _: has(s, "done"))


def remote_cancel(root: Path, rng: random.Random, cloud: RemoteCloud) -> Result:
    lab, env = cloud.lab(root, "remote-cancel"), {**cloud.env(), "FAKE_OLIVE_HANG": "1"}
    cli(lab, "pipeline", "run", "--on", "azureml:gpu-a100", "--detach", env=env)
    watch, run_dir = Watch(lab), first_run(lab)
    _job_running(run_dir)
    took = timed_cancel(lab, env)

    def fits(state: Any, _: list[Any]) -> bool:
        job = state.step("finetune").remote
        return has(state, "cancelled", "cancelled by the user") and cloud.job(job.job_name)["status"] == "Canceled"

    return {**judge("remote_cancel", lab, watch, None, fits), "remote_cancel_s": took[0]}


def upload_kill(root: Path, rng: random.Random, cloud: RemoteCloud) -> Result:
    """An upload killed between its upload and its registration: the run says so; the next upload sends nothing
    again and registers."""
    from tests.azure_helpers import make_model_folder

    lab, env = cloud.lab(root, "upload"), cloud.env()
    folder = make_model_folder(lab / "model-src", total_mb=2)
    version = str(rng.randint(1, 10_000))
    args = ("upload", "--path", str(folder), "--name", "travel", "--version", version, "--detach")
    cli(lab, *args, env=env)
    watch, run_dir = Watch(lab), first_run(lab)
    deadline = time.time() + 120
    while run_dir is not None and time.time() < deadline:
        log = run_dir / "register" / "step.log"
        state = try_state(run_dir)
        if state is None or state.finished or (log.exists() and "Running pass register:AzureML" in log.read_text()):
            break
        time.sleep(0.01)
    state = try_state(run_dir) if run_dir is not None else None
    kill(state.supervisor_pid if state is not None and not state.finished else None)
    verdict = judge(
        "upload_kill",
        lab,
        watch,
        None,
        lambda s, _: has(s, "failed", "supervisor killed by signal 9") or has(s, "done"),
    )
    if verdict.get("status") == "failed":
        again = cli(lab, *args[:-1], env=env)
        newest = run_folders(lab)[0]
        redone = try_state(newest)
        verdict["consistent"] = bool(verdict["consistent"] and again.returncode == 0 and redone is not None
                                     and redone.status == "done")  # fmt: skip
    return verdict


REMOTE_FAULTS: dict[str, Callable[[Path, random.Random, RemoteCloud], Result]] = {
    "remote_kill_poller": remote_kill_poller, "remote_transient": remote_transient,
    "remote_cancel": remote_cancel, "upload_kill": upload_kill,
}  # fmt: skip
