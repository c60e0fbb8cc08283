"""An Azure ML control plane for tests, plugged into azure-core as a transport (`MLClient(...,
transport=FakeAzureML(...))`): every call the real SDK makes goes through `send`, and the answers are JSON
shaped by hand after azure-ai-ml 1.35's REST models (`_restclient/arm_ml_service/models/_models.py`:
ModelVersion, AzureBlobDatastore, AccountKeyDatastoreSecrets, SasDatastoreSecrets; ARM's error body), so a
wrong shape fails in the SDK's own deserializers. The blob bytes go to Azurite, not here.

Secrets are planted on purpose: the bearer token the fake credential hands out, the account key or SAS token
`listSecrets` answers, and a SAS signature inside an error message, so a test can scan for them.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import HttpTransport
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import CaseInsensitiveDict

from engine.config_sections import ASSET_NAME, ASSET_NAME_RULE, ASSET_VERSION, ASSET_VERSION_RULE

ARM = "https://management.azure.com"
# The planted secrets (tests scan every written file and every output for them)
BEARER_TOKEN = "fake-arm-token-7f3a9c2e51b84d6aa0c9e1f2b3d4c5e6"
# Machine Learning Services api-versions azure-ai-ml 1.35 sends (_ml_client.py's service clients, arm_ml_service's
# default); the provider has these (and older ones no test needs)
API_VERSIONS = {"2022-02-01-preview", "2022-05-01", "2022-10-01", "2022-10-01-preview", "2023-02-01-preview",
                "2023-04-01", "2023-04-01-preview", "2023-06-01-preview", "2023-08-01-preview", "2023-10-01",
                "2024-01-01-preview", "2024-04-01-preview", "2024-10-01-preview", "2025-01-01-preview",
                "2025-12-01"}  # fmt: skip
LEAKY_SAS_SIG = "sig=Zm9vYmFyLXBsYW50ZWQtc2FzLXNpZ25hdHVyZS0xMjM0NQ%3D%3D"


class FakeCredential:
    """A TokenCredential answering with the planted bearer token (azure-identity's place in production)."""

    def __init__(self, token: str = BEARER_TOKEN, fail: Exception | None = None) -> None:
        self.token = token
        self.fail = fail
        self.calls = 0

    def get_token(self, *scopes: str, **_kw: Any) -> AccessToken:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        return AccessToken(self.token, int(time.time()) + 3600)


class _Raw:
    def close(self) -> None:
        pass


def _system_data() -> dict[str, Any]:
    return {
        "createdAt": "2026-12-01T10:00:00.0000000+00:00",
        "createdBy": "lab@example.com",
        "createdByType": "User",
        "lastModifiedAt": "2026-12-01T10:00:00.0000000+00:00",
        "lastModifiedBy": "lab@example.com",
        "lastModifiedByType": "User",
    }


@dataclass
class FakeAzureML(HttpTransport):  # type: ignore[misc]
    subscription: str
    resource_group: str
    workspace: str
    account_name: str = "devstoreaccount1"
    container: str = "azureml-blobstore-0000"
    account_key: str | None = None
    sas_token: str | None = None
    # listSecrets hands out a fresh container SAS that lasts this long (the service's lasts an hour);
    # Azurite refuses it once expired
    sas_lifetime_s: float | None = None
    # an identity-based datastore, or a caller without the listSecrets permission: listSecrets answers 403
    secrets_refused: bool = False
    secrets_handed_out: int = 0
    token: str = BEARER_TOKEN
    # (method, path regex) -> (status, ARM error code); for 401/403/404 tests
    faults: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    models: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    # (registry, name, version) -> (model URI in the registry's storage, SAS URL handed out for it)
    registry_models: dict[tuple[str, str, str], tuple[str, str]] = field(default_factory=dict)
    registry_denied: set[str] = field(default_factory=set)
    calls: list[tuple[str, str]] = field(default_factory=list)
    bodies: list[tuple[str, str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- azure-core transport protocol
    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> FakeAzureML:
        return self

    def __exit__(self, *args: Any) -> None:
        pass

    def send(self, request: Any, **kwargs: Any) -> HttpResponseImpl:
        url = urlparse(request.url)
        path = unquote(url.path)
        body = request.content if hasattr(request, "content") else request.body
        if isinstance(body, bytes):
            body = body.decode()
        with self._lock:
            self.calls.append((request.method, path))
            self.bodies.append((request.method, path, body or ""))
        status, payload = api_version_refusal(url, path) or self._answer(request, path, body)
        return self._response(request, status, payload)

    # -- the service
    @property
    def ws_path(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{self.workspace}"
        )

    def _answer(self, request: Any, path: str, body: str | None) -> tuple[int, Any]:
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {self.token}":
            return 401, _error("AuthenticationFailed", "Authentication failed: the access token is invalid.")
        for (method, pattern), (status, code) in self.faults.items():
            if method == request.method and re.search(pattern, path):
                message = {
                    401: "The access token expired.",
                    403: "The client 'lab@example.com' does not have authorization to perform action "
                    "'Microsoft.MachineLearningServices/workspaces/models/versions/write'. Diagnostics: "
                    f"https://{self.account_name}.blob.core.windows.net/x?sv=2024&{LEAKY_SAS_SIG}",
                    404: f"The Resource 'Microsoft.MachineLearningServices/workspaces/{self.workspace}' under "
                    f"resource group '{self.resource_group}' was not found.",
                }.get(status, "fault")
                return status, _error(code, message)
        d = re.match(r"^/registrymanagement/v1\.0/registries/([^/]+)/discovery$", path)
        if d:
            return self._discovery(d.group(1))
        path = path.removeprefix("/mferp/managementfrontend")
        m = re.match(
            r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/"
            r"Microsoft\.MachineLearningServices/workspaces/([^/]+)(/.*|)$",
            path,
        )
        if m:
            if (m.group(1), m.group(2), m.group(3)) != (self.subscription, self.resource_group, self.workspace):
                return 404, _error(
                    "ResourceNotFound",
                    f"The Resource 'Microsoft.MachineLearningServices/workspaces/{m.group(3)}' under resource "
                    f"group '{m.group(2)}' was not found. "
                    "For more details please go to https://aka.ms/ARMResourceNotFound",
                )
            return self._workspace_call(request.method, m.group(4), body)
        r = re.match(
            r"^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/"
            r"Microsoft\.MachineLearningServices/registries/([^/]+)(/.*)$",
            path,
        )
        if r:
            return self._registry_call(request.method, r.group(3), r.group(4), body)
        return 404, _error("NotFound", f"no route for {request.method} {path}")

    def _workspace_call(self, method: str, rest: str, body: str | None) -> tuple[int, Any]:
        if rest == "/datastores/workspaceblobstore" and method == "GET":
            return 200, self._datastore()
        if rest == "/datastores/workspaceblobstore/listSecrets" and method == "POST":
            if self.secrets_refused:  # wording of ARM's AuthorizationFailed
                return 403, _error(
                    "AuthorizationFailed",
                    "The client 'lab@example.com' does not have authorization "
                    "to perform action 'Microsoft.MachineLearningServices/workspaces/datastores/"
                    f"listSecrets/action' over scope '{self.ws_path}/datastores/workspaceblobstore'.",
                )
            self.secrets_handed_out += 1
            if self.sas_lifetime_s is not None:
                return 200, {"secretsType": "Sas", "sasToken": self._fresh_sas()}
            if self.sas_token:
                return 200, {"secretsType": "Sas", "sasToken": self.sas_token}
            return 200, {"secretsType": "AccountKey", "key": self.account_key}
        m = re.match(r"^/models/([^/]+)/versions(?:/([^/]+))?$", rest)
        if m:
            name, version = m.group(1), m.group(2)
            versions = self.models.get(name, {})
            if version is None and method == "GET":
                ordered = sorted(versions.values(), key=lambda v: v["systemData"]["createdAt"], reverse=True)
                return 200, {"value": ordered}
            if method == "GET":
                if version in versions:
                    return 200, versions[version]
                return 404, _error("UserError", f"Could not find asset with name {name} and version {version}.")
            if method == "PUT":
                # the registry's asset rules (engine.config_sections holds them once); wording invented
                if not ASSET_NAME.match(name) or not ASSET_VERSION.match(version):
                    rules = f"a name has {ASSET_NAME_RULE}; a version {ASSET_VERSION_RULE}"
                    return 400, _error("UserError", f"The model name {name!r} or version {version!r} is not valid: "
                                       f"{rules}.")  # fmt: skip
                sent = json.loads(body or "{}")
                props = sent.get("properties", {})
                if "/datastores/" not in str(props.get("modelUri", "")) or not str(props.get("modelUri")).startswith(
                    "azureml://"
                ):
                    return 400, _error("UserError", "modelUri must point at a datastore path")
                if version in versions:
                    return self._model_update(name, versions[version], props)
                stored = self._model_version(name, version, props, len(versions))
                self.models.setdefault(name, {})[version] = stored
                return 201, stored
        return 404, _error("NotFound", f"no workspace route for {method} {rest}")

    def _discovery(self, registry: str) -> tuple[int, Any]:
        if not any(key[0] == registry for key in self.registry_models):
            return 404, _error("NotFound", f"Registry {registry} not found.")
        return 200, {
            "registryName": registry,
            "tenantId": "72f988bf-0000-0000-0000-000000000000",
            "primaryRegion": "eastus",
            "regions": ["eastus"],
            "subscriptionId": self.subscription,
            "resourceGroup": f"registry-{registry}-rg",
            "workspaceName": None,
            "primaryRegionResourceProviderUri": "https://cert-eastus.experiments.azureml.net/",
        }

    def _registry_call(self, method: str, registry: str, rest: str, body: str | None) -> tuple[int, Any]:
        if registry in self.registry_denied:
            return 403, _error("AuthorizationFailed", f"The client does not have access to registry {registry}.")
        m = re.match(r"^/models/([^/]+)/versions/([^/]+)$", rest)
        if m and method == "GET":
            found = self.registry_models.get((registry, m.group(1), m.group(2)))
            if not found:
                return 404, _error(
                    "UserError", f"Could not find asset with name {m.group(1)} and version {m.group(2)}."
                )
            props = {"modelUri": found[0], "modelType": "custom_model", "description": "catalog model"}
            version = self._model_version(m.group(1), m.group(2), props, 0)
            version["id"] = f"azureml://registries/{registry}/models/{m.group(1)}/versions/{m.group(2)}"
            return 200, version
        d = re.match(r"^/datarefs/([^/]+)/versions/([^/]+)$", rest)
        if d and method == "POST":
            found = self.registry_models.get((registry, d.group(1), d.group(2)))
            sent = json.loads(body or "{}")
            if not found or sent.get("blobUri") != found[0]:
                return 404, _error("UserError", "No data reference for that asset.")
            return 200, {
                "blobReferenceForConsumption": {
                    "blobUri": found[0],
                    "storageAccountArmId": (
                        "/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/z"
                    ),
                    "credential": {"credentialType": "SAS", "sasUri": found[1]},
                }
            }
        return 404, _error("NotFound", f"no registry route for {method} {rest}")

    def _fresh_sas(self) -> str:
        import datetime as dt

        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        expiry = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=float(self.sas_lifetime_s or 0))
        return generate_container_sas(self.account_name, self.container, account_key=self.account_key,
                                      permission=ContainerSasPermissions(read=True, write=True, list=True, add=True,
                                                                         create=True),
                                      expiry=expiry)  # fmt: skip

    def _datastore(self) -> dict[str, Any]:
        return {
            "id": f"{self.ws_path}/datastores/workspaceblobstore",
            "name": "workspaceblobstore",
            "type": "Microsoft.MachineLearningServices/workspaces/datastores",
            "properties": {
                "datastoreType": "AzureBlob",
                "accountName": self.account_name,
                "containerName": self.container,
                "endpoint": "core.windows.net",
                "protocol": "https",
                "serviceDataAccessAuthIdentity": "WorkspaceSystemAssignedIdentity",
                "isDefault": True,
                "credentials": {
                    "credentialsType": "None"
                    if self.secrets_refused
                    else "Sas"
                    if self.sas_token or self.sas_lifetime_s is not None
                    else "AccountKey"
                },
                "description": None,
                "properties": {},
                "tags": {},
            },
            "systemData": _system_data(),
        }

    def _model_update(self, name: str, stored: dict[str, Any], props: dict[str, Any]) -> tuple[int, Any]:
        """A PUT of a version that exists is an update, not a conflict (the REST API answers 200 for an update,
        201 for a creation): its description and tags are replaced and new properties added. Its content is not
        changed: another modelUri is refused with the service's `(UserError) Asset paths cannot be updated.`
        (the text azure-ai-ml's ASSET_PATH_ERROR matches), and so is another value for a property it has (the
        service's "cannot be replaced ... without increasing the version")."""
        old = stored["properties"]
        if props.get("modelUri") != old["modelUri"]:
            return 400, _error("UserError", "Asset paths cannot be updated.")
        for key, value in (props.get("properties") or {}).items():
            if key in old["properties"] and old["properties"][key] != value:
                return 400, _error("UserError", f"Value of property {key} for model {name} cannot be replaced to "
                                   f"{value} without increasing the version.")  # fmt: skip
        old.update(description=props.get("description"), tags=props.get("tags") or {})
        old["properties"] = {**old["properties"], **(props.get("properties") or {})}
        stored["systemData"]["lastModifiedAt"] = _system_data()["lastModifiedAt"]
        return 200, stored

    def _model_version(self, name: str, version: str, props: dict[str, Any], n: int) -> dict[str, Any]:
        system = _system_data()
        system["createdAt"] = f"2026-12-01T10:{n:02d}:00.0000000+00:00"
        return {
            "id": f"{self.ws_path}/models/{name}/versions/{version}",
            "name": version,
            "type": "Microsoft.MachineLearningServices/workspaces/models/versions",
            "properties": {
                "description": props.get("description"),
                "tags": props.get("tags") or {},
                "properties": props.get("properties") or {},
                "isArchived": False,
                "isAnonymous": False,
                "modelType": props.get("modelType"),
                "modelUri": props.get("modelUri"),
                "provisioningState": "Succeeded",
                "stage": "Development",
                "flavors": props.get("flavors") or {},
            },
            "systemData": system,
        }

    def _response(self, request: Any, status: int, payload: Any) -> HttpResponseImpl:
        data = json.dumps(payload).encode() if payload is not None else b""
        headers = CaseInsensitiveDict(
            {"Content-Type": "application/json; charset=utf-8", "x-ms-request-id": "00000000-fake"}
        )
        response = HttpResponseImpl(
            request=request,
            internal_response=_Raw(),
            status_code=status,
            reason={
                200: "OK",
                201: "Created",
                400: "Bad Request",
                401: "Unauthorized",
                403: "Forbidden",
                404: "Not Found",
                409: "Conflict",
            }.get(status, "Error"),
            content_type="application/json",
            headers=headers,
            stream_download_generator=lambda *a, **k: iter([]),
        )
        response._content = data
        return response


def api_version_refusal(url: Any, path: str) -> tuple[int, Any] | None:
    """ARM's answer to a resource request without an api-version, or with one the provider does not have (its
    wording); None when the version is one azure-ai-ml 1.35's control-plane client sends."""
    if not path.startswith("/subscriptions/"):
        return None  # registry discovery and run history carry their version in the path
    given = parse_qs(url.query).get("api-version")
    if not given:
        return 400, _error("MissingApiVersionParameter",
                           "The api-version query parameter (?api-version=) is required for all requests.")  # fmt: skip
    if given[0] not in API_VERSIONS:
        return 400, _error("NoRegisteredProviderFound", f"No registered resource provider found for location "
                           f"'eastus' and API version '{given[0]}' for type 'workspaces'. The supported api-versions "
                           f"are '{', '.join(sorted(API_VERSIONS, reverse=True))}'.")  # fmt: skip
    return None


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": [], "additionalInfo": []}}
