"""Send a model folder to the workspace's default datastore, with byte-level progress, cancel and resume.

The layout is the SDK's own (`az ml model create --path` puts files at
`LocalUpload/<sha256 of the folder>/<folder name>/...`), so the same folder always lands at the same
content-addressed path. Each blob carries the SHA-256 of its file in its metadata; a blob only becomes
visible once its block list is committed, so a blob that is there with the right size and digest is
complete, and a resumed upload (after a dropped connection or a cancel) skips it without sending a byte.

azure-ai-ml would upload the folder itself, but it reports progress only per finished file and has no
cancel; this module uses azure-storage-blob directly, then the model is registered pointing at the path.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from engine.azure.errors import (
    AzureError,
    Cancelled,
    DatastoreUnreachable,
    InvalidInput,
    NetworkDown,
    from_azure,
)
from engine.azure.transfer import ProgressListener, TransferMeter
from engine.redact import redact

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

UPLOAD_ROOT = "LocalUpload"
DEFAULT_DATASTORE = "workspaceblobstore"
DIGEST_KEY = "content_sha256"
STREAMED_PUT_LIMIT = 64 * 2**20  # files up to this size go in one streamed request: no buffer, few requests
_READ = 2**20


class FolderFile(BaseModel):
    rel: str  # POSIX path inside the folder
    size: int
    sha256: str


class FolderManifest(BaseModel):
    """A folder's files, sizes and digests, and the folder's content hash."""

    root: Path
    files: list[FolderFile]
    total_bytes: int
    content_hash: str

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def blob_prefix(self) -> str:
        return f"{UPLOAD_ROOT}/{self.content_hash}/{self.name}"


class UploadResult(BaseModel):
    datastore: str
    blob_prefix: str
    datastore_uri: str  # azureml://datastores/<ds>/paths/<prefix>: what the model version points at
    sent_bytes: int
    sent_files: int
    skipped_bytes: int
    skipped_files: int
    seconds: float


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_READ):
            digest.update(chunk)
    return digest.hexdigest()


OLIVE_CACHE = ".olive-cache"  # Olive's cache, in whichever folder it was started


def scan_folder(root: Path) -> FolderManifest:
    """Every regular file under `root` (symbolic links followed only inside it, Olive's cache left out), with
    digests."""
    root = Path(root).expanduser().resolve()
    if not root.is_dir():
        raise InvalidInput(f"{root} is not a folder")
    files: list[FolderFile] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != OLIVE_CACHE)  # Olive's model copies, as export skips them
        for name in sorted(filenames):
            path = Path(dirpath) / name
            real = path.resolve()
            if not real.is_file() or not real.is_relative_to(root):
                continue
            rel = path.relative_to(root).as_posix()
            files.append(FolderFile(rel=rel, size=real.stat().st_size, sha256=_file_digest(real)))
    if not files:
        raise InvalidInput(f"{root} holds no files", "pick the optimize step's output folder")
    folder = hashlib.sha256()
    for f in files:
        folder.update(f"{f.rel}\0{f.size}\0{f.sha256}\n".encode())
    return FolderManifest(
        root=root, files=files, total_bytes=sum(f.size for f in files), content_hash=folder.hexdigest()
    )


def _blob_error(exc: BaseException, what: str) -> AzureError:
    # Deferred with the rest of azure-core.
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    if isinstance(exc, (ServiceRequestError, ServiceResponseError, ConnectionError, TimeoutError)):
        return NetworkDown(
            f"the connection to the datastore dropped while {what}: {redact(str(exc).splitlines()[0])}",
            "run the upload again: files already sent are skipped",
        )
    if isinstance(exc, HttpResponseError) and exc.status_code not in (401, 403, 404):
        return DatastoreUnreachable(f"the datastore refused {what}: {redact(str(exc).splitlines()[0])}")
    return from_azure(exc, what=what)


def existing_blobs(container: ContainerClient, prefix: str) -> dict[str, tuple[int, str | None]]:
    """Blobs already committed under `prefix`: name -> (size, recorded digest)."""
    try:
        return {
            b.name: (int(b.size or 0), (b.metadata or {}).get(DIGEST_KEY))
            for b in container.list_blobs(name_starts_with=prefix + "/", include=["metadata"])
        }
    except Exception as exc:
        raise _blob_error(exc, "listing what was already sent") from None


class _CancelledInHook(Exception):
    pass


class _CountingReader:
    """A file as a request body: counts bytes as the transport reads them (byte progress) and stops the
    request when cancelled. A retry seeks back to the start, and the count follows."""

    def __init__(self, fh: Any, on_read: Any, cancel: threading.Event) -> None:
        self.fh, self.on_read, self.cancel, self.pos = fh, on_read, cancel, 0

    def read(self, size: int = -1) -> bytes:
        if self.cancel.is_set():
            raise _CancelledInHook()
        data = self.fh.read(size)
        self.pos += len(data)
        self.on_read(self.pos, None)
        return bytes(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = self.fh.seek(offset, whence)
        return self.pos

    def tell(self) -> int:
        return int(self.fh.tell())


def _put_streamed(container: ContainerClient, name: str, fh: Any, size: int, digest: str, reader: Any) -> None:
    """One Put Blob request whose body is streamed from the file. The public `upload_blob` reads a file it
    sends in one request whole into memory, and sends larger ones in many block requests; the generated
    client's Put Blob takes a stream, so the transport sends it in small pieces: one request, no buffer."""
    blob: Any = container.get_blob_client(name)
    blob._client.block_blob.upload(content_length=size, body=reader, headers={f"x-ms-meta-{DIGEST_KEY}": digest})


def upload_folder(
    manifest: FolderManifest,
    container: ContainerClient,
    *,
    datastore: str = "workspaceblobstore",
    on_progress: ProgressListener | None = None,
    cancel: threading.Event | None = None,
    max_concurrency: int = 4,
    progress_interval: float = 0.25,
) -> UploadResult:
    """Send every file of `manifest` not already complete in `container`; `cancel` stops within a block."""
    cancel = cancel or threading.Event()
    prefix = manifest.blob_prefix
    meter = TransferMeter(manifest.total_bytes, len(manifest.files), on_progress, interval=progress_interval)
    there = existing_blobs(container, prefix)
    sent_bytes = sent_files = skipped_bytes = skipped_files = 0
    for f in manifest.files:
        if cancel.is_set():
            raise Cancelled("upload cancelled", "run it again to resume: files already sent are skipped")
        name = f"{prefix}/{f.rel}"
        if there.get(name) == (f.size, f.sha256):
            meter.skip(name, f.size)
            skipped_bytes += f.size
            skipped_files += 1
            continue
        meter.start_file(f.rel)

        def hook(current: int, total: int | None, _name: str = f.rel) -> None:
            if cancel.is_set():
                raise _CancelledInHook()
            meter.advance(_name, current)

        try:
            with open(manifest.root / f.rel, "rb") as fh:
                if f.size <= STREAMED_PUT_LIMIT:
                    _put_streamed(container, name, fh, f.size, f.sha256, _CountingReader(fh, hook, cancel))
                else:
                    container.upload_blob(
                        name,
                        fh,
                        length=f.size,
                        overwrite=True,
                        metadata={DIGEST_KEY: f.sha256},
                        max_concurrency=max_concurrency,
                        progress_hook=hook,
                    )
        except _CancelledInHook:
            meter.abandon_file(f.rel)
            raise Cancelled("upload cancelled", "run it again to resume: files already sent are skipped") from None
        except Exception as exc:
            meter.abandon_file(f.rel)
            if cancel.is_set():
                raise Cancelled("upload cancelled", "run it again to resume") from None
            raise _blob_error(exc, f"sending {f.rel}") from None
        meter.finish_file(f.rel, f.size)
        sent_bytes += f.size
        sent_files += 1
    progress = meter.final()
    return UploadResult(
        datastore=datastore,
        blob_prefix=prefix,
        datastore_uri=f"azureml://datastores/{datastore}/paths/{prefix}",
        sent_bytes=sent_bytes,
        sent_files=sent_files,
        skipped_bytes=skipped_bytes,
        skipped_files=skipped_files,
        seconds=progress.elapsed_s,
    )
