"""The fake Azure ML job system (tests/fakes/azure_jobs.py, azure_node.py) driven by the real azure-ai-ml SDK
in-process: computes and VM sizes, a command job that really runs (inputs from Azurite, growing logs behind
SAS URLs, outputs back to Azurite), failure, image-build failure, cancel, quota refusal, an expiring token,
and the job outliving the process that submitted it."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.azure

IN = "olive-lab/tests/in/"
OUT = "olive-lab/tests/out/"
TERMINAL = ("Completed", "Failed", "Canceled")


def _job(name: str, cmd: str, inputs: str = IN, **kwargs: Any) -> Any:
    from azure.ai.ml import Input, Output, command
    from azure.ai.ml.entities import Environment

    env = Environment(image="mcr.microsoft.com/azureml/curated/acpt-pytorch-2.2-cuda12.1:latest",
                      conda_file={"name": "lab", "dependencies": ["python=3.10", {"pip": ["olive-ai==0.13.0"]}]})  # fmt: skip
    return command(command=cmd, environment=env, compute=kwargs.pop("compute", "gpu-a100"),
                   inputs={"data": Input(type="uri_folder", path=f"azureml://datastores/workspaceblobstore/paths/{inputs}")},
                   outputs={"result": Output(type="uri_folder", path=f"azureml://datastores/workspaceblobstore/paths/{OUT}",
                                             mode="rw_mount")},
                   name=name, experiment_name="olive-lab", display_name=name, tags={"lab": "test"}, **kwargs)  # fmt: skip


def _status(client: Any, name: str) -> str:
    status = client.jobs.get(name).status
    return getattr(status, "value", status)  # a JobStatus str-enum: str() of it is "JobStatus.RUNNING"


def _wait(client: Any, name: str, until: tuple[str, ...] = TERMINAL, timeout: float = 20) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _status(client, name)
        if not seen or seen[-1] != status:
            seen.append(status)
        if status in until:
            return seen
        time.sleep(0.1)
    raise AssertionError(f"job {name} stuck: {seen}")


def test_computes_vm_sizes_and_refusals(fake_jobs_cloud) -> None:
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

    client = fake_jobs_cloud.client()
    assert client.workspaces.get(client.workspace_name).location == "eastus"
    computes = {c.name: c for c in client.compute.list()}
    gpu = client.compute.get("gpu-a100")
    assert set(computes) == {"gpu-a100", "cpu-d4"} and gpu.type == "amlcompute"
    assert (gpu.size, gpu.min_instances, gpu.max_instances) == ("Standard_NC24ads_A100_v4", 0, 4)
    assert list(client.compute.list_nodes("gpu-a100")) == []
    sizes = {s.name: s for s in client.compute.list_sizes(location="eastus")}
    assert sizes["Standard_NC24ads_A100_v4"].gpus == 1 and sizes["Standard_NC96ads_A100_v4"].gpus == 4
    assert sizes["Standard_NV36ads_A10_v5"].gpus == 1 and sizes["Standard_D4s_v3"].gpus == 0
    # SDK quirk: VmSize keeps the REST names for these (`vCPUs`, `memoryGB`); `v_cp_us`/`memory_gb` stay None
    assert sizes["Standard_NC24ads_A100_v4"].vCPUs == 24 and sizes["Standard_NC24ads_A100_v4"].memoryGB == 220.0
    # refusals: an unknown compute, the subscription's quota, a token that expired
    with pytest.raises(HttpResponseError) as unknown:
        client.jobs.create_or_update(_job("lab-run-nocompute", "echo hi", compute="gpu-missing"))
    assert unknown.value.status_code == 400 and "gpu-missing" in str(unknown.value)
    fake_jobs_cloud.configure(submit_error="quota")
    client = fake_jobs_cloud.client()
    with pytest.raises(HttpResponseError) as quota:
        client.jobs.create_or_update(_job("lab-run-quota", "echo hi"))
    assert quota.value.status_code == 400 and "OutOfQuota: Not enough cluster CPU quota" in quota.value.message
    assert fake_jobs_cloud.store.names() == []
    fake_jobs_cloud.configure(submit_error=None, token_fails_after=2)
    client = fake_jobs_cloud.client()
    client.compute.get("gpu-a100")
    client.compute.get("cpu-d4")
    with pytest.raises(ClientAuthenticationError, match="ExpiredAuthenticationToken"):
        client.compute.get("gpu-a100")


def test_command_job_runs_with_growing_logs_and_outputs(fake_jobs_cloud, tmp_path: Path) -> None:
    from azure.storage.blob import BlobClient

    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "lab-tool").write_text("#!/bin/bash\necho tool says \"$@\"\n")
    (tools / "lab-tool").chmod(0o755)
    fake_jobs_cloud.configure(path_prepend=str(tools))
    fake_jobs_cloud.upload(IN + "words.txt", b"alpha\nbeta\n")
    client = fake_jobs_cloud.client()
    script = ("lab-tool start; echo A=$A; for i in 1 2 3 4 5 6; do echo step $i; sleep 0.3; done; "
              "wc -l < ${{inputs.data}}/words.txt > ${{outputs.result}}/count.txt; echo done")  # fmt: skip
    job = client.jobs.create_or_update(_job("lab-run-ok", script, environment_variables={"A": "42"}))
    assert job.status == "NotStarted"
    assert job.studio_url.startswith("https://ml.azure.com/runs/lab-run-ok?wsid=/subscriptions/")
    seen, logs, nodes = [], [], set()
    for _ in range(200):
        status = _status(client, "lab-run-ok")
        if not seen or seen[-1] != status:
            seen.append(status)
        nodes.add((status, len(list(client.compute.list_nodes("gpu-a100")))))
        urls = client.jobs._runs_operations.get_run_details("lab-run-ok").log_files or {}
        if "user_logs/std_log.txt" in urls:
            logs.append(BlobClient.from_blob_url(urls["user_logs/std_log.txt"]).download_blob().readall().decode())
        if status in TERMINAL:
            break
        time.sleep(0.15)
    assert seen[-1] == "Completed", seen
    order = ["NotStarted", "Queued", "Preparing", "Running", "Finalizing", "Completed"]
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen) and "Running" in seen
    assert ("Queued", 0) in nodes and ("Running", 1) in nodes
    assert len({len(text) for text in logs}) >= 3, "the log did not grow across polls"
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(logs))
    assert logs[-1].splitlines() == ["tool says start", "A=42", *[f"step {i}" for i in range(1, 7)], "done"]
    details = client.jobs._runs_operations.get_run_details("lab-run-ok")
    url = details.log_files["user_logs/std_log.txt"]
    assert "/azureml/ExperimentRun/dcid.lab-run-ok/user_logs/std_log.txt?" in url
    assert BlobClient.from_blob_url(url).download_blob(offset=10).readall().decode() == logs[-1][10:]
    assert details.start_time_utc and details.end_time_utc and details.error is None
    assert fake_jobs_cloud.blobs(OUT) == {OUT + "count.txt": b"2\n"}
    finished = client.jobs.get("lab-run-ok")
    assert finished.creation_context.created_at is not None and finished.tags == {"lab": "test"}
    record = fake_jobs_cloud.store.read("lab-run-ok")
    assert record["requests"] > 10 and len(fake_jobs_cloud.store.requests()) > record["requests"]
    assert any(sig in url for sig in fake_jobs_cloud.store.sas_signatures())
    assert list(client.compute.list_nodes("gpu-a100")) == []


def test_failures_exit_code_missing_input_image_build(fake_jobs_cloud) -> None:
    fake_jobs_cloud.configure(queue_s=0.1, prepare_s=0.1)
    fake_jobs_cloud.upload(IN + "x", b"x")
    client = fake_jobs_cloud.client()
    client.jobs.create_or_update(_job("lab-run-bad", "echo partial > ${{outputs.result}}/p.txt; echo boom >&2; exit 3"))
    client.jobs.create_or_update(_job("lab-run-noinput", "echo hi", inputs="olive-lab/tests/nothing/"))
    fake_jobs_cloud.configure(fail="image_build")
    client = fake_jobs_cloud.client()
    client.jobs.create_or_update(_job("lab-run-image", "echo hi"))

    assert _wait(client, "lab-run-bad")[-1] == "Failed"
    details = client.jobs._runs_operations.get_run_details("lab-run-bad")
    assert details.error.error.code == "UserError"
    assert details.error.error.message.startswith("Execution failed. User process 'bash' exited with status code 3. "
                                                  "Please check log file 'user_logs/std_log.txt' for error details.")
    assert "boom" in details.error.error.message
    assert fake_jobs_cloud.blobs(OUT) == {OUT + "p.txt": b"partial\n"}  # rw_mount: what was written stays

    assert _wait(client, "lab-run-noinput")[-1] == "Failed"
    assert "StreamAccess.NotFound" in client.jobs._runs_operations.get_run_details("lab-run-noinput").error.error.message

    seen = _wait(client, "lab-run-image")
    assert seen[-1] == "Failed" and "Running" not in seen
    details = client.jobs._runs_operations.get_run_details("lab-run-image")
    assert "Image build failed" in details.error.error.message and "conda" in details.error.error.message
    assert "azureml-logs/20_image_build_log.txt" in details.log_files
    assert "user_logs/std_log.txt" not in details.log_files


def test_cancel_kills_the_command(fake_jobs_cloud) -> None:
    fake_jobs_cloud.configure(queue_s=0.1, prepare_s=0.1)
    fake_jobs_cloud.upload(IN + "x", b"x")
    client = fake_jobs_cloud.client()
    client.jobs.create_or_update(_job("lab-run-cancel", "echo $$ > ${{outputs.result}}/pid; sleep 30; echo never"))
    assert _wait(client, "lab-run-cancel", until=("Running",))[-1] == "Running"
    pid_file = fake_jobs_cloud.store.job_dir("lab-run-cancel") / "work" / "outputs" / "result" / "pid"
    for _ in range(50):
        if pid_file.exists() and pid_file.read_text().strip():
            break
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    poller = client.jobs.begin_cancel("lab-run-cancel")
    assert _status(client, "lab-run-cancel") in ("CancelRequested", "Canceled")
    poller.result(timeout=15)
    assert poller.done() and _status(client, "lab-run-cancel") == "Canceled"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    record = fake_jobs_cloud.store.read("lab-run-cancel")
    for _ in range(50):  # the node process ends too
        if not Path(f"/proc/{record['node_pid']}").exists():
            break
        time.sleep(0.1)
    assert not Path(f"/proc/{record['node_pid']}").exists()
    assert "never" not in (fake_jobs_cloud.store.job_dir("lab-run-cancel") / "logs/user_logs/std_log.txt").read_text()


def test_job_outlives_its_submitter_and_state_is_shared(fake_jobs_cloud) -> None:
    fake_jobs_cloud.configure(queue_s=0.1, prepare_s=0.1)
    fake_jobs_cloud.upload(IN + "x", b"x")
    # The child gets the fake the way a run's processes do: tests/fakes/azure_site replaces open_session
    submit = (
        "import time\n"
        "from azure.ai.ml import MLClient\n"
        "from engine.azure import session\n"
        "from tests.azure_helpers import RG, SUB, WS\n"
        "from tests.fakes.azure_jobs import FakeAzureJobs\n"
        "from tests.test_fake_azure_jobs import _job\n"
        "s = session.open_session()\n"
        "assert isinstance(s.client_kwargs['transport'], FakeAzureJobs)\n"
        "c = MLClient(s.credential, SUB, RG, WS, show_progress=False, **s.client_kwargs)\n"
        "c.jobs.create_or_update(_job('lab-run-orphan', 'sleep 1; echo survived > ${{outputs.result}}/s.txt'))\n"
        "print('submitted', flush=True)\n"
        "time.sleep(60)\n"
    )
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-c", submit], cwd=root, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "submitted"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    client = fake_jobs_cloud.client()
    assert _wait(client, "lab-run-orphan")[-1] == "Completed"
    assert fake_jobs_cloud.blobs(OUT) == {OUT + "s.txt": b"survived\n"}
    assert fake_jobs_cloud.store.read("lab-run-orphan")["requests"] >= 2  # counted across both processes
