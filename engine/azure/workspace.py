"""Which Azure ML workspace (or hub-based Azure AI Foundry project) to talk to, and the client for it.

Each of the three names (subscription, resource group, workspace) comes from the first place that has it:
command-line flags, the `[azure]` table of `lab.toml`, the Azure CLI's defaults (`az config set
defaults.group=... defaults.workspace=...` and the default subscription of `az account set`), then a
`config.json` as the studio downloads it (in the lab folder or its `.azureml/`). The answer records where each
name came from, so a surprising workspace can be explained.
"""

from __future__ import annotations

import configparser
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from engine.azure.errors import InvalidInput, WorkspaceUnresolved

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.core.credentials import TokenCredential

_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
_RESOURCE_GROUP = re.compile(r"^[-\w._()]{1,90}$")
_WORKSPACE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_-]{2,32}$")

FIELDS = ("subscription_id", "resource_group", "workspace_name")


class WorkspaceRef(BaseModel):
    subscription_id: str
    resource_group: str
    workspace_name: str
    sources: dict[str, str] = {}


def azure_config_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("AZURE_CONFIG_DIR") or Path.home() / ".azure")


def az_defaults(config_dir: Path) -> dict[str, str]:
    """The Azure CLI's defaults: `[defaults]` of its config file and the default subscription."""
    found: dict[str, str] = {}
    parser = configparser.ConfigParser()
    try:
        parser.read(config_dir / "config", encoding="utf-8")
    except (configparser.Error, OSError):
        pass
    if parser.has_section("defaults"):
        if parser.get("defaults", "group", fallback=""):
            found["resource_group"] = parser.get("defaults", "group")
        if parser.get("defaults", "workspace", fallback=""):
            found["workspace_name"] = parser.get("defaults", "workspace")
    try:
        profile = json.loads((config_dir / "azureProfile.json").read_text(encoding="utf-8-sig"))
        for sub in profile.get("subscriptions", []):
            if sub.get("isDefault") and sub.get("id"):
                found["subscription_id"] = str(sub["id"])
    except (OSError, ValueError, AttributeError):
        pass
    return found


def config_json(lab_root: Path | None) -> tuple[dict[str, str], Path | None]:
    """The names in a studio `config.json` in the lab folder or its `.azureml/`."""
    if lab_root is None:
        return {}, None
    for path in (lab_root / "config.json", lab_root / ".azureml" / "config.json"):
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and "subscription_id" in data:
            keys = {
                "subscription_id": "subscription_id",
                "resource_group": "resource_group",
                "workspace_name": "workspace_name",
            }
            return {ours: str(data[theirs]) for ours, theirs in keys.items() if data.get(theirs)}, path
    return {}, None


def _table_names(table: Mapping[str, Any] | None) -> dict[str, str]:
    if not table:
        return {}
    aliases = {
        "subscription_id": ("subscription_id", "subscription"),
        "resource_group": ("resource_group",),
        "workspace_name": ("workspace_name", "workspace", "project"),
    }
    out: dict[str, str] = {}
    for field, names in aliases.items():
        for name in names:
            if table.get(name):
                out[field] = str(table[name])
                break
    return out


def resolve_workspace(
    *,
    subscription: str | None = None,
    resource_group: str | None = None,
    workspace: str | None = None,
    lab_table: Mapping[str, Any] | None = None,
    lab_root: Path | None = None,
    config_dir: Path | None = None,
) -> WorkspaceRef:
    """The workspace from flags, then `[azure]` in lab.toml, then the az defaults, then config.json."""
    flags = {k: v for k, v in zip(FIELDS, (subscription, resource_group, workspace), strict=True) if v}
    cfg_json, cfg_path = config_json(lab_root)
    layers = [
        ("flag", flags),
        ("lab.toml [azure]", _table_names(lab_table)),
        ("az defaults", az_defaults(config_dir or azure_config_dir())),
        (str(cfg_path) if cfg_path else "config.json", cfg_json),
    ]
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    for field in FIELDS:
        for source, layer in layers:
            if layer.get(field):
                values[field], sources[field] = layer[field], source
                break
    missing = [f for f in FIELDS if f not in values]
    if missing:
        flag = {
            "subscription_id": "--subscription",
            "resource_group": "--resource-group",
            "workspace_name": "--workspace",
        }
        raise WorkspaceUnresolved(
            "no " + ", no ".join(m.replace("_", " ").replace(" id", "") for m in missing) + " given",
            "pass "
            + " and ".join(flag[m] for m in missing)
            + ", or set them in lab.toml's [azure] table, or `az account set` / `az config set defaults.group=...`",
        )
    ref = WorkspaceRef(**values, sources=sources)
    validate_workspace(ref)
    return ref


def validate_workspace(ref: WorkspaceRef) -> None:
    if not _GUID.match(ref.subscription_id):
        raise InvalidInput(
            f"subscription {ref.subscription_id!r} is not a subscription id (a GUID)",
            "`az account list -o table` lists yours",
        )
    if not _RESOURCE_GROUP.match(ref.resource_group) or ref.resource_group.endswith("."):
        raise InvalidInput(
            f"resource group {ref.resource_group!r} is not a valid name",
            "1-90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'",
        )
    if not _WORKSPACE.match(ref.workspace_name):
        raise InvalidInput(
            f"workspace {ref.workspace_name!r} is not a valid name",
            "3-33 letters, digits, '-' or '_', starting with a letter or digit",
        )


def ml_client(ref: WorkspaceRef, credential: TokenCredential, **client_kwargs: Any) -> MLClient:
    """azure-ai-ml's client for the workspace; `client_kwargs` reach azure-core (a `transport`, say)."""
    # Deferred: azure-ai-ml takes seconds to import; only Azure work needs it.
    from azure.ai.ml import MLClient

    return MLClient(
        credential,
        subscription_id=ref.subscription_id,
        resource_group_name=ref.resource_group,
        workspace_name=ref.workspace_name,
        show_progress=False,
        **client_kwargs,
    )


def registry_client(registry: str, credential: TokenCredential, **client_kwargs: Any) -> MLClient:
    """azure-ai-ml's client for a registry (`azureml` is the public catalog)."""
    # Deferred: azure-ai-ml takes seconds to import; only Azure work needs it.
    from azure.ai.ml import MLClient

    return MLClient(credential, registry_name=registry, show_progress=False, **client_kwargs)
