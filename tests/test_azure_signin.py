"""Signing in as azure-identity does it on a real machine: `auto` takes what is signed in, in its documented
order; a managed identity answers from a configured endpoint (a loopback one here) and is never probed
otherwise; a device-code sign-in is remembered (its record 0600, in the user's own folder)."""

from __future__ import annotations

import json
import stat
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlparse

import pytest

from engine.azure import auth
from engine.azure.auth import SignInMethod

pytestmark = pytest.mark.azure
IDENTITY_VARS = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
                 "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "MSI_SECRET",
                 auth.MANAGED_OPT_IN)  # fmt: skip


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user of their own: HOME, XDG config and the Azure CLI's folder in tmp_path, no identity variables, and
    an `az` on PATH (installed, nobody signed in)."""
    for name in IDENTITY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / ".azure"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "az").write_text("#!/bin/sh\necho 'Please run az login to setup account.' >&2\nexit 1\n")
    (bin_dir / "az").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    return tmp_path


def test_auto_takes_what_is_signed_in_in_its_documented_order(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # az installed but nobody signed in with it: a device code, not the CLI
    assert auth.choose_method() is SignInMethod.DEVICE
    (home / ".azure").mkdir()
    (home / ".azure" / "azureProfile.json").write_text(
        "\ufeff" + json.dumps({"subscriptions": [{"id": "sub", "user": {"name": "lab@example.com"}}]}))  # fmt: skip
    assert auth.choose_method() is SignInMethod.CLI
    monkeypatch.setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token")  # an Azure ML compute instance
    assert auth.choose_method() is SignInMethod.MANAGED
    token_file = home / "federated-token"
    token_file.write_text("eyJ.fake.jwt")
    for name, value in {"AZURE_FEDERATED_TOKEN_FILE": str(token_file), "AZURE_CLIENT_ID": "app",
                        "AZURE_TENANT_ID": "tenant"}.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    assert auth.choose_method() is SignInMethod.WORKLOAD
    monkeypatch.setenv("AZURE_CLIENT_SECRET", "s")
    assert auth.choose_method() is SignInMethod.ENV


def test_managed_identity_is_used_only_where_an_endpoint_is_configured(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[dict[str, list[str]]] = []

    class Endpoint(BaseHTTPRequestHandler):  # App Service / compute instance identity protocol (2019-08-01)
        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            asked.append({**query, "header": [self.headers.get("X-IDENTITY-HEADER", "")]})
            body = json.dumps(
                {
                    "access_token": "mi-token",
                    "expires_on": str(int(time.time()) + 3600),
                    "resource": query.get("resource", [""])[0],
                    "token_type": "Bearer",
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # nothing configured: auto never reaches for the machine's identity (no metadata address probed)
        assert auth.choose_method() is not SignInMethod.MANAGED and not asked
        monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://127.0.0.1:{server.server_port}/msi/token")
        monkeypatch.setenv("IDENTITY_HEADER", "node-secret")
        credential, method = auth.make_credential()
        assert method is SignInMethod.MANAGED
        assert auth.get_token(credential).token == "mi-token"
        assert asked and asked[0]["resource"] == ["https://management.azure.com"]
        assert asked[0]["header"] == ["node-secret"]
    finally:
        server.shutdown()


def test_a_device_code_sign_in_is_remembered_in_a_file_only_the_user_can_read(home: Path) -> None:
    from azure.identity import AuthenticationRecord

    from engine.azure.signin_cache import keyring_available, load_record, record_path, save_record

    credential, method = auth.make_credential(SignInMethod.DEVICE, on_device_code=lambda _c: None)
    assert (
        method is SignInMethod.DEVICE and cast(Any, credential).record is None
    )  # a new sign-in: one code will be asked
    save_record(AuthenticationRecord("tenant", "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
                                     "login.microsoftonline.com", "oid.tenant", "lab@example.com"))  # fmt: skip
    path = record_path()
    assert path.is_relative_to(home) and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "token" not in path.read_text().lower().replace("tenant", "")
    # the next process (a step, the app) signs in with it, silently: no new code
    again, _ = auth.make_credential(SignInMethod.DEVICE, on_device_code=lambda _c: None)
    assert cast(Any, again).record is not None and cast(Any, again).record.username == "lab@example.com"
    assert load_record() is not None
    # where no keyring exists the token cache is a 0600 file, and the code's sentence says so
    code = auth.DeviceCode(
        url="https://microsoft.com/devicelogin", code="ABCD", unencrypted_cache=not keyring_available()
    )
    assert ("no keyring" in code.sentence()) is (not keyring_available())
