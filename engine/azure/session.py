"""One place that opens an Azure session for the lab's faces and step programs: the credential (see
`auth.py`), and the transport settings every client gets. Tests replace `open_session` to answer Azure
with fakes; nothing else in the product builds a credential.

`OLIVE_LAB_AZURE_BLOB_URL` replaces the datastore's public blob endpoint (a private endpoint, or a local
storage emulator), for uploads and downloads alike.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.azure.auth import DeviceCodeHandler, SignInMethod, make_credential

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

BLOB_URL_ENV = "OLIVE_LAB_AZURE_BLOB_URL"


@dataclass
class AzureSession:
    credential: TokenCredential
    method: SignInMethod
    client_kwargs: dict[str, Any] = field(default_factory=dict)  # for azure-ai-ml's pipeline
    blob_kwargs: dict[str, Any] = field(default_factory=dict)  # for azure-storage-blob's pipeline
    blob_account_url: str | None = None
    tenant_id: str | None = None


def open_session(
    method: SignInMethod = SignInMethod.AUTO,
    *,
    tenant_id: str | None = None,
    on_device_code: DeviceCodeHandler | None = None,
) -> AzureSession:
    credential, chosen = make_credential(method, tenant_id=tenant_id, on_device_code=on_device_code)
    return AzureSession(
        credential=credential,
        method=chosen,
        blob_kwargs={"retry_total": 3, "connection_timeout": 20, "read_timeout": 120},
        blob_account_url=os.environ.get(BLOB_URL_ENV) or None,
        tenant_id=tenant_id,
    )
