"""Azure models as a step's input: an `azureml://registries/...` catalog id or a workspace model id resolved
and downloaded, with byte progress, into the lab's model cache (the demo model's cache: private, sized and
emptied by `olive-lab cache clear`), and reused next time, so quantize and finetune take it like a local
folder. A bad id, a missing version or no access is a refusal before any step starts.

Ids understood:
- `azureml://registries/<registry>/models/<name>/versions/<version>` (the public catalog is `azureml`)
- `azureml://subscriptions/<s>/resourceGroups/<rg>/workspaces/<ws>/models/<name>/versions/<version>`
- `azureml:<name>:<version>` (a model of the lab's workspace)
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from pydantic import BaseModel

from engine.azure.datastore import workspace_container
from engine.azure.download import download_prefix
from engine.azure.errors import AssetNotFound, AzureError, InvalidInput, WorkspaceUnresolved, from_azure
from engine.azure.transfer import ProgressListener
from engine.azure.workspace import WorkspaceRef, ml_client, registry_client, resolve_workspace
from engine.redact import remember

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.core.credentials import TokenCredential
    from azure.storage.blob import ContainerClient

_REGISTRY = re.compile(r"^azureml://registries/([^/]+)/models/([^/]+)(?:/versions/([^/]+))?/?$")
_WORKSPACE = re.compile(
    r"^azureml://subscriptions/([^/]+)/resource[gG]roups/([^/]+)/(?:providers/Microsoft\.MachineLearningServices/)?"
    r"workspaces/([^/]+)/models/([^/]+)(?:/versions/([^/]+))?/?$"
)
_SHORT = re.compile(r"^azureml:([^:/]+)(?::([^:/]+))?$")
CACHE_FOLDER = "azureml"
MARKER = ".olive-lab-asset.json"


class AssetId(BaseModel):
    """A parsed Azure model id."""

    text: str
    name: str
    version: str
    registry: str | None = None
    workspace: WorkspaceRef | None = None

    @property
    def cache_key(self) -> str:
        where = (
            f"registry-{self.registry}"
            if self.registry
            else f"ws-{self.workspace.workspace_name if self.workspace else 'lab'}"
        )
        return f"{where}/{self.name}/{self.version}"


def is_azure_id(text: str) -> bool:
    return text.startswith("azureml:")


def parse_asset_id(text: str, workspace: WorkspaceRef | None = None) -> AssetId:
    """Parse an id; a missing version is refused (a model that changes under a run is not reproducible)."""
    text = text.strip()
    if m := _REGISTRY.match(text):
        registry, name, version = m.groups()
        ws = None
    elif m := _WORKSPACE.match(text):
        sub, rg, wsname, name, version = m.groups()
        ws = WorkspaceRef(subscription_id=sub, resource_group=rg, workspace_name=wsname)
        registry = None
    elif m := _SHORT.match(text):
        name, version = m.groups()
        registry, ws = None, workspace
        if ws is None:
            raise InvalidInput(
                f"{text} names a model of a workspace, and no workspace is set",
                "set [azure] subscription_id, resource_group and workspace_name in lab.toml",
            )
    else:
        raise InvalidInput(
            f"{text!r} is not an Azure model id",
            "use azureml://registries/<registry>/models/<name>/versions/<version> or azureml:<name>:<version>",
        )
    if not version:
        raise InvalidInput(f"{text} names no version", f"add /versions/<n> (e.g. {text.rstrip('/')}/versions/1)")
    return AssetId(text=text, name=unquote(name), version=unquote(version), registry=registry, workspace=ws)


def cached_path(models_dir: Path, asset: AssetId) -> Path | None:
    """The cached download of `asset`, when a complete one is there."""
    folder = models_dir / CACHE_FOLDER / asset.cache_key
    return folder if (folder / MARKER).is_file() else None


def _client_for(asset: AssetId, credential: TokenCredential, client_kwargs: dict[str, Any]) -> MLClient:

    if asset.registry:
        return registry_client(asset.registry, credential, **client_kwargs)
    assert asset.workspace is not None
    return ml_client(asset.workspace, credential, **client_kwargs)


def _registry_container(client: MLClient, asset: AssetId, model_uri: str) -> tuple[ContainerClient, str]:
    """A container client and path prefix for a registry model, through the registry's SAS hand-out."""
    # Deferred: the SDK's registry helpers and azure-storage-blob are needed only here. The helper is the
    # SDK's own (private) call behind `ml_client.models.download` for registries.
    from azure.ai.ml._utils._registry_utils import get_storage_details_for_registry_assets
    from azure.storage.blob import ContainerClient

    ops: Any = client.models
    sas_uri, kind = get_storage_details_for_registry_assets(
        service_client=ops._registry_service_client,
        asset_type="models",
        asset_name=asset.name,
        asset_version=asset.version,
        rg_name=ops._resource_group_name,
        reg_name=str(asset.registry),
        uri=model_uri,
    )
    url = urlparse(sas_uri)
    remember(url.query)
    container_name = url.path.lstrip("/").split("/")[0]
    if url.hostname in ("127.0.0.1", "localhost"):  # an emulator's path-style URL: /<account>/<container>/...
        account, container_name = url.path.lstrip("/").split("/")[:2]
        account_url = f"{url.scheme}://{url.netloc}/{account}"
    else:
        account_url = f"{url.scheme}://{url.netloc}"
    model_url = urlparse(model_uri)
    parts = model_url.path.strip("/").split("/")
    if model_url.hostname in ("127.0.0.1", "localhost"):
        parts = parts[1:]
    prefix = "/".join(parts[1:])  # after the container
    credential = url.query if kind == "SAS" else None
    return ContainerClient(account_url, container_name, credential=credential), prefix.rstrip("/")


def _workspace_container(
    client: MLClient, model_uri: str, credential: TokenCredential, blob_account_url: str | None
) -> tuple[ContainerClient, str]:
    m = re.search(r"/datastores/([^/]+)/paths/(.+)$", model_uri)
    if not m:
        raise AzureError(f"the model's files are at {model_uri}, which olive-lab cannot download")
    container = workspace_container(client, credential, m.group(1), account_url=blob_account_url)
    return container, m.group(2).rstrip("/")


def download_asset(
    asset: AssetId,
    models_dir: Path,
    credential: TokenCredential,
    *,
    on_progress: ProgressListener | None = None,
    cancel: threading.Event | None = None,
    client_kwargs: dict[str, Any] | None = None,
    blob_account_url: str | None = None,
) -> Path:
    """The local folder of `asset`: from the cache, or downloaded into it (atomically: a half download is
    never used)."""
    if found := cached_path(models_dir, asset):
        return found
    cancel = cancel or threading.Event()
    client = _client_for(asset, credential, client_kwargs or {})
    try:
        model = client.models.get(asset.name, asset.version)
    except Exception as exc:
        err = from_azure(exc, what=f"looking up {asset.text}")
        if err.kind == "asset_not_found":
            raise AssetNotFound(
                f"{asset.text} not found: no model {asset.name} version {asset.version}",
                "check the name and version in the catalog or the workspace",
            ) from None
        raise err from None
    try:
        if asset.registry:
            container, prefix = _registry_container(client, asset, str(model.path))
        else:
            container, prefix = _workspace_container(client, str(model.path), credential, blob_account_url)
    except AzureError:
        raise
    except Exception as exc:
        raise from_azure(exc, what=f"reading the files of {asset.text}") from None
    marker = AssetId.model_validate(asset).model_dump_json(exclude={"workspace"}) + "\n"
    with container:
        return download_prefix(
            container, prefix, models_dir / CACHE_FOLDER / asset.cache_key, what=asset.text,
            on_progress=on_progress, cancel=cancel, marker=(MARKER, marker),
        )  # fmt: skip


def lab_workspace(config: Any, lab_root: Path | None) -> WorkspaceRef | None:
    """The lab's workspace from `[azure]`, the az defaults or config.json; None when it is not set."""

    try:
        return resolve_workspace(lab_table=config.azure.model_dump(), lab_root=lab_root)
    except WorkspaceUnresolved:
        return None


def full_id(asset: AssetId) -> str:
    """The id with nothing left to the lab's settings (a step program needs no lab.toml to use it)."""
    if asset.registry:
        return f"azureml://registries/{asset.registry}/models/{asset.name}/versions/{asset.version}"
    assert asset.workspace is not None
    ws = asset.workspace
    return (f"azureml://subscriptions/{ws.subscription_id}/resourceGroups/{ws.resource_group}/workspaces/"
            f"{ws.workspace_name}/models/{asset.name}/versions/{asset.version}")  # fmt: skip


def model_asset(config: Any, lab_root: Path | None) -> AssetId | None:
    """The run's model as an Azure asset (None when it is not an Azure id); raises InvalidInput for a bad id."""
    if not is_azure_id(config.model):
        return None
    short = not config.model.startswith("azureml://")
    return parse_asset_id(config.model, lab_workspace(config, lab_root) if short else None)


def check_model_id(config: Any, lab_root: Path | None) -> str | None:
    """A refusal (one sentence) for a run whose model is a malformed Azure id; None when it is fine."""
    try:
        model_asset(config, lab_root)
    except AzureError as exc:
        return f"model: {exc.full()}"
    return None


def fetch_model(
    model_id: str, models_dir: Path, *, sign_in: str = "auto", tenant_id: str | None = None, log: Any = print
) -> Path:
    """The local folder of an Azure model id, downloaded into the cache when missing, with progress lines
    through `log` (the prepare step's log)."""
    from engine.azure.auth import SignInMethod
    from engine.azure.session import open_session

    asset = parse_asset_id(model_id)
    if found := cached_path(models_dir, asset):
        log(f"Azure model found in cache: {found}")
        return found
    session = open_session(SignInMethod(sign_in), tenant_id=tenant_id, on_device_code=lambda c: log(c.sentence()))
    log(f"Downloading {asset.text} into {models_dir / CACHE_FOLDER}")
    path = download_asset(
        asset, models_dir, session.credential, on_progress=lambda p: log("Download " + p.line()),
        client_kwargs=session.client_kwargs, blob_account_url=session.blob_account_url,
    )  # fmt: skip
    log(f"Azure model ready: {path}")
    return path
