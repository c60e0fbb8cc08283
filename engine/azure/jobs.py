"""A lab step as an Azure ML command job, as the service sees it: the compute clusters to run on, submission
of a typed `JobSpec` (built by the plan, `engine.steps.job_plan`: this module knows no step table), one poll of
the job (its status, its log files, its failure), reading a log from an offset, and cancel. The supervisor's
remote steps (`engine.runs.remote`) are the only caller.

Olive no longer has an Azure ML system of its own (0.9.3 removed it), so the job runs the step's own command
in an environment built from a Docker build context: the project's lock on a pinned PyTorch+CUDA image
(engine/azure/jobenv.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, Field

from engine.azure.errors import AzureError, WorkspaceUnresolved, from_azure
from engine.azure.jobenv import JobEnvironment
from engine.config import LabConfig
from engine.redact import redact

if TYPE_CHECKING:
    from azure.ai.ml import MLClient

    from engine.azure.auth import DeviceCodeHandler
    from engine.azure.session import AzureSession
    from engine.azure.workspace import WorkspaceRef

# Known GPU counts of Azure VM sizes, for when the workspace's region does not list the size.
_GPUS = {"standard_nc24ads_a100_v4": 1, "standard_nc48ads_a100_v4": 2, "standard_nc96ads_a100_v4": 4,
         "standard_nd96asr_v4": 8, "standard_nd96amsr_a100_v4": 8, "standard_nv36ads_a10_v5": 1,
         "standard_nv72ads_a10_v5": 2, "standard_nc4as_t4_v3": 1, "standard_nc64as_t4_v3": 4}  # fmt: skip


class ComputeInfo(BaseModel):
    """A compute cluster of the workspace, as the "run on" picker lists it."""

    name: str
    vm_size: str = ""
    gpus: int | None = None
    min_nodes: int = 0
    max_nodes: int = 0
    nodes: int | None = None  # nodes allocated now (None: could not be read)

    @property
    def line(self) -> str:
        gpus = "? GPU" if self.gpus is None else f"{self.gpus} GPU" + ("s" if self.gpus != 1 else "")
        now = "?" if self.nodes is None else str(self.nodes)
        return f"{self.name}  {self.vm_size}  {gpus}/node  nodes {now} now ({self.min_nodes}-{self.max_nodes})"


def list_computes(client: MLClient, *, location: str | None = None) -> list[ComputeInfo]:
    """The workspace's compute clusters (AmlCompute) with VM size, GPUs per node and nodes now."""
    try:
        clusters = [c for c in client.compute.list() if str(getattr(c, "type", "")).lower() == "amlcompute"]
    except Exception as exc:
        raise from_azure(exc, what="listing the workspace's compute clusters") from None
    sizes: dict[str, int] = {}
    try:
        where = location or client.workspaces.get(client.workspace_name).location
        sizes = {str(s.name).lower(): int(s.gpus or 0) for s in client.compute.list_sizes(location=where)}
    except Exception:  # the GPU count is a nicety: known sizes still show theirs
        pass
    found = []
    for c in clusters:
        size = str(getattr(c, "size", "") or "")
        try:
            nodes: int | None = sum(1 for _ in client.compute.list_nodes(c.name))
        except Exception:
            nodes = None
        found.append(ComputeInfo(
            name=c.name, vm_size=size, gpus=sizes.get(size.lower(), _GPUS.get(size.lower())),
            min_nodes=int(getattr(c, "min_instances", 0) or 0), max_nodes=int(getattr(c, "max_instances", 0) or 0),
            nodes=nodes,
        ))  # fmt: skip
    return sorted(found, key=lambda c: c.name)


def lab_client(
    config: LabConfig, lab_root: Path | None, on_device_code: DeviceCodeHandler | None = None
) -> tuple[WorkspaceRef, AzureSession, MLClient]:
    """The lab's workspace (`[azure]`, az defaults or config.json), a session signed in as `[azure] sign_in`
    says, and azure-ai-ml's client for it. Raises `WorkspaceUnresolved` when no workspace is set."""
    from engine.azure.assets import lab_workspace
    from engine.azure.auth import SignInMethod
    from engine.azure.session import open_session
    from engine.azure.workspace import ml_client

    ref = lab_workspace(config, lab_root)
    if ref is None:
        raise WorkspaceUnresolved(
            "no Azure ML workspace is set for remote steps",
            "set [azure] subscription_id, resource_group and workspace_name in lab.toml, or put the "
            "workspace's config.json in the lab folder",
        )
    session = open_session(
        SignInMethod(config.azure.sign_in), tenant_id=config.azure.tenant_id or None, on_device_code=on_device_code
    )
    return ref, session, ml_client(ref, session.credential, **session.client_kwargs)


def lab_computes(
    config: LabConfig, lab_root: Path | None, on_device_code: DeviceCodeHandler | None = None
) -> tuple[str, list[ComputeInfo]]:
    """(workspace name, its compute clusters) for the lab (the "run on" picker and `olive-lab computes`)."""
    ref, _session, client = lab_client(config, lab_root, on_device_code)
    return ref.workspace_name, list_computes(client)


InputT = TypeVar("InputT")


class JobFields(BaseModel, Generic[InputT]):
    """A command job's fields, in one place: the plan's job (`engine.steps.job_plan.JobPlan`, its inputs as the
    plan knows them) and the job as submitted (`JobSpec`, its inputs as URIs) are these with their own inputs."""

    name: str
    display_name: str
    experiment: str
    compute: str
    command: str
    image: str
    environment: JobEnvironment  # a Docker build context on `image` (engine/azure/jobenv.py)
    inputs: dict[str, InputT]
    outputs: dict[str, str]  # name -> azureml:// URI the job writes
    environment_variables: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)


class JobSpec(JobFields[str]):
    """One job as it is submitted, each input at its azureml:// URI (made from the run's plan by
    `engine.steps.job_plan.JobPlan.spec`)."""


def datastore_prefix(uri: str) -> tuple[str, str]:
    """(datastore, path) of an `azureml://datastores/<ds>/paths/<path>` URI."""
    m = re.match(r"^azureml://datastores/([^/]+)/paths/(.+?)/?$", uri)
    if not m:
        raise AzureError(f"{uri} is not a datastore path olive-lab can read")
    return m.group(1), m.group(2)


def submit(client: MLClient, spec: JobSpec, context: str) -> tuple[str, str | None]:
    """Create the job (once: a job of that name already there is taken as submitted), its environment built
    from the build context uploaded at blob URL `context`. (name, studio link)."""
    # Deferred: azure-ai-ml takes seconds to import.
    from azure.ai.ml import Input, Output, command
    from azure.ai.ml.entities import BuildContext, Environment

    try:
        there = client.jobs.get(spec.name)
        return str(there.name), getattr(there, "studio_url", None)
    except Exception as exc:
        if from_azure(exc, what="looking for the job").kind != "asset_not_found":
            raise from_azure(exc, what=f"looking for job {spec.name}") from None
    job = command(
        name=spec.name,
        display_name=spec.display_name,
        experiment_name=spec.experiment,
        compute=spec.compute,
        command=spec.command,
        environment=Environment(name="olive-lab", version=spec.environment.digest, build=BuildContext(path=context)),
        inputs={k: Input(type=input_type(v), path=v) for k, v in spec.inputs.items()},
        outputs={k: Output(type="uri_folder", path=v, mode="rw_mount") for k, v in spec.outputs.items()},
        environment_variables=spec.environment_variables,
        tags=spec.tags,
    )
    try:
        created = client.jobs.create_or_update(job)
    except Exception as exc:
        raise job_error(exc, f"submitting {spec.display_name} to {spec.compute}") from None
    return str(created.name), getattr(created, "studio_url", None)


def input_type(uri: str) -> str:
    """A job input's type: a registry model is a model asset; everything else a datastore folder."""
    return "custom_model" if re.match(r"^azureml://registries/[^/]+/models/", uri) else "uri_folder"


class JobSnapshot(BaseModel):
    """One poll of a job."""

    status: str
    log_files: dict[str, str] = Field(default_factory=dict)  # name -> URL (with its SAS: never written down)
    error: str | None = None
    studio_url: str | None = None


def poll(client: MLClient, name: str, *, with_job: bool = False) -> JobSnapshot:
    """The job's status, its log files so far and, once it failed, why: one request to the run history (the
    service behind `jobs.stream`), plus the job itself when asked (its studio link) or when the run history
    gives no status."""
    try:
        # A private helper of the SDK, the one `jobs.stream` polls with
        details: Any = client.jobs._runs_operations.get_run_details(name)
        status, studio = getattr(details, "status", None), None
        if with_job or not status:
            job = client.jobs.get(name)
            status, studio = getattr(job.status, "value", job.status), getattr(job, "studio_url", None)
    except Exception as exc:
        raise from_azure(exc, what=f"polling job {name}") from None
    error = None
    err = getattr(getattr(details, "error", None), "error", None)
    if err is not None and (getattr(err, "message", None) or getattr(err, "code", None)):
        error = redact(f"{err.code or 'error'}: {err.message or ''}".strip())
    return JobSnapshot(
        status=str(getattr(status, "value", status) or "Unknown"),  # a str enum: its value
        log_files=dict(getattr(details, "log_files", None) or {}),
        error=error,
        studio_url=studio,
    )


def read_log(url: str, offset: int, **blob_kwargs: Any) -> bytes:
    """The bytes of a job log from `offset` on (none when it has not grown)."""
    # Deferred: azure-storage-blob is needed only for Azure work.
    from azure.core.exceptions import HttpResponseError
    from azure.storage.blob import BlobClient

    try:
        with BlobClient.from_blob_url(url, **blob_kwargs) as blob:
            return bytes(blob.download_blob(offset=offset).readall())
    except HttpResponseError as exc:
        if exc.status_code == 416:  # nothing past `offset` yet
            return b""
        raise from_azure(exc, what="reading the job's log") from None


def cancel(client: MLClient, name: str) -> None:
    try:
        client.jobs.begin_cancel(name).wait(timeout=30)
    except Exception as exc:
        raise from_azure(exc, what=f"cancelling job {name}") from None


def job_error(exc: BaseException, what: str) -> AzureError:
    """An error of the job service in plain words: quota and capacity are named as such."""
    err = from_azure(exc, what=what)
    low = err.message.lower()
    if "quota" in low or "capacity" in low:
        return AzureError(err.message, "ask for more quota for this VM family in the region, or pick another cluster")
    return err


def main_log(files: dict[str, str]) -> str | None:
    """The log a step's own output goes to (Azure ML names it std_log.txt; older runtimes 70_driver_log)."""
    for wanted in ("user_logs/std_log.txt", "azureml-logs/70_driver_log.txt"):
        if wanted in files:
            return wanted
    return next((n for n in sorted(files) if Path(n).name.startswith("std_log")), None)
