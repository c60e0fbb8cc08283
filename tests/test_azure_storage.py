"""The workspace's storage as the service hands it out: a SAS that expires (Azurite refuses it afterwards), a
`listSecrets` that is refused, storage's own 403 causes, and folder markers of hierarchical-namespace storage."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from azure.ai.ml import MLClient

from engine.azure.datastore import workspace_container
from engine.azure.download import download_prefix
from engine.azure.errors import from_azure
from engine.azure.upload import scan_folder, upload_folder
from tests.azure_helpers import ACCOUNT_KEY, RG, SUB, WS, container_client, start_azurite
from tests.fakes.azure_ml import FakeAzureML, FakeCredential

pytestmark = pytest.mark.azure


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    az = start_azurite(tmp_path_factory.mktemp("azurite"))
    yield az
    az.kill()


def _client(fake: FakeAzureML) -> MLClient:
    return MLClient(FakeCredential(), SUB, RG, WS, transport=fake, show_progress=False)


def test_a_sas_that_expires_mid_upload_is_renewed_and_the_upload_finishes(azurite, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(12):
        (folder / f"part-{i:02d}.bin").write_bytes(bytes([i]) * 1000)
    fake = FakeAzureML(SUB, RG, WS, account_key=ACCOUNT_KEY, sas_lifetime_s=2.0)

    def slow_link(_progress) -> None:  # a slow link: the whole upload outlasts the SAS several times
        time.sleep(0.12)

    container = workspace_container(_client(fake), FakeCredential(), account_url=azurite.url, retry_total=0)
    with container:
        result = upload_folder(scan_folder(folder), container, on_progress=slow_link, max_concurrency=1,
                               progress_interval=0)  # fmt: skip
    assert result.sent_files == 12
    assert fake.secrets_handed_out >= 2  # renewed from listSecrets, as the first one ran out
    sent = {
        b.name for b in container_client(azurite).list_blobs(name_starts_with=result.datastore_uri.split("/paths/")[1])
    }
    assert len(sent) == 12


def test_a_refused_list_secrets_falls_back_to_the_users_own_sign_in() -> None:
    fake = FakeAzureML(SUB, RG, WS, account_key=ACCOUNT_KEY, secrets_refused=True)
    mine = FakeCredential()
    container = workspace_container(_client(fake), mine)  # the public https endpoint (a token needs TLS)
    assert container.credential is mine  # the upload goes on with the user's Entra token, as azure-ai-ml's does


@pytest.mark.parametrize(
    ("code", "words"),
    [("AuthorizationFailure", "firewall"), ("AuthorizationPermissionMismatch", "has no data role"),
     ("KeyBasedAuthenticationNotPermitted", "shared-key"), ("AuthorizationFailed", "AzureML Data Scientist")],
)  # fmt: skip
def test_each_403_cause_gets_its_own_fix(code: str, words: str) -> None:
    from azure.core.exceptions import HttpResponseError

    class Response:  # the parts of a 403 answer azure-core reads
        status_code = 403
        reason = "Forbidden"
        headers = {"x-ms-error-code": code}

        def text(self) -> str:
            return f"<Error><Code>{code}</Code><Message>refused</Message></Error>"

    exc = HttpResponseError(message=f"refused\nErrorCode:{code}", response=Response())  # type: ignore[arg-type]
    exc.error_code = code  # type: ignore[attr-defined]  # as azure-storage-blob sets it from x-ms-error-code
    err = from_azure(exc, what="uploading")
    assert err.kind == "no_access" and words in (err.hint or "")
    others = [c for c in ("firewall", "has no data role", "shared-key", "AzureML Data Scientist") if c != words]
    assert not [o for o in others if o in (err.hint or "")]


def test_folder_markers_are_not_taken_for_files(azurite, tmp_path: Path) -> None:
    container = container_client(azurite)
    prefix = "olive-lab/runs/r1/finetune/output"
    container.upload_blob(f"{prefix}/adapter", b"", metadata={"hdi_isfolder": "true"}, overwrite=True)
    container.upload_blob(f"{prefix}/adapter/adapter_config.json", b"{}", overwrite=True)
    container.upload_blob(f"{prefix}/train.log", b"done\n", overwrite=True)
    got = download_prefix(container, prefix, tmp_path / "out", what="the job's output")
    assert (got / "adapter" / "adapter_config.json").read_text() == "{}"
    assert sorted(p.relative_to(got).as_posix() for p in got.rglob("*") if p.is_file()) == [
        "adapter/adapter_config.json", "train.log"]  # fmt: skip
