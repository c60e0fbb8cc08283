"""The fake Azure ML service refuses what the real one refuses (tests/fakes/azure_jobs.py, azure_ml.py), and its
node runs a job with nothing of the submitter's environment. Requests go straight through the fake's transport,
as azure-ai-ml sends them; only the last test runs a job."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from azure.core.rest import HttpRequest

from engine.azure.jobenv import job_environment
from tests.azure_helpers import ACCOUNT_KEY, RG, SUB, WS
from tests.conftest import FAKE_OLIVE, olive_lab
from tests.fakes.azure_jobs import FakeAzureJobs
from tests.fakes.azure_ml import ARM, BEARER_TOKEN
from tests.helpers import POLL, only_run, remote_lab

pytestmark = pytest.mark.azure
WS_PATH = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.MachineLearningServices/workspaces/{WS}"
API = "?api-version=2025-12-01"
CONTEXT = "http://127.0.0.1:10000/devstoreaccount1/azureml-blobstore-0000/LocalUpload/abc/environment/"


def service(tmp_path: Path) -> FakeAzureJobs:
    return FakeAzureJobs(SUB, RG, WS, account_key=ACCOUNT_KEY, jobs_dir=str(tmp_path / "jobs"),
                         blob_url="http://127.0.0.1:10000/devstoreaccount1")  # fmt: skip


def call(fake: FakeAzureJobs, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    request = HttpRequest(method, f"{ARM}{path}{API}", json=body, headers={"Authorization": f"Bearer {BEARER_TOKEN}"})
    response = fake.send(request)
    return response.status_code, json.loads(response.text() or "null")


def put_env(fake: FakeAzureJobs, version: str, context: str = CONTEXT, **extra: Any) -> tuple[int, Any]:
    props = {"build": {"contextUri": context, "dockerfilePath": "Dockerfile"}, "osType": "Linux", **extra}
    return call(fake, "PUT", f"{WS_PATH}/environments/olive-lab/versions/{version}", {"properties": props})


def job(**changes: Any) -> dict[str, Any]:
    props = {
        "jobType": "Command",
        "command": "echo ${{inputs.data}} > ${{outputs.output}}/seen",
        "environmentId": f"{WS_PATH}/environments/olive-lab/versions/1",
        "computeId": f"{WS_PATH}/computes/cpu-d4",
        "inputs": {"data": {"jobInputType": "literal", "value": "x"}},
        "outputs": {"output": {"jobOutputType": "uri_folder", "mode": "ReadWriteMount"}},
    }
    props.update(changes)
    return {"properties": {k: v for k, v in props.items() if v is not None}}


def test_a_job_whose_environment_was_never_created_is_refused_at_submit(tmp_path: Path) -> None:
    fake = service(tmp_path)
    status, body = call(fake, "PUT", f"{WS_PATH}/jobs/j1", job())
    assert status == 404 and "olive-lab and version 1" in body["error"]["message"]
    assert fake.store.read("j1") is None  # nothing ran


def test_an_environment_versions_content_cannot_change(tmp_path: Path) -> None:
    fake = service(tmp_path)
    assert put_env(fake, "1")[0] == 200
    assert put_env(fake, "1")[0] == 200  # the same content again: accepted
    status, body = put_env(fake, "1", context=CONTEXT.replace("abc", "def"))
    assert status == 400 and "cannot be changed" in body["error"]["message"]
    assert put_env(fake, "1", image="python:3.11")[0] == 400
    assert fake.store.environments()["olive-lab:1"]["properties"]["build"]["contextUri"] == CONTEXT


def test_the_products_environment_version_follows_its_content() -> None:
    """Its version is the build context's hash: another image (another Dockerfile) is another version, so a
    version is never sent again with other content."""
    a, b = job_environment("pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime"), job_environment("img:2")
    assert a.digest == job_environment(a.image).digest and a.digest != b.digest
    changed = a.model_copy(update={"requirements": [*a.requirements, "extra==1"]})
    assert changed.digest != a.digest


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"command": "python ${{inputs.code}}/run.py --out ${{outputs.output}}"}, "${{inputs.code}}"),
        ({"command": "ls ${{inputs.data}} > ${{outputs.result}}/x"}, "${{outputs.result}}"),
        ({"command": None}, "command"),
        ({"environmentId": None}, "environmentId"),
        ({"computeId": None}, "computeId"),
        ({"jobType": None}, "jobType"),
    ],
)
def test_a_job_with_an_undeclared_placeholder_or_a_missing_field_is_refused(
    tmp_path: Path, changes: dict[str, Any], said: str
) -> None:
    fake = service(tmp_path)
    assert put_env(fake, "1")[0] == 200
    status, body = call(fake, "PUT", f"{WS_PATH}/jobs/j1", job(**changes))
    assert status == 400 and said in body["error"]["message"]
    assert fake.store.read("j1") is None


@pytest.mark.parametrize(("name", "version"), [("ft for travel", "1"), ("-travel", "1"), ("travel", "1 2"),
                                               ("a" * 256, "1"), ("travel!", "1"), ("travel", "v" * 31)])  # fmt: skip
def test_the_registry_refuses_a_model_name_or_version_it_does_not_allow(
    tmp_path: Path, name: str, version: str
) -> None:
    fake = service(tmp_path)
    name, version = quote(name, safe=""), quote(version, safe="")  # as the SDK puts them in the path
    uri = "azureml://subscriptions/x/resourcegroups/y/workspaces/z/datastores/workspaceblobstore/paths/LocalUpload/a/m"
    props = {"modelType": "custom_model", "modelUri": uri}
    status, body = call(fake, "PUT", f"{WS_PATH}/models/{name}/versions/{version}", {"properties": props})
    assert status == 400 and body["error"]["code"] == "UserError"
    assert call(fake, "PUT", f"{WS_PATH}/models/travel.v2_x-1/versions/3", {"properties": props})[0] == 201


def test_a_job_gets_none_of_the_submitters_environment(fake_jobs_cloud, tmp_path: Path, node_env_built) -> None:
    lab = remote_lab(tmp_path, fake_jobs_cloud)
    shim = tmp_path / "node-bin" / "olive"  # the node's olive prints its environment first
    shim.write_text(f'#!/bin/sh\nenv | sort\nexec python {FAKE_OLIVE} "$@"\n')
    fake_jobs_cloud.configure(node_env={"FAKE_OLIVE_DELAY": "0"})
    planted = {"HF_TOKEN": "hf_plantedSubmitterToken0123456789", "OLIVE_LAB_TEST_SENTINEL": "sentinel-7f3a"}
    proc = olive_lab("pipeline", "run", "--on", "azureml:gpu-a100", lab=lab, env={**POLL, **planted})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    name = json.loads((only_run(lab) / "state.json").read_text())["steps"]
    finetune = next(s for s in name if s["name"] == "finetune")["remote"]["job_name"]
    log = fake_jobs_cloud.store.log_path(finetune).read_text()
    seen = dict(line.split("=", 1) for line in log.splitlines() if "=" in line and line.split("=", 1)[0].isupper())
    job_dir = str(fake_jobs_cloud.store.job_dir(finetune))
    assert seen["HOME"].startswith(job_dir) and seen["TMPDIR"].startswith(job_dir)
    assert seen["FAKE_OLIVE_DELAY"] == "0" and seen["AZUREML_RUN_ID"] == finetune
    assert not {"HF_TOKEN", "OLIVE_LAB_TEST_SENTINEL", "OLIVE_LAB_AZURE_POLL_S", "VIRTUAL_ENV"} & set(seen)
    for path in Path(job_dir).rglob("*"):
        if path.is_file() and path.stat().st_size < 2**22:
            text = path.read_text(errors="replace")
            assert not [v for v in planted.values() if v in text], path


@pytest.mark.parametrize("query", ["", "?api-version=2019-01-01", "?api_version=2025-12-01"])
def test_a_request_without_a_known_api_version_is_refused(tmp_path: Path, query: str) -> None:
    fake = service(tmp_path)
    url = f"{ARM}{WS_PATH}/environments/olive-lab/versions/1{query}"
    response = fake.send(HttpRequest("GET", url, headers={"Authorization": f"Bearer {BEARER_TOKEN}"}))
    assert response.status_code == 400 and "api-version" in response.text()
    assert call(fake, "GET", f"{WS_PATH}/environments/olive-lab/versions/1")[0] == 404  # with one: on to the route
