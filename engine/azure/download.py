"""Bring a folder of blobs (every blob under a prefix) down into a local folder, with byte progress and
cancel, atomically: the files land in a hidden `.partial` folder that replaces the target only once all of
them are there, so a half download is never taken for a model or a step's output."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from engine.azure.errors import AssetNotFound, AzureError, Cancelled, from_azure
from engine.azure.transfer import ProgressListener, TransferMeter
from engine.fs import atomic_dir, private_dir

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient


def download_prefix(
    container: ContainerClient,
    prefix: str,
    target: Path,
    *,
    what: str,
    on_progress: ProgressListener | None = None,
    cancel: threading.Event | None = None,
    marker: tuple[str, str] | None = None,
) -> Path:
    """Every blob under `prefix/` into `target` (replaced whole); `marker` is (file name, text) written last."""
    cancel = cancel or threading.Event()
    prefix = prefix.strip("/")
    try:
        # hierarchical-namespace storage lists each folder as an empty blob marked hdi_isfolder=true: not a file
        blobs = [b for b in container.list_blobs(name_starts_with=prefix + "/", include=["metadata"])
                 if not b.name.endswith("/") and (b.metadata or {}).get("hdi_isfolder") != "true"]  # fmt: skip
    except Exception as exc:
        raise from_azure(exc, what=f"listing the files of {what}") from None
    if not blobs:
        raise AssetNotFound(f"{what} has no files at its storage path ({prefix}/)")
    private_dir(target.parent)
    meter = TransferMeter(sum(int(b.size or 0) for b in blobs), len(blobs), on_progress)
    try:
        # a fixed name, not this process's: the next download removes what a killed one left
        with atomic_dir(target, tmp=target.with_name(f".{target.name}.partial")) as tmp:
            for blob in blobs:
                if cancel.is_set():
                    raise Cancelled("download cancelled")
                rel = blob.name[len(prefix) + 1 :]
                dest = tmp / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                meter.start_file(rel)

                def hook(current: int, total: int | None, _rel: str = rel) -> None:
                    if cancel.is_set():
                        raise Cancelled("download cancelled")
                    meter.advance(_rel, current)

                with open(dest, "wb") as fh:
                    container.download_blob(blob.name, progress_hook=hook, max_concurrency=4).readinto(fh)
                meter.finish_file(rel, int(blob.size or 0))
            if marker is not None:
                (tmp / marker[0]).write_text(marker[1])
    except AzureError:
        raise
    except Exception as exc:
        raise from_azure(exc, what=f"downloading {what}") from None
    meter.final()
    return target
