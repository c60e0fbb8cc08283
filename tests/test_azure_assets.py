"""Azure models as input: catalog (registry) and workspace ids resolved by the real SDK through the fake
control plane, files downloaded from Azurite into the lab's model cache with progress, reused next time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.azure.assets import cached_path, download_asset, parse_asset_id
from engine.azure.errors import AssetNotFound, InvalidInput, NoAccess
from engine.azure.register import RegisterRequest, register_folder
from engine.azure.transfer import TransferProgress
from engine.azure.workspace import WorkspaceRef
from tests.azure_helpers import ACCOUNT_KEY, RG, SUB, WS, digest, make_model_folder, start_azurite
from tests.fakes.azure_ml import FakeAzureML, FakeCredential

pytestmark = pytest.mark.azure
CATALOG_ID = "azureml://registries/azureml/models/Phi-mini/versions/4"
STORE = "registry-store"


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """Azurite holding a catalog model's files, and a fake control plane whose registry hands out a SAS URL."""
    from azure.storage.blob import BlobServiceClient, ContainerSasPermissions, generate_container_sas

    tmp = tmp_path_factory.mktemp("catalog")
    az = start_azurite(tmp / "azurite")
    folder = make_model_folder(tmp, total_mb=6, name="model")
    service = BlobServiceClient.from_connection_string(az.connection_string)
    container = service.create_container(STORE)
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                container.upload_blob(f"models/Phi-mini/4/model/{path.relative_to(folder).as_posix()}", fh)
    sas = generate_container_sas("devstoreaccount1", STORE, account_key=ACCOUNT_KEY,
                                 permission=ContainerSasPermissions(read=True, list=True),
                                 expiry=datetime.now(UTC) + timedelta(hours=1))  # fmt: skip
    fake = FakeAzureML(SUB, RG, WS, account_key=ACCOUNT_KEY)
    fake.registry_models[("azureml", "Phi-mini", "4")] = (
        f"https://registrystore.blob.core.windows.net/{STORE}/models/Phi-mini/4/model",
        f"{az.url}/{STORE}?{sas}",
    )
    yield az, fake, folder
    az.kill()  # its data is not needed again; a graceful stop waits 10 s for idle connections


def test_ids_are_parsed_or_refused():
    a = parse_asset_id(CATALOG_ID)
    assert (a.registry, a.name, a.version) == ("azureml", "Phi-mini", "4")
    w = parse_asset_id(f"azureml://subscriptions/{SUB}/resourceGroups/{RG}/workspaces/{WS}/models/m/versions/2")
    assert w.workspace and w.workspace.workspace_name == WS and w.version == "2"
    with pytest.raises(InvalidInput, match="no version"):
        parse_asset_id("azureml://registries/azureml/models/Phi-mini")
    with pytest.raises(InvalidInput, match="not an Azure model id"):
        parse_asset_id("azureml://registries/azureml/Phi")
    with pytest.raises(InvalidInput, match="no workspace"):
        parse_asset_id("azureml:m:1")


def test_catalog_model_downloads_into_the_cache_once(catalog, tmp_path: Path):
    _az, fake, folder = catalog
    models = tmp_path / ".olive-lab" / "models"
    seen: list[TransferProgress] = []
    path = download_asset(parse_asset_id(CATALOG_ID), models, FakeCredential(), on_progress=seen.append,
                          client_kwargs={"transport": fake})  # fmt: skip
    for src in folder.rglob("*"):
        if src.is_file():
            assert digest(path / src.relative_to(folder)) == digest(src)
    assert seen[-1].done_bytes == seen[-1].total_bytes > 6_000_000
    assert cached_path(models, parse_asset_id(CATALOG_ID)) == path
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    calls = len(fake.calls)
    assert (
        download_asset(parse_asset_id(CATALOG_ID), models, FakeCredential(), client_kwargs={"transport": fake}) == path
    )
    assert len(fake.calls) == calls  # reused, nothing asked


def test_catalog_refusals(catalog, tmp_path: Path):
    _az, fake, _folder = catalog
    models = tmp_path / "models"
    with pytest.raises(AssetNotFound, match="version 9"):
        download_asset(parse_asset_id("azureml://registries/azureml/models/Phi-mini/versions/9"), models,
                       FakeCredential(), client_kwargs={"transport": fake})  # fmt: skip
    fake.registry_denied.add("azureml")
    try:
        with pytest.raises(NoAccess):
            download_asset(parse_asset_id(CATALOG_ID), models, FakeCredential(), client_kwargs={"transport": fake})
    finally:
        fake.registry_denied.discard("azureml")
    assert not (models / "azureml").exists() or not any((models / "azureml").rglob("*.bin"))


def test_workspace_model_round_trip(catalog, tmp_path: Path):
    az, _fake, _folder = catalog
    fake = FakeAzureML(SUB, RG, WS, account_key=ACCOUNT_KEY)
    folder = make_model_folder(tmp_path, total_mb=2)
    ws = WorkspaceRef(subscription_id=SUB, resource_group=RG, workspace_name=WS)
    register_folder(RegisterRequest(folder=folder, name="ft-for-travel", version="1", workspace=ws),
                    FakeCredential(), blob_account_url=az.url, client_kwargs={"transport": fake})  # fmt: skip
    path = download_asset(parse_asset_id("azureml:ft-for-travel:1", ws), tmp_path / "models", FakeCredential(),
                          client_kwargs={"transport": fake}, blob_account_url=az.url)  # fmt: skip
    assert digest(path / "model.onnx.data") == digest(folder / "model.onnx.data")


def test_prepare_step_downloads_the_base_model_and_preflight_refuses_bad_ids(catalog, tmp_path: Path, monkeypatch):
    """The prepare step program (as the supervisor runs it) fetches an Azure base model into the cache."""
    import json
    import os
    import subprocess

    from engine.config import build_config
    from engine.paths import LabPaths
    from engine.runs.preflight import preflight
    from engine.steps.spec import step_argv, step_paths
    from tests.azure_fixtures import SITE

    _az, fake, folder = catalog
    uri, sas = fake.registry_models[("azureml", "Phi-mini", "4")]
    spec = {"subscription": SUB, "resource_group": RG, "workspace": WS, "account_key": ACCOUNT_KEY,
            "blob_url": "", "registry_models": [["azureml", "Phi-mini", "4", uri, sas]]}  # fmt: skip
    cache = tmp_path / "cache"
    monkeypatch.setenv("OLIVE_LAB_CACHE", str(cache))
    env = {**os.environ, "OLIVE_LAB_FAKE_AZURE": json.dumps(spec), "OLIVE_LAB_CACHE": str(cache),
           "PYTHONPATH": os.pathsep.join([str(SITE), str(Path(__file__).resolve().parents[1])])}  # fmt: skip
    lab = LabPaths.at(tmp_path)
    config = build_config("demo", {"model": CATALOG_ID})
    paths = step_paths("prepare", config, run=str(tmp_path / "run"), lab=lab)
    argv = step_argv("prepare", config, paths)
    assert "--azure-model" in argv
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Download " in proc.stdout and "Azure model ready" in proc.stdout
    model_dir = cache / "models" / "azureml" / "registry-azureml" / "Phi-mini" / "4"
    assert digest(model_dir / "model.onnx.data") == digest(folder / "model.onnx.data")
    # the steps after prepare read the model from that cache folder
    assert step_paths("quantize", config, run="r", lab=lab).input_model == str(model_dir)
    bad = build_config("demo", {"model": "azureml://registries/azureml/models/Phi-mini"})
    assert any("names no version" in p for p in preflight(lab, bad))
