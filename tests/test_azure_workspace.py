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
    lines = ["[defaults]"] + ([f"group = {group}"] if group else []) + ([f"workspace = {workspace}"] if workspace else [])
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
