"""Where the workspace comes from (flags, lab.toml, az defaults, config.json), checks before sending, and
sign-in choices; no network."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path

import pytest

from engine.azure import auth
from engine.azure.errors import InvalidInput, WorkspaceUnresolved
from engine.azure.validate import check_name, check_tags, check_version, next_number, parse_tags
from engine.azure.workspace import resolve_workspace

SUB = "11111111-2222-3333-4444-555555555555"
SUB2 = "99999999-2222-3333-4444-555555555555"


def _az_dir(tmp_path: Path, group: str | None = "rg-az", workspace: str | None = "ws-az") -> Path:
    d = tmp_path / "azure"
    d.mkdir()
    lines = (
        ["[defaults]"] + ([f"group = {group}"] if group else []) + ([f"workspace = {workspace}"] if workspace else [])
    )
    (d / "config").write_text("\n".join(lines) + "\n")
    profile = {"subscriptions": [{"id": SUB2, "isDefault": False}, {"id": SUB, "isDefault": True}]}
    (d / "azureProfile.json").write_text("\ufeff" + json.dumps(profile), encoding="utf-8")
    return d


def test_each_name_from_the_first_place_that_has_it(tmp_path):
    az = _az_dir(tmp_path)
    ref = resolve_workspace(workspace="ws-flag", lab_table={"resource_group": "rg-lab"}, config_dir=az)
    assert (ref.subscription_id, ref.resource_group, ref.workspace_name) == (SUB, "rg-lab", "ws-flag")
    assert ref.sources == {"subscription_id": "az defaults", "resource_group": "lab.toml [azure]",
                           "workspace_name": "flag"}  # fmt: skip


def test_config_json_is_the_last_resort(tmp_path):
    lab = tmp_path / "lab"
    (lab / ".azureml").mkdir(parents=True)
    (lab / ".azureml" / "config.json").write_text(
        json.dumps({"subscription_id": SUB2, "resource_group": "rg-json", "workspace_name": "ws-json"})
    )
    ref = resolve_workspace(lab_root=lab, config_dir=tmp_path / "none")
    assert (ref.subscription_id, ref.workspace_name) == (SUB2, "ws-json")
    assert ref.sources["workspace_name"].endswith("config.json")


def test_missing_names_are_listed_with_the_flags(tmp_path):
    with pytest.raises(WorkspaceUnresolved) as err:
        resolve_workspace(subscription=SUB, config_dir=tmp_path / "none")
    assert "--resource-group and --workspace" in err.value.full()


def test_bad_names_refused(tmp_path):
    with pytest.raises(InvalidInput, match="GUID"):
        resolve_workspace(subscription="nope", resource_group="rg", workspace="ws1", config_dir=tmp_path)
    with pytest.raises(InvalidInput, match="workspace"):
        resolve_workspace(subscription=SUB, resource_group="rg", workspace="w", config_dir=tmp_path)


def test_model_fields():
    assert check_name("ft-for-travel") and check_version("1") and check_version("2.0-rc")
    for bad in ("", "-x", "has space", "x" * 256, "a/b"):
        with pytest.raises(InvalidInput):
            check_name(bad)
    with pytest.raises(InvalidInput):
        check_version("1 2")
    with pytest.raises(InvalidInput):
        check_tags({"k": "v" * 300})
    assert parse_tags(["base=phi", "score=0.4=x"]) == {"base": "phi", "score": "0.4=x"}
    with pytest.raises(InvalidInput):
        parse_tags(["novalue"])
    assert next_number(["1", "2", "10", "rc"]) == "11" and next_number([]) == "1"


def test_device_code_goes_to_the_caller_not_the_terminal(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))
    seen: list[auth.DeviceCode] = []
    credential, method = auth.make_credential(auth.SignInMethod.DEVICE, on_device_code=seen.append)
    assert method is auth.SignInMethod.DEVICE
    # azure-identity calls the prompt callback with (verification_uri, user_code, expires_on)
    from datetime import datetime

    credential.inner._prompt_callback("https://microsoft.com/devicelogin", "ABCD-1234", datetime.now(UTC))
    assert seen and seen[0].code == "ABCD-1234" and "devicelogin" in seen[0].sentence()
    assert capsys.readouterr().out == ""


def test_computes_without_any_sign_in_says_so_in_one_line_at_once(tmp_path):
    """Nothing to sign in with (no service principal, no `az`): `olive-lab computes` used to start a
    device-code sign-in it could only fail, printing azure-identity's raw warning first, after 7 s of retries.
    A proxy that refuses every connection stands in for the network, so no real host is ever contacted."""
    import os
    import subprocess
    import sys
    import time

    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "lab.toml").write_text(
        f'[azure]\nsubscription_id = "{SUB}"\nresource_group = "rg"\nworkspace_name = "ws1"\n'
    )
    (tmp_path / "bin").mkdir()  # a PATH without the Azure CLI
    env = {k: v for k, v in os.environ.items() if not k.startswith("AZURE_")}
    refused = "http://127.0.0.1:9"
    env.update(PATH=str(tmp_path / "bin"), AZURE_CONFIG_DIR=str(tmp_path / "azure"), HTTPS_PROXY=refused,
               HTTP_PROXY=refused, NO_PROXY="", PYTHONPATH=str(Path(__file__).resolve().parent.parent))  # fmt: skip
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "cli", "computes", "--lab", str(lab)],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    took = time.monotonic() - started
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("olive-lab: not signed in to Azure: no service principal in AZURE_CLIENT_ID")
    assert "no Azure CLI (`az`) on this machine" in lines[0]
    assert len(lines) == 2 and "az login --use-device-code" in lines[1] and "--sign-in device" in lines[1]
    assert took < 4, f"took {took:.1f} s"


def test_an_unreachable_sign_in_host_reads_as_a_network_failure(monkeypatch):
    """The sign-in host's name does not resolve: the failure is injected where a real one happens (under
    azure-core's requests transport, in the HTTP adapter), and no host is contacted."""
    import socket

    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from urllib3.exceptions import MaxRetryError, NameResolutionError

    from engine.azure.errors import NetworkDown

    class NoDns(requests.adapters.HTTPAdapter):
        def send(self, request, **kwargs):
            host = requests.utils.urlparse(request.url).hostname
            reason = NameResolutionError(host, None, socket.gaierror(-2, "Name or service not known"))
            raise requests.exceptions.ConnectionError(MaxRetryError(None, request.path_url, reason), request=request)

    session = requests.Session()
    session.mount("https://", NoDns())
    for name, value in (("AZURE_TENANT_ID", "00000000-0000-0000-0000-000000000001"),
                        ("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000002"),
                        ("AZURE_CLIENT_SECRET", "not-a-real-secret")):  # fmt: skip
        monkeypatch.setenv(name, value)
    credential, _ = auth.make_credential(auth.SignInMethod.ENV, transport=RequestsTransport(session=session))
    with pytest.raises(NetworkDown) as err:
        auth.get_token(credential)
    assert "cannot reach login.microsoftonline.com: name resolution failed" in err.value.message
    assert "not signed in" not in err.value.full()
