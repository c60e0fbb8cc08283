"""Steps on Azure ML compute, against the loopback job service (tests/fakes/azure_jobs.py): the real
azure-ai-ml SDK submits and polls, the job's command really runs in a node process, its inputs and outputs
move through Azurite, and the run folder mirrors the job like a local step."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import cast

import psutil
import pytest

from engine.azure.jobenv import BUILDER_OLIVE, job_environment
from engine.config import AzureConfig
from engine.runs.events import LossEvent, read_events
from engine.runs.state import read_state
from tests.conftest import olive_lab
from tests.helpers import LOGS, POLL, only_run, remote_lab, remote_of

pytestmark = [pytest.mark.azure, pytest.mark.usefixtures("node_env_built")]  # jobs run in it


def wait_for(predicate, timeout: float = 60, what: str = "") -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def job_part(step_log: str) -> str:
    """A remote step's log without our own lines (its header and the poller's notes): the job's log."""
    return "".join(
        line for line in step_log.splitlines(keepends=True) if "[olive-lab]" not in line and not line.startswith("$ ")
    )


def lab_text(lab: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in lab.rglob("*") if p.is_file() and p.stat().st_size < 2**22)


def built_from_the_lock(cloud, job_name: str, venv: Path) -> bool:
    """Whether the job's environment is the lock's build context and the node ran it in the environment built from
    that context (tests/test_azure_jobenv.py checks that environment holds exactly the lock)."""
    job = cloud.store.read(job_name)
    image_log = cloud.store.job_dir(job_name) / "logs" / "azureml-logs" / "20_image_build_log.txt"
    return job["environment"] == f"olive-lab:{job_environment(AzureConfig().image).digest}" and (
        f"({venv.name})" in image_log.read_text())  # fmt: skip


def test_a_pipeline_on_azure_ml_mirrors_each_job_into_the_run_folder(fake_jobs_cloud, tmp_path, node_env_built) -> None:
    # the AWQ program runs for real from the job's code input; Olive's steps replay a real run's output
    lab = remote_lab(tmp_path, fake_jobs_cloud, quantize=True,
                     extra='[registration]\nenabled = true\nname = "travel"\nversion = "3"\n')  # fmt: skip
    proc = olive_lab("pipeline", "run", "--on", "azureml:gpu-a100", lab=lab, env=POLL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    run = only_run(lab)
    state = read_state(run)
    assert state.status == "done"
    for name in ("quantize", "finetune", "optimize"):
        step = state.step(name)
        job = fake_jobs_cloud.store.read(remote_of(step).job_name)
        assert step.status == "done" and remote_of(step).status == "Completed" and job["status"] == "Completed"
        assert (remote_of(step).studio_url or "").startswith("https://ml.azure.com/runs/" + remote_of(step).job_name)
        log = (run / name / "step.log").read_text()
        # the job's own log, byte for byte, in the step's log, among our notes on its states
        assert job_part(log).startswith(fake_jobs_cloud.store.log_path(remote_of(step).job_name).read_text())
        for seen in ("Queued (queued for a node)", "Preparing", "Running", "Completed"):
            assert seen in log
        assert built_from_the_lock(fake_jobs_cloud, remote_of(step).job_name, node_env_built)
    # the outputs came down and were judged like a local run's; the adapter is named as the lab names it
    assert (run / "finetune" / "output" / "adapter" / "adapter_config.json").is_file()
    assert (run / "optimize" / "output" / "travel.onnx_adapter").is_file()
    # optimize read finetune's output where the finetune job left it (nothing uploaded again)
    optimize_job = fake_jobs_cloud.store.read(remote_of(state.step("optimize")).job_name)
    assert remote_of(state.step("finetune")).output_uri.rstrip("/") in json.dumps(optimize_job)
    # the ONNX model is built by the ONNX builder's olive, as on a GPU machine here
    assert optimize_job["body"]["command"].split(" && ")[1].startswith(f"{BUILDER_OLIVE} ")
    # the same parser: loss events from the remote finetune's log
    assert any(isinstance(e, LossEvent) for e in read_events(run).events if e.step == "finetune")
    # the register step used the optimize job's output where it is: nothing of the model was uploaded
    registration = json.loads((run / "register" / "output" / "registration.json").read_text())
    assert registration["datastore_uri"] == remote_of(state.step("optimize")).output_uri.rstrip("/")
    assert registration["upload"]["sent_bytes"] == 0
    assert "Using the job's output where it is" in (run / "register" / "step.log").read_text()
    assert not [n for n in fake_jobs_cloud.blobs("LocalUpload/") if n.endswith((".onnx_adapter", "genai_config.json"))]
    # the SAS signatures the service handed out are nowhere in the lab
    written = lab_text(lab)
    assert not [sig for sig in fake_jobs_cloud.store.sas_signatures() if sig in written]


def test_dry_run_prints_the_job_specs_without_contacting_azure(fake_jobs_cloud, tmp_path) -> None:
    lab = remote_lab(tmp_path, fake_jobs_cloud)
    proc = olive_lab("pipeline", "run", "--on", "azureml:gpu-a100", "--dry-run", "--json", lab=lab, check=True)
    plan = json.loads(proc.stdout)
    assert [p["step"] for p in plan] == ["prepare", "quantize", "finetune", "optimize"]
    finetune = plan[2]["job"]
    assert finetune["compute"] == "gpu-a100" and finetune["command"].split(" && ")[1].startswith("olive finetune")
    assert set(finetune["inputs"]) == {"code", "data", "model"} and finetune["outputs"]["output"].startswith(
        "azureml://"
    )
    env = finetune["environment"]
    assert "olive-ai==0.13.0" in env["requirements"] and env["no_deps"] == ["autoawq==0.2.9"]
    assert env["lock"] == "locks/cuda.txt" and env["torch"] == "torch==2.13.0" and env["cuda"] == "13.0"
    assert plan[3]["job"]["command"].split(" && ")[1].startswith(f"{BUILDER_OLIVE} ")
    assert env["dockerfile"].startswith(f"FROM {env['image']}\n") and ":latest" not in env["image"]
    assert fake_jobs_cloud.store.requests() == []


def test_a_job_that_completes_without_its_output_fails_the_step_as_a_local_run_would(fake_jobs_cloud, tmp_path) -> None:
    lab = remote_lab(tmp_path, fake_jobs_cloud)
    fake_jobs_cloud.configure(node_env={"FAKE_OLIVE_LOG_AUTO_OPT": str(LOGS / "optimize_fail_torch_export.log")})
    proc = olive_lab("pipeline", "run", "--on", "azureml:gpu-a100", lab=lab, env=POLL)
    assert proc.returncode == 1
    optimize = read_state(only_run(lab)).step("optimize")
    assert optimize.status == "failed" and remote_of(optimize).status == "Completed"
    assert "(Olive exited 0 anyway)" in (optimize.reason or "") and "DynamicCache" in (optimize.reason or "")
    assert not (only_run(lab) / "optimize" / "output").exists()


def test_a_job_the_service_fails_fails_the_step_with_its_reason(fake_jobs_cloud, tmp_path) -> None:
    lab = remote_lab(tmp_path, fake_jobs_cloud)
    fake_jobs_cloud.configure(node_env={"FAKE_OLIVE_LOG_FINETUNE": str(tmp_path / "no-recording.log")})  # it crashes
    proc = olive_lab("pipeline", "run", "--on", "azureml:gpu-a100", lab=lab, env=POLL)
    assert proc.returncode == 1
    finetune = read_state(only_run(lab)).step("finetune")
    assert finetune.status == "failed" and remote_of(finetune).status == "Failed"
    assert "exited with status code" in (finetune.reason or "") and (finetune.reason or "").startswith(
        f"job {remote_of(finetune).job_name} failed: UserError"
    )
    assert not (only_run(lab) / "finetune" / "output").exists()


def test_a_quota_refusal_is_the_steps_reason_with_a_hint(fake_jobs_cloud, tmp_path) -> None:
    lab = remote_lab(tmp_path, fake_jobs_cloud)
    fake_jobs_cloud.configure(submit_error="quota")
    proc = olive_lab("pipeline", "run", "--on", "azureml:gpu-a100", lab=lab, env=POLL)
    assert proc.returncode == 1
    state = read_state(only_run(lab))
    finetune = state.step("finetune")
    assert finetune.status == "failed" and "OutOfQuota" in (finetune.reason or "")
    assert "ask for more quota" in (state.reason or "") and "Traceback" not in proc.stderr


def test_an_image_build_failure_is_the_steps_reason(fake_jobs_cloud, tmp_path) -> None:
    lab = remote_lab(tmp_path, fake_jobs_cloud)
    fake_jobs_cloud.configure(fail="image_build")
    proc = olive_lab("pipeline", "run", "--on", "azureml:gpu-a100", lab=lab, env=POLL)
    assert proc.returncode == 1
    finetune = read_state(only_run(lab)).step("finetune")
    assert finetune.status == "failed" and "image" in (finetune.reason or "").lower()


def test_cancel_cancels_the_job_and_remote_runs_take_no_lock(fake_jobs_cloud, tmp_path) -> None:
    lab = remote_lab(tmp_path, fake_jobs_cloud)
    fake_jobs_cloud.configure(node_env={"FAKE_OLIVE_HANG": "1"})
    olive_lab("pipeline", "run", "--on", "azureml:gpu-a100", "--detach", lab=lab, env=POLL, check=True)
    run = only_run(lab)
    wait_for(
        lambda: (r := read_state(run).step("finetune").remote) is not None and r.status == "Running", what="Running"
    )
    # a run whose steps all run remotely does not take this machine's one-run lock: a second one starts
    second = olive_lab("pipeline", "run", "--on", "azureml:gpu-a100", "--detach", lab=lab, env=POLL)
    assert second.returncode == 0, second.stderr
    proc = olive_lab("runs", "cancel", run.name, lab=lab, check=True)
    state = read_state(run)
    assert state.status == "cancelled", proc.stdout + proc.stderr
    job = fake_jobs_cloud.store.read(remote_of(state.step("finetune")).job_name)
    assert job["status"] == "Canceled" and state.step("finetune").status == "cancelled"
    assert "cancelling job" in (run / "finetune" / "step.log").read_text()
    other = next(p for p in (lab / "runs").iterdir() if p.name != run.name)
    olive_lab("runs", "cancel", other.name, lab=lab, check=True)  # while the service is there to hear it


def test_a_killed_poller_leaves_the_run_going_and_the_next_command_resumes_it(fake_jobs_cloud, tmp_path) -> None:
    lab = remote_lab(tmp_path, fake_jobs_cloud)
    fake_jobs_cloud.configure(node_env={"FAKE_OLIVE_DELAY": "0.02"})
    olive_lab("pipeline", "run", "--on", "azureml:gpu-a100", "--detach", lab=lab, env=POLL, check=True)
    run = only_run(lab)
    wait_for(lambda: (r := read_state(run).step("finetune").remote) is not None and r.status == "Running"
             and r.log_offsets, what="the log to start")  # fmt: skip
    before = read_state(run)
    assert before.supervisor_pid is not None
    os.kill(before.supervisor_pid, signal.SIGKILL)
    wait_for(lambda: read_state(run).poller_gone is not None, what="the warden's note")
    gone = read_state(run)
    assert gone.status == "running" and gone.step("finetune").status == "running"
    assert "signal 9" in (gone.poller_gone or "")
    shown = olive_lab("runs", "show", lab=lab, check=True)  # any command resumes polling
    assert "polling the Azure ML job of run" in shown.stderr
    wait_for(lambda: read_state(run).finished, timeout=120, what="the run to end")
    state = read_state(run)
    assert state.status == "done" and state.poller_gone is None
    step_log = (run / "finetune" / "step.log").read_text()
    job_log = fake_jobs_cloud.store.log_path(remote_of(state.step("finetune")).job_name).read_text()
    assert job_part(step_log) == job_log  # every byte once: resumed from where the log stopped
    assert "polling job" in step_log and "again, from byte" in step_log
    assert not psutil.pid_exists(before.supervisor_pid)


def test_an_expired_sign_in_stops_the_poller_not_the_run_and_signing_in_again_resumes_it(
    fake_jobs_cloud, tmp_path
) -> None:
    lab = remote_lab(tmp_path, fake_jobs_cloud)
    fake_jobs_cloud.configure(node_env={"FAKE_OLIVE_HANG": "1"})
    fake_jobs_cloud.configure(token_fails_after=40)  # enough to upload, submit and poll a while
    olive_lab("pipeline", "run", "--on", "azureml:gpu-a100", "--detach", lab=lab, env=POLL, check=True)
    run = only_run(lab)
    wait_for(lambda: read_state(run).poller_gone is not None, timeout=90, what="the poller to stop")
    state = read_state(run)
    finetune = state.step("finetune")
    assert state.status == "running" and finetune.status == "running" and remote_of(finetune).job_name
    assert "az login" in (state.poller_gone or "") and "the job goes on in Azure" in (state.poller_gone or "")
    assert fake_jobs_cloud.store.read(remote_of(finetune).job_name)["status"] == "Running"
    shown = olive_lab("runs", "show", lab=lab, env=POLL, check=True).stdout
    assert "polling stopped:" in shown
    fake_jobs_cloud.configure(token_fails_after=None)  # signed in again
    olive_lab("runs", "cancel", lab=lab, env=POLL, check=True)  # resumes the poller, which cancels the job
    state = read_state(run)
    assert state.status == "cancelled" and state.poller_gone is None
    assert fake_jobs_cloud.store.read(remote_of(finetune).job_name)["status"] == "Canceled"


def test_a_sweep_on_azure_ml_runs_its_branches_as_parallel_jobs(fake_jobs_cloud, tmp_path, node_env_built) -> None:
    lab = remote_lab(tmp_path, fake_jobs_cloud)
    fake_jobs_cloud.configure(node_env={"FAKE_OLIVE_DELAY": "0.01"})
    proc = olive_lab("sweep", "--set", "finetune.lora_r=4,8,16", "--on", "azureml:gpu-a100", "--golden", "0",
                     lab=lab, env=POLL)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    sweep = only_run(lab)
    branches = [read_state(sweep / "branches" / f"lora_r-{r}") for r in (4, 8, 16)]
    jobs = [fake_jobs_cloud.store.read(remote_of(b.step("finetune")).job_name) for b in branches]
    assert all(b.status == "done" for b in branches) and all(j["status"] == "Completed" for j in jobs)
    assert all(built_from_the_lock(fake_jobs_cloud, remote_of(b.step(s)).job_name, node_env_built)
               for b in branches for s in ("finetune", "optimize"))  # fmt: skip
    # parallel: every finetune job was submitted before any of them ended
    submitted = [remote_of(b.step("finetune")).submitted_at for b in branches]
    ended = [b.step("finetune").ended_at for b in branches]
    assert None not in submitted and None not in ended
    assert max(cast(list[float], submitted)) < min(cast(list[float], ended))
    assert {j["name"] for j in jobs} == {f"olive-lab-{sweep.name}-lora_r-{r}-finetune" for r in (4, 8, 16)}
    table = proc.stdout[proc.stdout.rindex("finetune.lora_r") :]
    rows = [line.split() for line in table.splitlines()[2:5]]
    assert [r[:2] for r in rows] == [["4", "done"], ["8", "done"], ["16", "done"]]
    assert all(r[-3] != "-" for r in rows)  # node-minutes of each branch's jobs, measured
    assert all(r[-2:] == ["-", "-"] for r in rows)  # no GPU of this machine used
    # a branch's model registers from its job's output where it is
    up = olive_lab("upload", "--run", sweep.name, "--branch", "lora_r-8", "--name", "travel-r8", "--version", "1",
                   lab=lab, env=POLL)  # fmt: skip
    assert up.returncode == 0, up.stdout + up.stderr
    uri = remote_of(branches[1].step("optimize")).output_uri.rstrip("/")
    registration = json.loads((only_run(lab) / "register" / "output" / "registration.json").read_text())
    assert registration["datastore_uri"] == uri and registration["upload"]["sent_bytes"] == 0
    refused = olive_lab("upload", "--run", sweep.name, "--name", "x", "--version", "1", lab=lab)
    assert refused.returncode == 2 and "pick a branch with --branch: lora_r-4, lora_r-8, lora_r-16" in refused.stderr


def test_computes_lists_the_workspaces_clusters_with_size_gpus_and_nodes(fake_jobs_cloud, tmp_path) -> None:
    lab = remote_lab(tmp_path, fake_jobs_cloud)
    proc = olive_lab("computes", lab=lab, check=True)
    assert "compute clusters of travel-project" in proc.stdout
    line = next(x for x in proc.stdout.splitlines() if "gpu-a100" in x)
    assert "Standard_NC24ads_A100_v4" in line and "1 GPU/node" in line and "nodes 0 now (0-4)" in line
    empty = tmp_path / "no-workspace"
    empty.mkdir()
    refused = olive_lab("computes", lab=empty)
    assert refused.returncode == 2 and "no Azure ML workspace is set" in refused.stderr and "hint:" in refused.stderr


def test_a_registry_model_is_the_jobs_input_where_it_is_not_uploaded_again(fake_jobs_cloud, tmp_path) -> None:
    from datetime import UTC, datetime, timedelta

    from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

    from tests.azure_helpers import ACCOUNT_KEY, make_model_folder

    # a catalog model in its registry's storage, which the registry hands out with a SAS URL
    service = BlobServiceClient.from_connection_string(fake_jobs_cloud.azurite.connection_string)
    store = service.create_container("registry-store")
    folder = make_model_folder(tmp_path / "catalog", total_mb=1, name="model")
    for path in (p for p in folder.rglob("*") if p.is_file()):
        store.upload_blob(f"models/Phi-mini/4/model/{path.relative_to(folder).as_posix()}", path.read_bytes())
    sas = generate_container_sas("devstoreaccount1", "registry-store", account_key=ACCOUNT_KEY,
                                 permission=ContainerSasPermissions(read=True, list=True),
                                 expiry=datetime.now(UTC) + timedelta(hours=1))  # fmt: skip
    catalog = "azureml://registries/azureml/models/Phi-mini/versions/4"
    fake_jobs_cloud.configure(registry_models=[[
        "azureml", "Phi-mini", "4",
        "https://registrystore.blob.core.windows.net/registry-store/models/Phi-mini/4/model",
        f"{fake_jobs_cloud.azurite.url}/registry-store?{sas}",
    ]])  # fmt: skip
    lab = remote_lab(tmp_path, fake_jobs_cloud)
    (lab / "lab.toml").write_text(f'model = "{catalog}"\n' + (lab / "lab.toml").read_text())
    proc = olive_lab("pipeline", "run", "--on", "azureml:gpu-a100", lab=lab, env=POLL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    finetune = read_state(only_run(lab)).step("finetune")
    job = fake_jobs_cloud.store.read(remote_of(finetune).job_name)
    model = job["body"]["inputs"]["model"]
    assert model["uri"] == catalog and model["jobInputType"] == "custom_model"
    # none of the model's files went up to the workspace's datastore
    assert not [n for n in fake_jobs_cloud.blobs("LocalUpload/") if n.endswith(("model.onnx.data", "tokenizer.json"))]


def test_polling_rides_out_throttling_a_busy_service_and_an_expired_log_link(fake_jobs_cloud, tmp_path) -> None:
    lab = remote_lab(tmp_path, fake_jobs_cloud)
    # more 503s and 429s in a row than azure-core's own retries absorb, then log links whose SAS has expired
    fake_jobs_cloud.configure(flaky=[["GET", r"/details$", 503, 10], ["GET", r"/details$", 429, 6]], expired_log_sas=2)
    proc = olive_lab("pipeline", "run", "--on", "azureml:gpu-a100", lab=lab, env=POLL)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    run = only_run(lab)
    log = (run / "finetune" / "step.log").read_text()
    assert "HTTP 503" in log and "trying again" in log and "Azure answered again" in log
    warned = [e for e in read_events(run).events if e.kind == "warning" and e.step == "finetune"]
    assert any("HTTP 503" in e.message for e in warned)  # the monitor says so too


def test_a_step_that_fails_on_our_side_cancels_its_job(fake_jobs_cloud, tmp_path) -> None:
    lab = remote_lab(tmp_path, fake_jobs_cloud, extra='[finetune]\nrun_on = "azureml:gpu-a100"\n')
    fake_jobs_cloud.configure(node_env={"FAKE_OLIVE_HANG": "1"})  # the job would run until cancelled
    fake_jobs_cloud.configure(flaky=[["GET", r"/details$", 400, 10_000]])  # the poller cannot go on
    proc = olive_lab("pipeline", "run", lab=lab, env=POLL)
    assert proc.returncode == 1
    finetune = read_state(only_run(lab)).step("finetune")
    assert finetune.status == "failed" and f"its job {remote_of(finetune).job_name} was cancelled" in (
        finetune.reason or ""
    )
    wait_for(
        lambda: fake_jobs_cloud.store.read(remote_of(finetune).job_name)["status"] == "Canceled", 60, "the job to end"
    )
