"""Azure failures as plain sentences: not signed in, no access, workspace not found, version exists, network
down, datastore unreachable. Every message passes through the redactor before it is built, so a token or key
in a service's answer never reaches a user or a log."""

from __future__ import annotations

import re
import socket

from engine.errors import OliveLabError
from engine.redact import redact


class AzureError(OliveLabError):
    """Any Azure failure; `kind` names it for the app and `--json` (a stable word, not a sentence)."""

    kind = "azure"
    status: int | None = None  # the HTTP status of the service's answer, if there was one
    code: str = ""  # the service's error code, if it gave one

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(redact(message), redact(hint) if hint else None)


class NotSignedIn(AzureError):
    kind = "not_signed_in"


class NoAccess(AzureError):
    kind = "no_access"


class WorkspaceNotFound(AzureError):
    kind = "workspace_not_found"


class WorkspaceUnresolved(AzureError):
    kind = "workspace_unresolved"


class InvalidInput(AzureError):
    kind = "invalid_input"


class VersionExists(AzureError):
    kind = "version_exists"

    def __init__(self, name: str, version: str, next_free: str | None) -> None:
        hint = f"use --version {next_free}" if next_free else "choose another version"
        super().__init__(f"model {name} version {version} already exists in the workspace", hint)
        self.name = name
        self.version = version
        self.next_free = next_free


class AssetNotFound(AzureError):
    kind = "asset_not_found"


class NetworkDown(AzureError):
    kind = "network_down"


class DatastoreUnreachable(AzureError):
    kind = "datastore_unreachable"


class Cancelled(AzureError):
    kind = "cancelled"


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if status is None:
        response = getattr(exc, "response", None)
        status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _service_message(exc: BaseException) -> str:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None)
    if code or message:
        return f"{code or 'error'}: {message or ''}".strip()
    reason = getattr(exc, "reason", None)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{reason}: {text}" if reason and reason not in text else text


_HOST = re.compile(r"host='([^']+)'|Failed to resolve '([^']+)'|https?://([^/:'\s]+)")
_DNS_WORDS = ("NameResolutionError", "Name or service not known", "Temporary failure in name resolution",
              "getaddrinfo failed", "nodename nor servname", "No address associated with hostname")  # fmt: skip


def _unreachable(exc: BaseException) -> tuple[str | None, str] | None:
    """(host, what failed) when `exc`, or anything it wraps, is a failure to reach a host (DNS, refused
    connection, timeout) rather than an answer from Azure; None otherwise."""
    # Deferred: azure-core is imported only when Azure is used.
    from azure.core.exceptions import ServiceRequestError

    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen) or len(seen) > 20:
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__, getattr(current, "inner_exception", None)]
    network = [e for e in seen if isinstance(e, (ServiceRequestError, ConnectionError, TimeoutError, socket.gaierror))]
    if not network:
        return None
    text = " ".join(str(e) for e in seen)
    match = _HOST.search(text)
    host = next((g for g in match.groups() if g), None) if match else None
    if any(isinstance(e, socket.gaierror) for e in seen) or any(w in text for w in _DNS_WORDS):
        why = "name resolution failed"
    elif any(isinstance(e, TimeoutError) for e in seen) or "timed out" in text.lower():
        why = "the connection timed out"
    else:
        why = "the connection failed"
    return host, why


# Storage's own 403 codes, each a different cause with a different fix; anything else is the workspace's roles.
STORAGE_403 = {
    "AuthorizationFailure": "the storage account's firewall or network rules refuse this machine: ask its owner to "
    "allow this network (storage account > Networking), or reach it through a private endpoint "
    "(OLIVE_LAB_AZURE_BLOB_URL)",
    "AuthorizationPermissionMismatch": "the datastore is reached with your own sign-in, which has no data role on "
    "the storage account: ask for the Storage Blob Data Contributor role on it",
    "KeyBasedAuthenticationNotPermitted": "the storage account does not allow shared-key (account key or SAS) "
    "access: ask for the Storage Blob Data Contributor role on it and make the datastore identity-based",
}
WORKSPACE_403 = "ask for the AzureML Data Scientist role on the workspace (or Contributor on its resource group)"


def error_code(exc: BaseException) -> str:
    """The service's error code of an Azure exception (a storage code or ARM's), or ""."""
    code = getattr(exc, "error_code", None) or getattr(getattr(exc, "error", None), "code", None)
    return str(getattr(code, "value", code) or "")


def forbidden_hint(exc: BaseException, detail: str = "") -> str:
    code = error_code(exc)
    for known, hint in STORAGE_403.items():
        if code == known or f"ErrorCode:{known}" in str(exc) or detail.startswith(f"{known}:"):
            return hint
    return WORKSPACE_403


def workspace_missing(exc: BaseException) -> bool:
    """True for ARM's answer about the workspace itself (not about something inside it) being absent."""
    low = _service_message(exc).lower()
    return "workspacenotfound" in low or (
        "resource 'microsoft.machinelearningservices/workspaces/" in low and "was not found" in low
    )


def from_azure(exc: BaseException, *, what: str, workspace: str | None = None) -> AzureError:
    """Turn an azure-core / azure-identity exception raised while doing `what` into one of ours (its HTTP
    status, if any, kept in `status`)."""
    if isinstance(exc, AzureError):
        return exc
    err = _from_azure(exc, what=what, workspace=workspace)
    err.status = _status_of(exc)
    err.code = error_code(exc)
    return err


def transient(err: AzureError) -> bool:
    """A failure that passes: the network, throttling (429), the service's own trouble (5xx)."""
    return err.kind == "network_down" or err.status in (408, 429) or (err.status or 0) >= 500


def _from_azure(exc: BaseException, *, what: str, workspace: str | None = None) -> AzureError:
    # Deferred: azure-core is imported only when Azure is used.
    from azure.core.exceptions import (
        ClientAuthenticationError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    name = type(exc).__name__
    detail = _service_message(exc)
    status = _status_of(exc)
    unreachable = _unreachable(exc)
    if unreachable is not None:  # before "not signed in": azure-identity wraps a network failure as one
        host, why = unreachable
        return NetworkDown(
            f"cannot reach {host}: {why} (while {what})" if host else f"network error while {what}: {why}",
            "check the connection (DNS, proxy, firewall); an upload resumes where it stopped",
        )
    if name == "CredentialUnavailableError" or (isinstance(exc, ClientAuthenticationError) and status is None):
        return NotSignedIn(
            f"not signed in to Azure while {what}: {detail}",
            "run `az login` (or `az login --use-device-code` over SSH), set a service principal in "
            "AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or sign in from the upload screen",
        )
    if status == 401 or isinstance(exc, ClientAuthenticationError):
        return NotSignedIn(
            f"Azure refused the sign-in while {what} (HTTP 401): {detail}",
            "your sign-in may have expired: run `az login` again",
        )
    if status == 403:
        return NoAccess(f"no access while {what} (HTTP 403): {detail}", forbidden_hint(exc, detail))
    if status == 404 or isinstance(exc, ResourceNotFoundError):
        if workspace and workspace_missing(exc):
            return WorkspaceNotFound(
                f"workspace {workspace} not found while {what}: {detail}",
                "check --workspace, --resource-group and --subscription (`az ml workspace list`)",
            )
        return AssetNotFound(f"not found while {what}: {detail}")
    if isinstance(exc, (ServiceRequestError, ServiceResponseError, ConnectionError, TimeoutError)):
        return NetworkDown(
            f"network error while {what}: {detail}", "check the connection; the upload resumes where it stopped"
        )
    return AzureError(f"Azure error while {what}: {detail}")
