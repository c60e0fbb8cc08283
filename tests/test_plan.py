"""The run's one plan: what `--dry-run` prints is what the supervisor submits to Azure ML (compared with the
request bodies the loopback job service received, field by field) and what it records in state.json."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from engine.runs.state import read_state
from engine.steps.plan import STEP_ENV
from tests.conftest import olive_lab
from tests.helpers import POLL, as_run, fake_lab, only_run, remote_lab

UPLOADED = re.compile(r"^azureml://datastores/workspaceblobstore/paths/LocalUpload/[0-9a-f]{16,}/[^/]+/?$")


@pytest.mark.azure
@pytest.mark.usefixtures("node_env_built")
def test_the_dry_run_is_exactly_what_is_submitted(fake_jobs_cloud, tmp_path) -> None:
    extra = '[finetune.env]\nWANDB_MODE = "offline"\nHF_TOKEN = "hf_notsentnotsentnotsent"\n'
    lab = remote_lab(tmp_path, fake_jobs_cloud, extra=extra)
    dry = olive_lab("pipeline", "run", "--on", "azureml:gpu-a100", "--dry-run", "--json", lab=lab, check=True)
    planned = {item["step"]: item for item in json.loads(dry.stdout)}
    proc = olive_lab("pipeline", "run", "--on", "azureml:gpu-a100", lab=lab, env=POLL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    run = only_run(lab)
    state = read_state(run)
    assert state.plan is not None
    jobs = [name for name, item in planned.items() if item["job"]]
    assert jobs == ["finetune", "optimize"]  # quantize is off in this lab: the plan says so and runs none
    assert planned["quantize"]["off"] and not planned["quantize"]["argv"]
    for name in jobs:
        job = as_run(planned[name]["job"], run)
        # the plan the supervisor followed is the one printed
        assert state.plan.step(name).job.model_dump(mode="json") == job  # type: ignore[union-attr]
        stored = fake_jobs_cloud.store.read(job["name"])
        assert stored is not None, f"no job {job['name']} was submitted"
        body = stored["body"]
        assert body["displayName"] == job["display_name"] and body["experimentName"] == job["experiment"]
        assert body["computeId"].rsplit("/", 1)[-1] == job["compute"]
        assert body["command"] == job["command"]
        assert body["environmentId"].endswith(f"/environments/olive-lab/versions/{environment_digest(job)}")
        assert body["environmentVariables"] == job["environment_variables"]
        assert body["tags"] == job["tags"]
        assert {k: v["uri"] for k, v in body["outputs"].items()} == job["outputs"]
        assert set(body["inputs"]) == set(job["inputs"])
        for key, given in job["inputs"].items():
            sent = body["inputs"][key]
            if given["kind"] in ("code", "upload"):  # its URI is its content's hash, known once uploaded
                assert UPLOADED.match(sent["uri"]), (name, key, sent)
                if given["path"]:
                    assert sent["uri"].rstrip("/").endswith("/" + Path(given["path"]).name), (name, key, sent)
            else:
                assert sent["uri"] == given["uri"], (name, key, sent)
    # the secret is named in the plan, never valued, and never sent
    assert planned["finetune"]["job"]["withheld"] == ["HF_TOKEN"]
    # the job's log is unbuffered and sends no telemetry, as a step on this machine (the demo model needs no
    # hub); then the step's own table
    variables = {**STEP_ENV, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    assert planned["finetune"]["job"]["environment_variables"] == variables
    assert "hf_notsentnotsentnotsent" not in dry.stdout and "hf_notsentnotsentnotsent" not in json.dumps(
        fake_jobs_cloud.store.read(planned["finetune"]["job"]["name"].replace("<id>", run.name))
    )
    # optimize read finetune's output where its job left it
    assert planned["optimize"]["job"]["inputs"]["model"]["uri"] == planned["finetune"]["job"]["outputs"]["output"]


def environment_digest(job: dict[str, Any]) -> str:
    """The version of a job's environment: the digest of its build context (engine/azure/jobenv.py)."""
    from engine.azure.jobenv import JobEnvironment

    return JobEnvironment.model_validate(job["environment"]).digest


def test_a_run_records_and_runs_the_plan_its_dry_run_printed(demo_lab, tmp_path, fake_olive_env) -> None:
    lab = fake_lab(demo_lab, tmp_path)
    (lab / "lab.toml").write_text(
        'profile = "demo"\n[quantize]\nenabled = false\n[evaluate]\nenabled = false\n'
        '[finetune.env]\nWANDB_MODE = "offline"\nHF_TOKEN = "hf_notwrittennotwritten"\n'
    )
    dry = olive_lab("pipeline", "run", "--dry-run", "--json", lab=lab, env=fake_olive_env, check=True)
    assert "hf_notwrittennotwritten" not in dry.stdout
    proc = olive_lab("pipeline", "run", lab=lab, env=fake_olive_env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    run = only_run(lab)
    state = read_state(run)
    # the same plan, but for the run's id and folder (the printed line quotes the placeholder `<id>`)
    planned = as_run(json.loads(dry.stdout), run)
    assert state.plan is not None
    assert [s.model_dump(mode="json", exclude={"command_line"}) for s in state.plan.steps] == [
        {k: v for k, v in item.items() if k != "command_line"} for item in planned
    ]
    for item in planned:
        step = state.step(item["step"])
        if item["off"]:
            assert step.status == "skipped" and step.reason == item["off"]
        else:
            assert step.status == "done" and step.command == item["argv"], item["step"]
    finetune = planned[[i["step"] for i in planned].index("finetune")]
    own = {**STEP_ENV, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    assert finetune["env"] == [*({"name": k, "value": v} for k, v in own.items()), {"name": "HF_TOKEN", "value": None}]
    assert finetune["reuse"]["input"] == "model" and finetune["reuse"]["data"] == "all"  # quantize is off
    assert "hf_notwrittennotwritten" not in (run / "state.json").read_text()


def test_a_jobs_spec_is_its_plan_with_the_inputs_uploaded_and_no_secret_names() -> None:
    """JobPlan and JobSpec share their fields (engine.azure.jobs.JobFields): the spec is the plan's JSON with
    each input at its URI and without the withheld names; a field added to a job reaches both."""
    from engine.azure.jobenv import job_environment
    from engine.azure.jobs import JobSpec
    from engine.config import build_config
    from engine.steps.job_plan import JobInput, JobPlan

    image = build_config("demo").azure.image
    plan = JobPlan(
        name="olive-lab-1-finetune", display_name="finetune", experiment="olive-lab", compute="gpu-a100",
        command="olive finetune", image=image, environment=job_environment(image),
        inputs={"code": JobInput(kind="code", path="engine"),
                "model": JobInput(kind="registry", uri="azureml://registries/r/models/m/versions/1")},
        outputs={"output": "azureml://datastores/workspaceblobstore/paths/olive-lab/runs/1/finetune/output/"},
        environment_variables={"WANDB_MODE": "offline"}, withheld=["HF_TOKEN"], tags={"olive-lab.run": "1"},
    )  # fmt: skip
    spec = plan.spec({"code": "azureml://datastores/workspaceblobstore/paths/LocalUpload/abc/engine/"})
    assert isinstance(spec, JobSpec)
    expected = plan.model_dump(mode="json", exclude={"withheld"})
    expected["inputs"] = {"code": "azureml://datastores/workspaceblobstore/paths/LocalUpload/abc/engine/",
                          "model": "azureml://registries/r/models/m/versions/1"}  # fmt: skip
    assert spec.model_dump(mode="json") == expected
    assert set(JobPlan.model_fields) - set(JobSpec.model_fields) == {"withheld"}
    with pytest.raises(ValueError, match="no URI for input code"):
        plan.spec({})
