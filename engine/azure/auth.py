"""Signing in to Azure in a way that works over SSH, through azure-identity.

Three ways, tried in this order by `auto`: a service principal from the environment (AZURE_CLIENT_ID,
AZURE_TENANT_ID and AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH), the Azure CLI's own sign-in
(`az login`), then a device-code sign-in. The device code is never printed: azure-identity's prompt callback
hands the URL and the code to the caller (the app shows them on its own screen, the command line prints them
once), so nothing is written over the app's screen. Tokens are never kept or shown; the redactor learns
each one the moment it is obtained.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from engine.azure.errors import NotSignedIn, from_azure
from engine.redact import remember

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, TokenCredential

ARM_SCOPE = "https://management.azure.com/.default"
STORAGE_SCOPE = "https://storage.azure.com/.default"


class SignInMethod(str, Enum):
    AUTO = "auto"
    ENV = "env"  # a service principal from the environment
    CLI = "cli"  # the Azure CLI's sign-in (`az login`)
    DEVICE = "device"  # a device code shown by the caller


class DeviceCode(BaseModel):
    """What a person needs to finish a device-code sign-in in a browser elsewhere."""

    url: str
    code: str
    expires_at: datetime | None = None

    def sentence(self) -> str:
        return f"{SIGN_IN_PROMPT}{self.url} and enter the code {self.code}"

    @classmethod
    def from_sentence(cls, text: str) -> DeviceCode | None:
        """The code in a line `sentence()` wrote (the register step prints it; the run records it)."""
        m = _SENTENCE.search(text)
        return cls(url=m.group("url"), code=m.group("code")) if m else None


SIGN_IN_PROMPT = "To sign in, open "
_SENTENCE = re.compile(re.escape(SIGN_IN_PROMPT) + r"(?P<url>\S+) and enter the code (?P<code>\S+)")


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


def choose_method(method: SignInMethod = SignInMethod.AUTO) -> SignInMethod:
    """The concrete way `auto` stands for on this machine."""
    if method is not SignInMethod.AUTO:
        return method
    if service_principal_in_env():
        return SignInMethod.ENV
    if shutil.which("az"):
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
    from azure.identity import AzureCliCredential, DeviceCodeCredential, EnvironmentCredential

    if chosen is SignInMethod.ENV:
        return EnvironmentCredential(**identity_kwargs), chosen
    if chosen is SignInMethod.CLI:
        if tenant_id:
            return AzureCliCredential(process_timeout=30, tenant_id=tenant_id), chosen
        return AzureCliCredential(process_timeout=30), chosen

    def prompt(verification_uri: str, user_code: str, expires_on: datetime) -> None:
        code = DeviceCode(url=verification_uri, code=user_code, expires_at=expires_on)
        if on_device_code is None:
            raise NotSignedIn(
                "a device-code sign-in needs somewhere to show its code",
                "run `az login --use-device-code` first, or sign in from the app's upload screen",
            )
        on_device_code(code)

    kwargs: dict[str, Any] = dict(identity_kwargs)
    if tenant_id:
        kwargs["tenant_id"] = tenant_id
    return DeviceCodeCredential(prompt_callback=prompt, timeout=900, **kwargs), chosen


def _nowhere_to_sign_in(method: SignInMethod) -> NotSignedIn:
    """Said at once, before any request: no sign-in is set up here and this caller cannot show a device code."""
    if method is SignInMethod.AUTO:
        return NotSignedIn(
            "not signed in to Azure: no service principal in AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET "
            "and no Azure CLI (`az`) on this machine",
            "install the Azure CLI and run `az login --use-device-code`, set those variables, or choose the "
            "device-code sign-in (--sign-in device, or sign_in = \"device\" in lab.toml's [azure])",
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
