"""Secrets never leak: the one redactor, and a scan of everything an upload wrote or printed for the bearer
token, the account key and the SAS signatures the fakes handed out."""

from __future__ import annotations

import json
import logging
from datetime import UTC
from pathlib import Path
from urllib.parse import parse_qs, unquote

import pytest

from engine.azure.errors import NoAccess
from engine.azure.register import RegisterRequest, register_folder
from engine.azure.workspace import WorkspaceRef
from engine.redact import MASK, find_leaks, install_log_filter, is_secret_name, mask_env, redact, remember
from tests.azure_helpers import ACCOUNT_KEY, CONTAINER, RG, SUB, WS, make_model_folder, start_azurite
from tests.fakes.azure_ml import BEARER_TOKEN, LEAKY_SAS_SIG, FakeAzureML, FakeCredential


def test_shapes_are_masked():
    jwt = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJ1cG4iOiJ1QGV4YW1wbGUuY29tIn0.c2lnbmF0dXJlLXBhcnQ"
    cases = {
        "Authorization: Bearer abc.def-ghi": "abc.def-ghi",
        f"token {jwt} end": jwt,
        f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={ACCOUNT_KEY};": ACCOUNT_KEY,
        "https://a.blob.core.windows.net/c/b?sv=2024-05-04&se=2026&sp=r&sig=AbC%2Bd%3D": "AbC%2Bd%3D",
        '{"accessToken": "opaque-value-123"}': "opaque-value-123",
        "SharedAccessSignature=sv=2020&sig=zzz;": "sv=2020",
        f"key is {ACCOUNT_KEY} here": ACCOUNT_KEY,
    }
    for text, secret in cases.items():
        out = redact(text)
        assert secret not in out and MASK in out, (text, out)
    assert redact("nothing secret in model.onnx (12 MB)") == "nothing secret in model.onnx (12 MB)"


def test_remembered_values_and_env_names():
    remember("an-opaque-secret-value")
    assert redact("x an-opaque-secret-value y") == f"x {MASK} y"
    for name in ("HF_TOKEN", "AZURE_CLIENT_SECRET", "STORAGE_KEY", "DB_PASSWORD", "MY_SAS",
                 "AZURE_STORAGE_CONNECTION_STRING"):  # fmt: skip
        assert is_secret_name(name)
    assert not is_secret_name("CUDA_VISIBLE_DEVICES")
    assert mask_env({"HF_TOKEN": "hf_abc", "CUDA_VISIBLE_DEVICES": "0"}) == {
        "HF_TOKEN": MASK,
        "CUDA_VISIBLE_DEVICES": "0",
    }


def _sas_for_azurite() -> str:
    from datetime import datetime, timedelta

    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    return generate_container_sas(
        "devstoreaccount1", CONTAINER, account_key=ACCOUNT_KEY,
        permission=ContainerSasPermissions(read=True, write=True, list=True, create=True, add=True),
        expiry=datetime.now(UTC) + timedelta(hours=1),
    )  # fmt: skip


@pytest.mark.azure
def test_nothing_written_or_printed_holds_a_secret(tmp_path: Path, capsys, caplog):
    az = start_azurite(tmp_path / "azurite")
    out = tmp_path / "written"
    out.mkdir()
    log_file = out / "upload.log"
    handler = logging.FileHandler(log_file)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    install_log_filter()
    sas = _sas_for_azurite()
    sas_sig = parse_qs(sas)["sig"][0]
    try:
        folder = make_model_folder(tmp_path, total_mb=2)
        ws = WorkspaceRef(subscription_id=SUB, resource_group=RG, workspace_name=WS)
        req = RegisterRequest(folder=folder, name="ft-for-travel", version="1", workspace=ws)
        client_kwargs = {"logging_enable": True}  # azure-core logs every request and answer at DEBUG
        # a refusal whose message carries a SAS URL
        fake = FakeAzureML(
            SUB, RG, WS, account_key=ACCOUNT_KEY, faults={("GET", r"/models/"): (403, "AuthorizationFailed")}
        )
        with pytest.raises(NoAccess) as err:
            register_folder(req, FakeCredential(), blob_account_url=az.url,
                            client_kwargs={"transport": fake, **client_kwargs})  # fmt: skip
        logging.getLogger("olive_lab").error("upload failed: %s", err.value.full())
        print(err.value.full())
        # a SAS datastore and an account-key datastore, each end to end
        for fake in (FakeAzureML(SUB, RG, WS, sas_token=sas), FakeAzureML(SUB, RG, WS, account_key=ACCOUNT_KEY)):
            result = register_folder(
                req.model_copy(update={"version": str(len(fake.calls) + 1)}), FakeCredential(),
                blob_account_url=az.url, client_kwargs={"transport": fake, **client_kwargs},
                on_stage=lambda s: logging.getLogger("olive_lab").info(s),
            )  # fmt: skip
            (out / f"result-{fake.sas_token is not None}.json").write_text(result.model_dump_json())
            print(result.model_dump_json())
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(old_level)
        az.kill()  # its data is not needed again; a graceful stop waits 10 s for idle connections

    secrets = [BEARER_TOKEN, ACCOUNT_KEY, sas_sig, unquote(sas_sig), LEAKY_SAS_SIG.split("=", 1)[1]]
    captured = capsys.readouterr()
    texts = {"stdout": captured.out, "stderr": captured.err, "caplog": caplog.text}
    texts.update({str(p): p.read_text(errors="replace") for p in out.rglob("*") if p.is_file()})
    assert log_file.stat().st_size > 1000  # the SDK really logged its requests
    leaks = {where: find_leaks(text, secrets) for where, text in texts.items()}
    assert not any(leaks.values()), json.dumps({k: len(v) for k, v in leaks.items()})
