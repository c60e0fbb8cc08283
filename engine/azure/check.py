"""`olive-lab azure check`: read-only calls that say, before any upload or job, whether what a remote run
needs is in order, each finding with its fix: the sign-in, the workspace, the datastore's access mode, the
storage behind it (reachable, and readable with the credential uploads will use), the roles these calls show,
the compute cluster the lab's steps run on and the quota of its VM family. Nothing is created or changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from engine.azure.errors import AzureError, forbidden_hint, from_azure


class Finding(BaseModel):
    check: str  # sign-in, workspace, datastore, storage, roles, cluster, quota
    ok: bool
    detail: str
    fix: str | None = None

    @property
    def line(self) -> str:
        mark = "ok  " if self.ok else "FAIL"
        return f"{mark} {self.check:9} {self.detail}" + (f"\n     {'':9} fix: {self.fix}" if self.fix else "")


def _failed(check: str, err: AzureError) -> Finding:
    return Finding(check=check, ok=False, detail=err.message, fix=err.hint)


def _field(obj: Any, *names: str) -> Any:
    """A field of an SDK entity, which may carry it as an attribute or (as the REST body had it) a dict key."""
    for name in names:
        value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if value is not None:
            return value
    return None


def run_checks(
    config: Any, lab_root: Path | None, clusters: Sequence[str], on_device_code: Any = None
) -> list[Finding]:
    """Every check, in order; one that cannot run because an earlier one failed is not run. `clusters`: the
    compute clusters the lab's steps are set to run on (`engine.steps.spec.lab_clusters`)."""
    from engine.azure.auth import get_token
    from engine.azure.jobs import lab_client

    found: list[Finding] = []
    try:
        ref, session, client = lab_client(config, lab_root, on_device_code)
        get_token(session.credential)
    except AzureError as exc:
        return [_failed("sign-in", exc)]
    found.append(Finding(check="sign-in", ok=True, detail=f"signed in ({session.method.value})"))
    try:
        ws = client.workspaces.get(ref.workspace_name)
    except Exception as exc:
        err = from_azure(exc, what="reading the workspace", workspace=ref.workspace_name)
        return [_failed("sign-in", err)] if err.kind == "not_signed_in" else [*found, _failed("workspace", err)]
    found.append(Finding(check="workspace", ok=True, detail=f"{ref.workspace_name} ({getattr(ws, 'location', '?')})"))
    found += _storage(client, session)
    found += _computes(client, clusters, str(getattr(ws, "location", "") or ""))
    return found


def _storage(client: Any, session: Any) -> list[Finding]:
    from azure.core.exceptions import HttpResponseError

    from engine.azure.datastore import workspace_container
    from engine.azure.upload import DEFAULT_DATASTORE

    out: list[Finding] = []
    try:
        store = client.datastores.get(DEFAULT_DATASTORE)
    except Exception as exc:
        return [_failed("datastore", from_azure(exc, what=f"reading the datastore {DEFAULT_DATASTORE}"))]
    kind = getattr(getattr(store, "credentials", None), "type", None)
    mode = str(getattr(kind, "value", kind) or "None")
    identity = mode.lower() == "none"
    try:
        client.datastores.get(DEFAULT_DATASTORE, include_secrets=True)
        secrets = True
    except HttpResponseError:
        secrets = False
    how = "identity-based (your own sign-in)" if identity else f"{mode} (its secret)"
    out.append(Finding(check="datastore", ok=True, detail=f"{DEFAULT_DATASTORE}: access {how}"))
    if identity or not secrets:
        why = (
            "the datastore is identity-based" if identity else "your role cannot read its secrets (listSecrets refused)"
        )
        out.append(Finding(check="roles", ok=True, detail=f"{why}: uploads and downloads use your own sign-in",
                           fix="this works with the Storage Blob Data Contributor role on the storage account; or ask "
                           "for AzureML Data Scientist on the workspace"))  # fmt: skip
    try:
        container = workspace_container(client, session.credential, account_url=session.blob_account_url,
                                        **{**session.blob_kwargs, "retry_total": 0})  # fmt: skip
        with container:
            next(iter(container.list_blobs(results_per_page=1)), None)
    except Exception as exc:
        err = from_azure(exc, what="listing the datastore's container")
        if err.status == 403:
            err = AzureError(err.message, forbidden_hint(exc))
        elif err.status is None and err.kind != "not_signed_in":
            err = AzureError(
                f"the storage account cannot be reached: {err.message}",
                "check the network (a firewall, a proxy, a private endpoint: OLIVE_LAB_AZURE_BLOB_URL)",
            )
        return [*out, _failed("storage", err)]
    out.append(Finding(check="storage", ok=True, detail=f"reachable and readable ({container.url})"))
    return out


def _computes(client: Any, wanted: Sequence[str], location: str) -> list[Finding]:
    from engine.azure.jobs import list_computes

    if not wanted:
        return [Finding(check="cluster", ok=True, detail="no step is set to run on Azure ML (run_on)")]
    try:
        clusters = {c.name: c for c in list_computes(client, location=location or None)}
    except AzureError as exc:
        return [_failed("cluster", exc)]
    out: list[Finding] = []
    sizes: dict[str, tuple[str, int]] = {}  # VM size -> (family, vCPUs)
    try:
        sizes = {str(s.name).lower(): (str(_field(s, "family") or ""), int(_field(s, "v_cp_us", "vCPUs") or 0))
                 for s in client.compute.list_sizes(location=location)}  # fmt: skip
        usage = {str(_field(u.name, "value") or "").lower(): (int(_field(u, "current_value", "currentValue") or 0),
                                                             int(_field(u, "limit") or 0))
                 for u in client.compute.list_usage(location=location)}  # fmt: skip
    except Exception as exc:
        usage = {}
        out.append(_failed("quota", from_azure(exc, what="reading the region's quota")))
    for name in wanted:
        cluster = clusters.get(name)
        if cluster is None:
            known = ", ".join(sorted(clusters)) or "none"
            out.append(
                Finding(
                    check="cluster",
                    ok=False,
                    detail=f"{name} is not a compute cluster of the workspace (there: {known})",
                    fix="create it in the studio, or set run_on to one that exists",
                )
            )
            continue
        out.append(Finding(check="cluster", ok=True, detail=cluster.line))
        family, vcpus = sizes.get(cluster.vm_size.lower(), ("", 0))
        used = usage.get(family.lower())
        if used is None:
            continue
        current, limit = used
        free = limit - current
        if free < max(1, vcpus):
            out.append(
                Finding(
                    check="quota",
                    ok=False,
                    detail=(
                        f"{family}: {current} of {limit} vCPUs in use in {location}: "
                        f"no node of {cluster.vm_size} can start"
                    ),
                    fix=f"ask for more {family} quota in {location} (portal: Quotas), or pick another cluster",
                )
            )
        else:
            out.append(Finding(check="quota", ok=True, detail=f"{family}: {free} of {limit} vCPUs free in {location}"))
    return out
