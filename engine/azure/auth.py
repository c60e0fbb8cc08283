"""Signing in to Azure in a way that works over SSH, through azure-identity.

`auto` takes the first of these that is there, in this order:
1. a service principal from the environment (AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET or
   AZURE_CLIENT_CERTIFICATE_PATH);
2. workload identity (AZURE_FEDERATED_TOKEN_FILE with AZURE_CLIENT_ID and AZURE_TENANT_ID: AKS, GitHub);
3. managed identity, only where an identity endpoint is configured (IDENTITY_ENDPOINT or MSI_ENDPOINT: Azure ML
   compute instances, App Service) or OLIVE_LAB_AZURE_MANAGED_IDENTITY=1 says to try the instance metadata
   address; it is never probed otherwise;
4. the Azure CLI, when `az` is installed and someone signed in with it (its profile lists a subscription);
5. a device-code sign-in: silent when one was made before (its record and azure-identity's persistent token
   cache are kept, signin_cache.py), else one code, shown once.
The device code is never printed: azure-identity's prompt callback hands the URL and the code to the caller
(the app shows them on the screen the user is on, the command line prints them once), so nothing is written
over the app's screen. The redactor learns each token the moment it is obtained.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from engine.azure.errors import NotSignedIn, from_azure
from engine.redact import remember

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, TokenCredential

ARM_SCOPE = "https://management.azure.com/.default"
STORAGE_SCOPE = "https://storage.azure.com/.default"


class SignInMethod(str, Enum):  # noqa: UP042  # str() of a member is used in messages as is
    AUTO = "auto"
    ENV = "env"  # a service principal from the environment
    CLI = "cli"  # the Azure CLI's sign-in (`az login`)
    DEVICE = "device"  # a device code shown by the caller
    WORKLOAD = "workload"  # workload identity (a federated token file)
    MANAGED = "managed"  # the machine's managed identity


MANAGED_OPT_IN = "OLIVE_LAB_AZURE_MANAGED_IDENTITY"


class DeviceCode(BaseModel):
    """What a person needs to finish a device-code sign-in in a browser elsewhere."""

    url: str
    code: str
    expires_at: datetime | None = None
    unencrypted_cache: bool = False  # the sign-in is kept in a 0600 file: this machine has no keyring

    def sentence(self) -> str:
        expires = self.expires_utc()
        until = f" (it works until {expires.strftime(_UNTIL)})" if expires else ""
        kept = f" ({_KEPT})" if self.unencrypted_cache else ""
        return f"{SIGN_IN_PROMPT}{self.url} and enter the code {self.code}{until}{kept}"

    def expires_utc(self) -> datetime | None:
        """The expiry in UTC (the SDK may hand a naive local time)."""
        return self.expires_at.astimezone(UTC) if self.expires_at else None

    def event_fields(self) -> dict[str, Any]:
        """The fields of the run's `sign_in_code` event, whether the step said it or the log did."""
        until = self.expires_utc()
        return {
            "url": self.url,
            "code": self.code,
            "expires_at": until.isoformat(timespec="seconds") if until else None,
            "unencrypted_cache": self.unencrypted_cache,
        }

    @classmethod
    def from_sentence(cls, text: str) -> DeviceCode | None:
        """The code in a line `sentence()` wrote, all of it (the register step prints it; the run records it)."""
        m = _SENTENCE.search(text)
        if not m:
            return None
        until = datetime.strptime(m.group("until"), _UNTIL) if m.group("until") else None
        return cls(url=m.group("url"), code=m.group("code"), expires_at=until, unencrypted_cache=_KEPT in text)


SIGN_IN_PROMPT = "To sign in, open "
_UNTIL = "%Y-%m-%d %H:%M:%S %z"  # the code's expiry in the sentence, read back by `from_sentence`
_KEPT = "the sign-in is then kept in a file only you can read: this machine has no keyring"
_SENTENCE = re.compile(
    re.escape(SIGN_IN_PROMPT) + r"(?P<url>\S+) and enter the code (?P<code>[^\s()]+)"
    r"(?: \(it works until (?P<until>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4})\))?"
)


class SignInState(BaseModel):
    """Who is signed in, and how; read from the token's claims (never the token itself)."""

    method: SignInMethod
    account: str | None = None
    tenant_id: str | None = None
    expires_on: int | None = None


DeviceCodeHandler = Callable[[DeviceCode], None]


def service_principal_in_env(env: dict[str, str] | None = None) -> bool:
    env = dict(os.environ) if env is None else env
    return bool(
        env.get("AZURE_CLIENT_ID")
        and env.get("AZURE_TENANT_ID")
        and (env.get("AZURE_CLIENT_SECRET") or env.get("AZURE_CLIENT_CERTIFICATE_PATH"))
    )


def workload_identity_in_env(env: dict[str, str]) -> bool:
    return bool(env.get("AZURE_FEDERATED_TOKEN_FILE") and env.get("AZURE_CLIENT_ID") and env.get("AZURE_TENANT_ID"))


def identity_endpoint_in_env(env: dict[str, str]) -> bool:
    """A managed identity endpoint is configured (or the user said to try the instance metadata address)."""
    return bool(env.get("IDENTITY_ENDPOINT") or env.get("MSI_ENDPOINT") or env.get(MANAGED_OPT_IN) == "1")


def az_signed_in(env: dict[str, str]) -> bool:
    """The Azure CLI is installed and someone signed in with it: read from its profile, without running it."""
    if not shutil.which("az"):
        return False
    folder = Path(env.get("AZURE_CONFIG_DIR") or Path.home() / ".azure")
    try:
        profile = json.loads((folder / "azureProfile.json").read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return False
    return bool(isinstance(profile, dict) and profile.get("subscriptions"))


def choose_method(method: SignInMethod = SignInMethod.AUTO) -> SignInMethod:
    """The concrete way `auto` stands for on this machine (the order in this module's docstring)."""
    if method is not SignInMethod.AUTO:
        return method
    env = dict(os.environ)
    if service_principal_in_env(env):
        return SignInMethod.ENV
    if workload_identity_in_env(env):
        return SignInMethod.WORKLOAD
    if identity_endpoint_in_env(env):
        return SignInMethod.MANAGED
    if az_signed_in(env):
        return SignInMethod.CLI
    return SignInMethod.DEVICE


def make_credential(
    method: SignInMethod = SignInMethod.AUTO,
    *,
    tenant_id: str | None = None,
    on_device_code: DeviceCodeHandler | None = None,
    **identity_kwargs: Any,
) -> tuple[TokenCredential, SignInMethod]:
    """A credential for `method` and the method it really is. `identity_kwargs` go to azure-identity
    (a `transport`, an `authority`)."""
    chosen = choose_method(method)
    if chosen is SignInMethod.DEVICE and on_device_code is None:
        raise _nowhere_to_sign_in(method)
    # Deferred: azure-identity pulls msal and its crypto stack; only Azure work needs them.
    from azure.identity import (
        AzureCliCredential,
        DeviceCodeCredential,
        EnvironmentCredential,
        ManagedIdentityCredential,
        WorkloadIdentityCredential,
    )

    from engine.azure.signin_cache import RememberedDeviceCode, cache_options

    if chosen is SignInMethod.ENV:
        return EnvironmentCredential(**identity_kwargs), chosen
    if chosen is SignInMethod.WORKLOAD:
        return WorkloadIdentityCredential(**({"tenant_id": tenant_id} if tenant_id else {}), **identity_kwargs), chosen
    if chosen is SignInMethod.MANAGED:
        return ManagedIdentityCredential(client_id=os.environ.get("AZURE_CLIENT_ID") or None, **identity_kwargs), chosen
    if chosen is SignInMethod.CLI:
        if tenant_id:
            return AzureCliCredential(process_timeout=30, tenant_id=tenant_id), chosen
        return AzureCliCredential(process_timeout=30), chosen
    persistence, unencrypted = cache_options()

    def prompt(verification_uri: str, user_code: str, expires_on: datetime) -> None:
        code = DeviceCode(url=verification_uri, code=user_code, expires_at=expires_on, unencrypted_cache=unencrypted)
        if on_device_code is None:
            raise NotSignedIn(
                "a device-code sign-in needs somewhere to show its code",
                "run `az login --use-device-code` first, or sign in from the app's upload screen",
            )
        on_device_code(code)

    kwargs: dict[str, Any] = dict(identity_kwargs)
    if tenant_id:
        kwargs["tenant_id"] = tenant_id

    def device(record: Any) -> Any:
        return DeviceCodeCredential(prompt_callback=prompt, timeout=900, cache_persistence_options=persistence,
                                    authentication_record=record, **kwargs)  # fmt: skip

    return RememberedDeviceCode(device), chosen


def _nowhere_to_sign_in(method: SignInMethod) -> NotSignedIn:
    """Said at once, before any request: no sign-in is set up here and this caller cannot show a device code."""
    if method is SignInMethod.AUTO:
        return NotSignedIn(
            "not signed in to Azure: no service principal in AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET "
            "and no Azure CLI (`az`) on this machine",
            "install the Azure CLI and run `az login --use-device-code`, set those variables, or choose the "
            'device-code sign-in (--sign-in device, or sign_in = "device" in lab.toml\'s [azure])',
        )
    return NotSignedIn(
        "a device-code sign-in needs somewhere to show its code",
        "run `az login --use-device-code` first, or sign in from the app's upload screen",
    )


def _claims(token: str) -> dict[str, Any]:
    """The token's payload claims, read without verification (only to say who is signed in)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        data = json.loads(base64.urlsafe_b64decode(payload))
        return data if isinstance(data, dict) else {}
    except (IndexError, ValueError):
        return {}


def get_token(credential: TokenCredential, scope: str = ARM_SCOPE) -> AccessToken:
    """A token for `scope`; the redactor learns it before anything else can print it."""
    try:
        token = credential.get_token(scope)
    except Exception as exc:
        raise from_azure(exc, what="signing in") from None
    remember(token.token)
    return token


def sign_in(credential: TokenCredential, method: SignInMethod) -> SignInState:
    """Sign in now (a device code is shown through the handler) and say who is signed in."""
    token = get_token(credential)
    claims = _claims(token.token)
    account = claims.get("upn") or claims.get("unique_name") or claims.get("preferred_username")
    if not account and claims.get("appid"):
        account = f"app {claims['appid']}"
    return SignInState(
        method=method,
        account=account,
        tenant_id=claims.get("tid"),
        expires_on=token.expires_on,
    )
