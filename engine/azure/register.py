"""Register a model folder in an Azure ML workspace: the lab's last step, `az ml model create` done in steps
that can be watched, cancelled and resumed.

In order: the inputs are checked (name, version, tags), the version is checked to be free before any byte
moves (with the next free number offered), the folder goes to the workspace's default datastore
(`upload.py`), then azure-ai-ml registers the version pointing at the uploaded path, so the SDK itself sends
no file. The plan shows the equivalent `az ml model create` command before sending; the result shows the
model's id and its studio link.
"""

from __future__ import annotations

import json
import shlex
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from pydantic import BaseModel, Field, ValidationError

from engine.azure import validate
from engine.azure.datastore import workspace_container
from engine.azure.errors import AzureError, VersionExists, from_azure, workspace_missing
from engine.azure.transfer import ProgressListener
from engine.azure.upload import (
    DEFAULT_DATASTORE,
    FolderManifest,
    UploadResult,
    existing_blobs,
    scan_folder,
    upload_folder,
)
from engine.azure.workspace import WorkspaceRef, ml_client
from engine.redact import redact_value

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.core.credentials import TokenCredential

MODEL_TYPE = "custom_model"
STUDIO = "https://ml.azure.com"


class RegisterRequest(BaseModel):
    folder: Path
    name: str
    version: str
    workspace: WorkspaceRef
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    properties: dict[str, str] = Field(default_factory=dict)

    def checked(self) -> RegisterRequest:
        """The request with every field validated (raises InvalidInput with a hint)."""
        validate.check_name(self.name)
        validate.check_version(self.version)
        validate.check_description(self.description)
        return self.model_copy(
            update={
                "tags": validate.check_tags(self.tags),
                "properties": validate.check_tags(self.properties, what="property"),
            }
        )


class RegisterPlan(BaseModel):
    """What will be sent: shown before anything moves (`--dry-run`, the app's confirmation)."""

    request: RegisterRequest
    files: int
    total_bytes: int
    content_hash: str
    datastore_uri: str
    az_command: str


RESULT_FILE = "registration.json"
RESULT_SCHEMA = 1


class RegisterResult(BaseModel):
    """What a registration made: the register step writes it as `registration.json` in its output folder, and
    `olive-lab upload` and the app's upload screen read it back (`read_result`)."""

    schema_version: int = RESULT_SCHEMA
    model_id: str
    name: str
    version: str
    studio_url: str
    az_command: str
    datastore_uri: str
    upload: UploadResult


def read_result(folder: Path) -> RegisterResult | None:
    """The `registration.json` in a register step's output `folder`; None when there is none. A damaged one, or
    one written by a newer olive-lab, is refused with its path and what is wrong."""
    path = folder / RESULT_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise AzureError(f"{path}: cannot be read ({exc})") from None
    except ValueError as exc:
        raise AzureError(f"{path}: damaged ({exc})", "the model may still be registered: see Azure ML studio") from None
    version = raw.get("schema_version", 1) if isinstance(raw, dict) else 1
    if isinstance(version, int) and version > RESULT_SCHEMA:
        raise AzureError(
            f"{path}: written by a newer olive-lab "
            f"(registration format {version}; this one reads up to {RESULT_SCHEMA})",
            "upgrade olive-lab to read it",
        )
    try:
        return RegisterResult.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        raise AzureError(f"{path}: not a registration result ({where}: {first['msg']})") from None


def az_command(req: RegisterRequest) -> str:
    """The Azure CLI command that does the same registration (shown, never run)."""
    ws = req.workspace
    parts = [
        "az", "ml", "model", "create",
        "--name", req.name, "--version", req.version,
        "--path", str(req.folder), "--type", MODEL_TYPE,
        "--resource-group", ws.resource_group, "--workspace-name", ws.workspace_name,
        "--subscription", ws.subscription_id,
    ]  # fmt: skip
    if req.description:
        parts += ["--description", req.description]
    if req.tags:
        parts += ["--tags", *(f"{k}={v}" for k, v in req.tags.items())]
    return " ".join(shlex.quote(p) for p in redact_value(parts))


def studio_url(ws: WorkspaceRef, name: str, version: str, tenant_id: str | None = None) -> str:
    wsid = quote(
        f"/subscriptions/{ws.subscription_id}/resourcegroups/{ws.resource_group}/workspaces/{ws.workspace_name}",
        safe="/",
    )
    url = f"{STUDIO}/model/{quote(name)}:{quote(version)}/details?wsid={wsid}"
    return url + (f"&tid={tenant_id}" if tenant_id else "")


def plan(req: RegisterRequest, manifest: FolderManifest | None = None) -> RegisterPlan:
    req = req.checked()
    manifest = manifest or scan_folder(req.folder)
    return RegisterPlan(
        request=req,
        files=len(manifest.files),
        total_bytes=manifest.total_bytes,
        content_hash=manifest.content_hash,
        datastore_uri=f"azureml://datastores/{DEFAULT_DATASTORE}/paths/{manifest.blob_prefix}",
        az_command=az_command(req),
    )


def existing_versions(client: MLClient, name: str, workspace: WorkspaceRef | None = None) -> list[str]:
    """The versions of `name` in the workspace ([] when the name is new)."""
    # Deferred with azure-core.
    from azure.core.exceptions import ResourceNotFoundError

    try:
        return [str(m.version) for m in client.models.list(name=name)]
    except ResourceNotFoundError:
        return []
    except Exception as exc:
        raise from_azure(
            exc, what=f"listing versions of {name}", workspace=workspace.workspace_name if workspace else None
        ) from None


def check_version_free(client: MLClient, req: RegisterRequest) -> None:
    """Raise VersionExists (offering the next free number) when `req.version` is taken."""
    # Deferred with azure-core.
    from azure.core.exceptions import ResourceNotFoundError

    try:
        client.models.get(req.name, req.version)
    except ResourceNotFoundError as exc:
        if workspace_missing(exc):
            raise from_azure(exc, what="checking the version", workspace=req.workspace.workspace_name) from None
        return
    except Exception as exc:
        raise from_azure(exc, what="checking the version", workspace=req.workspace.workspace_name) from None
    taken = existing_versions(client, req.name, req.workspace)
    raise VersionExists(req.name, req.version, validate.next_number([*taken, req.version]))


def other_content_refused(exc: BaseException) -> bool:
    """The service's refusal of a version that exists with other content: `(UserError) Asset paths cannot be
    updated.`, which azure-ai-ml turns into AssetPathException where it recognises the text."""
    # Deferred: azure-ai-ml takes seconds to import (loaded already by whoever got this error from it).
    from azure.ai.ml.exceptions import AssetPathException

    return isinstance(exc, AssetPathException) or "asset paths cannot be updated" in str(exc).lower()


def in_place(container: Any, manifest: FolderManifest, job_output: str) -> UploadResult | None:
    """The upload's result when an Azure ML job's output already holds exactly the folder's files (same
    names and sizes) on the default datastore; None when it does not (then the folder is uploaded)."""
    from engine.azure.jobs import datastore_prefix

    datastore, prefix = datastore_prefix(job_output)
    if datastore != DEFAULT_DATASTORE:
        return None
    there = {name[len(prefix) + 1 :]: size for name, (size, _) in existing_blobs(container, prefix).items()}
    if there != {f.rel: f.size for f in manifest.files}:
        return None
    return UploadResult(datastore=datastore, blob_prefix=prefix,
                        datastore_uri=f"azureml://datastores/{datastore}/paths/{prefix}",
                        sent_bytes=0, sent_files=0, skipped_bytes=manifest.total_bytes,
                        skipped_files=len(manifest.files), seconds=0.0)  # fmt: skip


def register_folder(
    req: RegisterRequest,
    credential: TokenCredential,
    *,
    on_progress: ProgressListener | None = None,
    on_stage: Callable[[str], None] | None = None,
    cancel: threading.Event | None = None,
    blob_account_url: str | None = None,
    client_kwargs: dict[str, Any] | None = None,
    blob_kwargs: dict[str, Any] | None = None,
    tenant_id: str | None = None,
    job_output: str | None = None,
) -> RegisterResult:
    """Check, upload and register. `client_kwargs` reach azure-ai-ml's pipeline (a `transport`);
    `blob_kwargs` reach azure-storage-blob's (retries, timeouts); `blob_account_url` replaces the
    datastore's public endpoint."""
    # Deferred: azure-ai-ml takes seconds to import; only registration needs it.
    from azure.ai.ml.entities import Model

    stage = on_stage or (lambda _s: None)
    req = req.checked()
    stage("scanning the folder")
    manifest = scan_folder(req.folder)
    client = ml_client(req.workspace, credential, **(client_kwargs or {}))
    stage(f"checking that {req.name} version {req.version} is free")
    check_version_free(client, req)
    stage("reading the workspace's default datastore")
    container = workspace_container(
        client, credential, account_url=blob_account_url, workspace=req.workspace.workspace_name, **(blob_kwargs or {})
    )
    with container:
        uploaded = in_place(container, manifest, job_output) if job_output else None
        if uploaded is not None:
            stage(f"using the job's output where it is ({job_output}): nothing to upload")
        else:
            stage(f"uploading {len(manifest.files)} files to {DEFAULT_DATASTORE}")
            uploaded = upload_folder(manifest, container, on_progress=on_progress, cancel=cancel)
    stage(f"registering {req.name} version {req.version}")
    model = Model(
        name=req.name,
        version=req.version,
        type=MODEL_TYPE,
        path=uploaded.datastore_uri,
        description=req.description,
        tags=req.tags,
        properties=req.properties,
    )
    try:
        # A version that exists by now (registered since the check) is updated where its content is this
        # folder's, and refused where it is other content: the service answers no 409.
        created = client.models.create_or_update(model)
    except AzureError:
        raise
    except Exception as exc:
        if other_content_refused(exc):
            taken = existing_versions(client, req.name, req.workspace)
            raise VersionExists(req.name, req.version, validate.next_number([*taken, req.version])) from None
        raise from_azure(exc, what="registering the model", workspace=req.workspace.workspace_name) from None
    return RegisterResult(
        model_id=str(created.id),
        name=str(created.name),
        version=str(created.version),
        studio_url=studio_url(req.workspace, req.name, req.version, tenant_id),
        az_command=az_command(req),
        datastore_uri=uploaded.datastore_uri,
        upload=uploaded,
    )
