"""Registration end to end with real parts: azure-ai-ml's own client code against a control plane answered
through azure-core's transport hook, and azure-storage-blob against Azurite (the real blob protocol)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from engine.azure.errors import (
    AzureError,
    Cancelled,
    InvalidInput,
    NetworkDown,
    NoAccess,
    NotSignedIn,
    VersionExists,
    WorkspaceNotFound,
)
from engine.azure.register import RegisterRequest, plan, register_folder
from engine.azure.workspace import WorkspaceRef
from tests.azure_helpers import (
    ACCOUNT_KEY,
    RG,
    SUB,
    WS,
    container_client,
    digest,
    make_model_folder,
    start_azurite,
)
from tests.fakes.azure_ml import FakeAzureML, FakeCredential

pytestmark = pytest.mark.azure


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    az = start_azurite(tmp_path_factory.mktemp("azurite"))
    yield az
    az.kill()  # its data is not needed again; a graceful stop waits 10 s for idle connections


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("model"), total_mb=20)


def _request(folder: Path, version: str = "1", **kw) -> RegisterRequest:
    ws = WorkspaceRef(subscription_id=SUB, resource_group=RG, workspace_name=WS)
    return RegisterRequest(folder=folder, name="ft-for-travel", version=version, workspace=ws, **kw)


def _register(req, fake, az, **kw):
    return register_folder(
        req, FakeCredential(), blob_account_url=az.url, client_kwargs={"transport": fake},
        blob_kwargs={"retry_total": 0}, **kw,
    )  # fmt: skip


def test_twenty_mb_folder_end_to_end(azurite, folder):
    fake = FakeAzureML(SUB, RG, WS, account_key=ACCOUNT_KEY)
    seen = []
    req = _request(folder, tags={"base_model": "phi-3.5-mini"}, properties={"dataset_sha256": "ab" * 8})
    result = _register(req, fake, azurite, on_progress=seen.append)

    # the control plane saw exactly the SDK-shaped calls, the version checked before anything was sent
    kinds = [(m, p.rsplit("/", 2)[-2:]) for m, p in fake.calls]
    assert kinds[0] == ("GET", ["versions", "1"])
    assert ("POST", ["workspaceblobstore", "listSecrets"]) in kinds
    assert kinds[-1] == ("PUT", ["versions", "1"])
    stored = fake.models["ft-for-travel"]["1"]["properties"]
    assert stored["modelType"] == "custom_model"
    assert stored["modelUri"].endswith(f"/datastores/workspaceblobstore/paths/{result.upload.blob_prefix}")
    assert stored["tags"] == {"base_model": "phi-3.5-mini"}
    assert result.model_id.endswith("/models/ft-for-travel/versions/1")
    assert "ml.azure.com/model/ft-for-travel:1/details?wsid=" in result.studio_url
    assert result.az_command.startswith("az ml model create --name ft-for-travel --version 1 --path ")

    # every byte landed, file by file, under the content-addressed path
    blobs = {b.name: b.size for b in container_client(azurite).list_blobs(name_starts_with=result.upload.blob_prefix)}
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    assert len(blobs) == len(files) == 6
    for path in files:
        name = f"{result.upload.blob_prefix}/{path.relative_to(folder).as_posix()}"
        data = container_client(azurite).download_blob(name).readall()
        assert len(data) == path.stat().st_size and __import__("hashlib").sha256(data).hexdigest() == digest(path)

    # byte-level progress: monotonic, ends at the total, with a speed
    done = [p.done_bytes for p in seen]
    assert done == sorted(done) and done[-1] == seen[-1].total_bytes == result.upload.sent_bytes
    assert len(seen) >= 3 and any(p.speed_bps for p in seen)


def test_same_folder_again_sends_nothing(azurite, folder):
    fake = FakeAzureML(SUB, RG, WS, account_key=ACCOUNT_KEY)
    _register(_request(folder, "1"), fake, azurite)
    again = _register(_request(folder, "2"), fake, azurite)
    assert again.upload.sent_bytes == 0 and again.upload.skipped_files == 6


def test_version_conflict_is_refused_before_any_byte_moves(azurite, tmp_path):
    folder = make_model_folder(tmp_path, total_mb=1)
    fake = FakeAzureML(SUB, RG, WS, account_key=ACCOUNT_KEY)
    _register(_request(folder, "1"), fake, azurite)
    _register(_request(make_model_folder(tmp_path / "b", total_mb=1), "2"), fake, azurite)
    changed = make_model_folder(tmp_path / "c", total_mb=1)
    before = sum(1 for _ in container_client(azurite).list_blobs())
    with pytest.raises(VersionExists) as err:
        _register(_request(changed, "2"), fake, azurite)
    assert err.value.next_free == "3" and "--version 3" in (err.value.hint or "")
    assert sum(1 for _ in container_client(azurite).list_blobs()) == before
    assert not any(m == "POST" for m, _ in fake.calls[-2:])


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [(401, "InvalidAuthenticationToken", NotSignedIn), (403, "AuthorizationFailed", NoAccess),
     (404, "ResourceNotFound", WorkspaceNotFound)],
)  # fmt: skip
def test_refusals_read_plainly(azurite, tmp_path, status, code, error):
    folder = make_model_folder(tmp_path, total_mb=1)
    fake = FakeAzureML(SUB, RG, WS, account_key=ACCOUNT_KEY, faults={("GET", r"/models/"): (status, code)})
    with pytest.raises(error) as err:
        _register(_request(folder), fake, azurite)
    assert err.value.hint
    assert "sig=" not in str(err.value) or "sig=***" in str(err.value)
    assert not any(m == "PUT" for m, _ in fake.calls)


def test_unknown_workspace_is_named(azurite, tmp_path):
    folder = make_model_folder(tmp_path, total_mb=1)
    fake = FakeAzureML(SUB, RG, "another-ws", account_key=ACCOUNT_KEY)
    with pytest.raises(WorkspaceNotFound, match=WS):
        _register(_request(folder), fake, azurite)


def test_bad_input_is_refused_before_any_call(azurite, folder):
    fake = FakeAzureML(SUB, RG, WS, account_key=ACCOUNT_KEY)
    for bad in ({"name": "-bad name"}, {"version": "1 2"}, {"tags": {"a/b": "x"}}):
        req = _request(folder).model_copy(update=bad)
        with pytest.raises(InvalidInput):
            _register(req, fake, azurite)
        with pytest.raises(InvalidInput):
            plan(req)
    assert fake.calls == []


def test_expired_sign_in_is_not_signed_in(azurite, folder):
    from azure.core.exceptions import ClientAuthenticationError

    fake = FakeAzureML(SUB, RG, WS, account_key=ACCOUNT_KEY)
    with pytest.raises(NotSignedIn) as err:
        register_folder(
            _request(folder), FakeCredential(fail=ClientAuthenticationError("AADSTS70043: token expired")),
            blob_account_url=azurite.url, client_kwargs={"transport": fake},
        )  # fmt: skip
    assert "az login" in err.value.full() and fake.calls == []


def test_azurite_killed_mid_upload_then_resume_skips_finished_blobs(tmp_path):
    az = start_azurite(tmp_path / "azurite")
    try:
        folder = make_model_folder(tmp_path, total_mb=20)
        fake = FakeAzureML(SUB, RG, WS, account_key=ACCOUNT_KEY)
        killed = threading.Event()

        def kill_after_two_files(p):
            if p.files_done >= 2 and not killed.is_set():
                killed.set()
                # Azurite saves its blob index every 5 s and a SIGKILL loses what it had not saved (a real
                # storage account never loses a committed blob): let one save pass, then kill it mid-upload.
                time.sleep(5.5)
                az.kill()

        with pytest.raises(NetworkDown) as err:
            _register(_request(folder), fake, az, on_progress=kill_after_two_files)
        assert "skipped" in (err.value.hint or "")
        az.start()
        done_before = {b.name: b.etag for b in container_client(az).list_blobs()}
        assert 2 <= len(done_before) < 6
        result = _register(_request(folder), fake, az)
        assert result.upload.skipped_files == len(done_before)
        assert result.upload.sent_files == 6 - len(done_before)
        after = {b.name: b.etag for b in container_client(az).list_blobs()}
        assert all(after[name] == etag for name, etag in done_before.items())  # not re-sent
        assert len(after) == 6 and "ft-for-travel" in fake.models
    finally:
        az.kill()  # its data is not needed again; a graceful stop waits 10 s for idle connections


def test_cancel_between_files_then_resume_finishes(azurite, tmp_path):
    folder = make_model_folder(tmp_path, total_mb=8)
    fake = FakeAzureML(SUB, RG, WS, account_key=ACCOUNT_KEY)
    cancel = threading.Event()

    def cancel_after_two(p):
        if p.files_done >= 2:
            cancel.set()

    with pytest.raises(Cancelled):
        _register(_request(folder), fake, azurite, on_progress=cancel_after_two, cancel=cancel)
    assert "ft-for-travel" not in fake.models
    result = _register(_request(folder), fake, azurite)
    assert result.upload.skipped_files == 2 and result.upload.sent_files == 4


def test_cancel_inside_a_large_file_commits_nothing_of_it(azurite, tmp_path):
    from engine.azure.datastore import BLOCK_SIZE, SINGLE_PUT_LIMIT
    from engine.azure.upload import scan_folder, upload_folder

    folder = make_model_folder(tmp_path, total_mb=40)  # model.onnx.data: 24.8 MiB, sent in 4 MiB blocks
    manifest = scan_folder(folder)
    cancel = threading.Event()

    def cancel_in_big_file(p):
        if p.current_file == "model.onnx.data" and p.done_bytes > p.total_bytes * 0.12:
            cancel.set()

    container = container_client(azurite, max_single_put_size=SINGLE_PUT_LIMIT, max_block_size=BLOCK_SIZE)
    with pytest.raises(Cancelled):
        upload_folder(
            manifest, container, on_progress=cancel_in_big_file, cancel=cancel, progress_interval=0, max_concurrency=1
        )
    names = {b.name.rsplit("/", 1)[-1] for b in container.list_blobs(name_starts_with=manifest.blob_prefix)}
    assert names == {"genai_config.json", "model.onnx"}  # the big file was stopped before its commit


def test_registration_json_is_read_back_typed_and_a_newer_or_damaged_one_is_refused_with_its_path(
    tmp_path: Path,
) -> None:
    from engine.azure.register import RESULT_FILE, RegisterResult, read_result
    from engine.azure.upload import UploadResult

    assert read_result(tmp_path) is None  # the step wrote none (it failed or was cancelled)
    upload = UploadResult(datastore="workspaceblobstore", blob_prefix="p",
                          datastore_uri="azureml://datastores/w/paths/p",
                          sent_bytes=10, sent_files=1, skipped_bytes=0, skipped_files=0, seconds=0.5)  # fmt: skip
    written = RegisterResult(
        model_id="azureml:travel:3",
        name="travel",
        version="3",
        studio_url="https://ml.azure.com/x",
        az_command="az ml model create ...",
        datastore_uri=upload.datastore_uri,
        upload=upload,
    )
    (tmp_path / RESULT_FILE).write_text(written.model_dump_json(indent=1) + "\n")  # as the register step writes it
    result = read_result(tmp_path)
    assert result is not None and (result.name, result.version, result.upload.sent_files) == ("travel", "3", 1)
    assert json.loads((tmp_path / RESULT_FILE).read_text())["schema_version"] == 1

    (tmp_path / RESULT_FILE).write_text(written.model_copy(update={"schema_version": 2}).model_dump_json())
    with pytest.raises(AzureError, match=r"registration.json: written by a newer olive-lab \(registration format 2"):
        read_result(tmp_path)
    (tmp_path / RESULT_FILE).write_text('{"name": "travel"')
    with pytest.raises(AzureError, match=r"registration.json: damaged"):
        read_result(tmp_path)
    (tmp_path / RESULT_FILE).write_text('{"name": "travel"}')
    with pytest.raises(AzureError, match=r"registration.json: not a registration result \(model_id: Field required\)"):
        read_result(tmp_path)


def test_a_model_re_put_is_an_update_or_a_refusal_of_other_content_as_the_service_answers(tmp_path) -> None:
    from azure.ai.ml import MLClient
    from azure.ai.ml.entities import Model
    from azure.core.exceptions import HttpResponseError

    fake = FakeAzureML(SUB, RG, WS, account_key=ACCOUNT_KEY)
    client = MLClient(FakeCredential(), SUB, RG, WS, transport=fake, show_progress=False)
    here = "azureml://datastores/workspaceblobstore/paths/LocalUpload/aaaa/model"  # no upload: a datastore path

    def put(path: str, **kw):
        return client.models.create_or_update(Model(name="travel", version="1", type="custom_model", path=path, **kw))

    put(here, tags={"a": "1"}, properties={"base_model": "phi"})
    created_at = fake.models["travel"]["1"]["systemData"]["createdAt"]
    # the same content again: an update (200), its tags and description replaced, its properties kept
    again = put(here, tags={"a": "2"}, description="second", properties={"golden": "0.9"})
    assert again.tags == {"a": "2"} and again.description == "second"
    stored = fake.models["travel"]["1"]
    assert stored["properties"]["properties"] == {"base_model": "phi", "golden": "0.9"}
    assert stored["systemData"]["createdAt"] == created_at and len(fake.models["travel"]) == 1
    # other content under the same version: refused as the service refuses it, nothing changed
    with pytest.raises(HttpResponseError) as err:
        put("azureml://datastores/workspaceblobstore/paths/LocalUpload/bbbb/model")
    assert err.value.status_code == 400 and "(UserError) Asset paths cannot be updated." in str(err.value)
    with pytest.raises(HttpResponseError, match="cannot be replaced to qwen without increasing the version"):
        put(here, properties={"base_model": "qwen"})
    assert fake.models["travel"]["1"]["properties"]["modelUri"].endswith("/paths/LocalUpload/aaaa/model")


def test_a_version_taken_since_the_check_is_refused_with_the_next_free_number_or_updated_with_the_same_content(
    azurite, tmp_path, monkeypatch
) -> None:
    import engine.azure.register as register

    fake = FakeAzureML(SUB, RG, WS, account_key=ACCOUNT_KEY)
    first = make_model_folder(tmp_path / "a", total_mb=1)
    _register(_request(first, "1"), fake, azurite)
    # someone registers version 1 between our check and our PUT: the check saw it free
    monkeypatch.setattr(register, "check_version_free", lambda client, req: None)
    with pytest.raises(VersionExists) as err:
        _register(_request(make_model_folder(tmp_path / "b", total_mb=1), "1"), fake, azurite)
    assert err.value.next_free == "2" and "--version 2" in (err.value.hint or "")
    # the same folder under that version: the service takes it as an update, and so does the step
    same = _register(_request(first, "1", tags={"again": "yes"}), fake, azurite)
    assert same.version == "1" and fake.models["ft-for-travel"]["1"]["properties"]["tags"]["again"] == "yes"
