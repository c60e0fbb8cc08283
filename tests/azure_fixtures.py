"""Fixtures of the Azure step, CLI and screen tests (registered in conftest.py): a lab holding a finished
run with an ONNX-like output, and a fake Azure cloud (Azurite plus the fake control plane, installed in the
run's processes through tests/fakes/azure_site); `fake_jobs_cloud` adds Azure ML's job system."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.azure_helpers import ACCOUNT_KEY, RG, SUB, WS, container_client, make_model_folder, start_azurite
from tests.fakes.azure_jobstore import JobStore
from tests.fixtures.runfolders import finished_run

if TYPE_CHECKING:
    from azure.ai.ml import MLClient

    from tests.fakes.azure_jobs import FakeAzureJobs
    from tests.fakes.azurite import Azurite

SITE = Path(__file__).resolve().parent / "fakes" / "azure_site"


@pytest.fixture
def lab_with_run(tmp_path: Path) -> tuple[Path, Path]:
    lab = tmp_path / "lab"
    run_dir = finished_run(lab / "runs")
    out = run_dir / "optimize" / "output"
    folder = make_model_folder(tmp_path / "src", total_mb=3)
    for path in folder.rglob("*"):
        if path.is_file():
            dest = out / path.relative_to(folder)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(path.read_bytes())
    (run_dir / "data" / "train.jsonl").write_text('{"prompt": "p", "response": "r"}\n')
    return lab, run_dir


@pytest.fixture
def fake_cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    az = start_azurite(tmp_path / "azurite")
    spec = {"subscription": SUB, "resource_group": RG, "workspace": WS, "account_key": ACCOUNT_KEY,
            "blob_url": az.url}  # fmt: skip
    monkeypatch.setenv("OLIVE_LAB_FAKE_AZURE", json.dumps(spec))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(SITE), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "no-az"))
    yield az, spec
    az.kill()  # its data is not needed again; a graceful stop waits 10 s for idle connections


@dataclass
class FakeJobsCloud:
    """What `fake_jobs_cloud` yields: Azurite, the spec every process of a run reads (OLIVE_LAB_FAKE_AZURE),
    the job service's on-disk state, and ways to talk to it in-process."""

    azurite: Azurite
    spec: dict[str, Any]
    monkeypatch: pytest.MonkeyPatch

    @property
    def store(self) -> JobStore:
        return JobStore(self.spec["jobs_dir"])

    def configure(self, **changes: Any) -> None:
        """Change the spec for every process started from now on (and for `transport()`): job knobs go under
        "jobs" (queue_s, prepare_s, submit_error, fail, path_prepend, env_cache); other keys at the top level."""
        from tests.fakes.azure_jobs import DEFAULT_KNOBS

        knobs = {k: v for k, v in changes.items() if k in DEFAULT_KNOBS}
        self.spec["jobs"] = {**self.spec.get("jobs", {}), **knobs}
        self.spec.update({k: v for k, v in changes.items() if k not in knobs})
        self.monkeypatch.setenv("OLIVE_LAB_FAKE_AZURE", json.dumps(self.spec))

    def transport(self) -> FakeAzureJobs:
        from tests.fakes.azure_jobs import FakeAzureJobs

        return FakeAzureJobs.from_spec(self.spec)

    def client(self, transport: FakeAzureJobs | None = None) -> MLClient:
        from azure.ai.ml import MLClient

        from tests.fakes.azure_ml import FakeCredential

        return MLClient(FakeCredential(), SUB, RG, WS, transport=transport or self.transport(), show_progress=False)

    def upload(self, path: str, data: bytes) -> None:
        """Put a blob in the workspace's datastore container (`path` inside it)."""
        container_client(self.azurite).upload_blob(path, data, overwrite=True)

    def blobs(self, prefix: str = "") -> dict[str, bytes]:
        client = container_client(self.azurite)
        return {b.name: client.download_blob(b.name).readall() for b in client.list_blobs(name_starts_with=prefix)}


@pytest.fixture(scope="session")
def node_env_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the fake node keeps the job environments it builds (by the hash of their spec): one folder a
    session. OLIVE_LAB_NODE_ENV_CACHE names a folder kept between sessions instead."""
    kept = os.environ.get("OLIVE_LAB_NODE_ENV_CACHE")
    return Path(kept) if kept else tmp_path_factory.mktemp("node-envs")


@pytest.fixture(scope="session")
def node_env_built(node_env_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The environment of the product's own jobs, built into the cache before any test's clock runs (about a
    minute, once a session): tests whose jobs run use it."""
    from engine.azure.jobenv import job_environment
    from engine.config import AzureConfig
    from tests.fakes.azure_image import environment

    scratch = tmp_path_factory.mktemp("job-env")
    context = job_environment(AzureConfig().image).write(scratch / "context")
    return environment({"build": {"contextUri": "", "dockerfilePath": "Dockerfile"}}, context, node_env_cache,
                       scratch / "build.log")  # fmt: skip


@pytest.fixture
def fake_jobs_cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, node_env_cache: Path):
    """Azurite plus the fake control plane with Azure ML's job system (tests/fakes/azure_jobs.py), installed in
    every Python process started with this environment; jobs run for real in detached node processes, in an
    environment built from the job's own spec (cached for the session), killed at teardown."""
    from tests.fakes.azure_jobs import DEFAULT_COMPUTES, DEFAULT_KNOBS

    az = start_azurite(tmp_path / "azurite")
    jobs_dir = tmp_path / "aml-jobs"
    jobs_dir.mkdir()
    spec = {"subscription": SUB, "resource_group": RG, "workspace": WS, "account_key": ACCOUNT_KEY,
            "blob_url": az.url, "jobs_dir": str(jobs_dir), "location": "eastus",
            "computes": [dict(c) for c in DEFAULT_COMPUTES],
            "jobs": {**DEFAULT_KNOBS, "env_cache": str(node_env_cache)}}  # fmt: skip
    monkeypatch.setenv("OLIVE_LAB_FAKE_AZURE", json.dumps(spec))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(SITE), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "no-az"))
    cloud = FakeJobsCloud(az, spec, monkeypatch)
    try:
        yield cloud
    finally:
        cloud.store.kill_all()
        az.kill()  # its data is not needed again, and a graceful stop waits for the SDK's idle connections
