"""Shared pieces of the Azure tests: a model-like folder, an Azurite container, the fake workspace."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.fakes.azurite import ACCOUNT_KEY, Azurite, node_missing_reason

SUB = "11111111-2222-3333-4444-555555555555"
RG = "rg-lab"
WS = "travel-project"
CONTAINER = "azureml-blobstore-0000"


def make_model_folder(root: Path, *, total_mb: float = 20, name: str = "onnx") -> Path:
    """An ONNX-output-like folder of several files (random bytes, so nothing compresses)."""
    folder = root / name
    (folder / "tokenizer").mkdir(parents=True)
    mb = 2**20
    sizes = {
        "model.onnx": int(total_mb * 0.08 * mb),
        "model.onnx.data": int(total_mb * 0.62 * mb),
        "travel.onnx_adapter": int(total_mb * 0.2 * mb),
        "tokenizer/tokenizer.json": int(total_mb * 0.1 * mb),
    }
    for rel, size in sizes.items():
        (folder / rel).write_bytes(os.urandom(size))
    (folder / "genai_config.json").write_text('{"model": {"type": "phi3"}}\n')
    (folder / "tokenizer" / "special_tokens_map.json").write_text("{}\n")
    return folder


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def start_azurite(location: Path) -> Azurite:
    reason = node_missing_reason()
    if reason:
        pytest.skip(reason)
    az = Azurite(location).start()
    from azure.storage.blob import BlobServiceClient

    BlobServiceClient.from_connection_string(az.connection_string).create_container(CONTAINER)
    return az


def container_client(az: Azurite, **kwargs):
    from azure.storage.blob import ContainerClient

    return ContainerClient.from_connection_string(az.connection_string, CONTAINER, **kwargs)


__all__ = [
    "ACCOUNT_KEY",
    "CONTAINER",
    "RG",
    "SUB",
    "WS",
    "container_client",
    "digest",
    "make_model_folder",
    "start_azurite",
]
