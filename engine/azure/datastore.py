"""A container client for one of the workspace's datastores, with the credential azure-ai-ml itself would use:
the datastore's secret (an account key, or a SAS that `listSecrets` hands out for one hour) or, when
`listSecrets` is refused or the datastore is identity-based, the user's own sign-in. A SAS is renewed before it
expires, between any two requests of a long transfer.

`OLIVE_LAB_AZURE_BLOB_URL` (see session.py) replaces the public endpoint: a private endpoint or an emulator.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from engine.azure.errors import from_azure
from engine.redact import remember

if TYPE_CHECKING:
    from azure.core.credentials import AzureSasCredential, TokenCredential
    from azure.storage.blob import ContainerClient

BLOCK_SIZE = 8 * 2**20  # bytes per block and per read: bounds memory at about BLOCK_SIZE x concurrency
SINGLE_PUT_LIMIT = 16 * 2**20  # azure-storage-blob's own single-put limit (it reads such a file whole)
RENEW_LEFT = 0.25  # a SAS is renewed once less than this share of its lifetime is left


def sas_expiry(sas: str) -> float | None:
    """When a SAS token expires (its `se` field), in seconds since the epoch; None if it does not say."""
    from datetime import datetime

    value = parse_qs(sas.lstrip("?")).get("se", [None])[0]
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class SasRenewer:
    """Keeps a SAS credential fresh: before each request (azure-storage-blob's `raw_request_hook`, which runs
    before the credential is applied, retries included), a SAS with less than a quarter of its lifetime left is
    replaced by a new one from `fetch` (the datastore's `listSecrets` again)."""

    def __init__(self, sas: str, fetch: Any) -> None:
        from azure.core.credentials import AzureSasCredential

        self.credential: AzureSasCredential = AzureSasCredential(sas.lstrip("?"))
        self.fetch = fetch
        self.renewals = 0
        self._lock = threading.Lock()
        self._set(sas)

    def _set(self, sas: str) -> None:
        self.obtained = time.time()
        self.expires = sas_expiry(sas)

    def due(self) -> bool:
        if self.expires is None:
            return False
        lifetime = max(1.0, self.expires - self.obtained)
        return self.expires - time.time() < lifetime * RENEW_LEFT

    def before_request(self, _request: Any) -> None:
        if not self.due():
            return
        with self._lock:
            if not self.due():
                return
            sas = self.fetch()
            if sas:
                remember(sas)
                self.credential.update(sas.lstrip("?"))
                self._set(sas)
                self.renewals += 1


def _secrets(client: Any, name: str) -> tuple[Any, bool]:
    """(the datastore, whether its secrets were handed out). A refused `listSecrets` (no permission for
    `listSecrets`, or a datastore without one) falls back to the datastore alone, as azure-ai-ml does."""
    from azure.core.exceptions import HttpResponseError

    try:
        return client.datastores.get(name, include_secrets=True), True
    except HttpResponseError as exc:
        if exc.status_code not in (400, 403, 409):
            raise
    return client.datastores.get(name), False


def workspace_container(
    client: Any,
    credential: TokenCredential,
    datastore_name: str = "workspaceblobstore",
    *,
    account_url: str | None = None,
    workspace: str | None = None,
    **blob_kwargs: Any,
) -> ContainerClient:
    """A container client for one of the workspace's datastores (by default its default blob store)."""
    try:
        datastore, _with_secrets = _secrets(client, datastore_name)
    except Exception as exc:
        raise from_azure(exc, what=f"reading the datastore {datastore_name}", workspace=workspace) from None

    def fresh_sas() -> str | None:
        again = client.datastores.get(datastore_name, include_secrets=True)
        return getattr(getattr(again, "credentials", None), "sas_token", None)

    return datastore_container(datastore, credential, account_url=account_url, renew=fresh_sas, **blob_kwargs)


def datastore_container(
    datastore: Any,
    user_credential: TokenCredential,
    *,
    account_url: str | None = None,
    renew: Any = None,
    **client_kwargs: Any,
) -> ContainerClient:
    """A container client for an `AzureBlobDatastore`: its account key or SAS token if it came with one (a SAS
    renewed through `renew` before it expires), else the user's own sign-in. `account_url` replaces the public
    endpoint (a private endpoint, or a local emulator)."""
    # Deferred: azure-storage-blob is needed only for uploads and downloads.
    from azure.storage.blob import ContainerClient

    creds = getattr(datastore, "credentials", None)
    key = getattr(creds, "account_key", None)
    sas = getattr(creds, "sas_token", None)
    remember(key, sas)
    url = account_url or f"{datastore.protocol or 'https'}://{datastore.account_name}.blob.{datastore.endpoint}"
    credential: Any
    if key:
        credential = {"account_name": datastore.account_name, "account_key": key}
    elif sas and renew is not None:
        renewer = SasRenewer(sas, renew)
        credential = renewer.credential
        client_kwargs.setdefault("raw_request_hook", renewer.before_request)
    elif sas:
        credential = sas.lstrip("?")
    else:
        credential = user_credential
    client_kwargs.setdefault("max_single_put_size", SINGLE_PUT_LIMIT)
    client_kwargs.setdefault("max_block_size", BLOCK_SIZE)
    return ContainerClient(url, datastore.container_name, credential=credential, **client_kwargs)
