"""Fixtures of the Azure step, CLI and screen tests (registered in conftest.py): a lab holding a finished
run with an ONNX-like output, and a fake Azure cloud (Azurite plus the fake control plane, installed in the
run's processes through tests/fakes/azure_site)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.azure_helpers import ACCOUNT_KEY, RG, SUB, WS, make_model_folder, start_azurite
from tests.fixtures.runfolders import finished_run

SITE = Path(__file__).resolve().parent / "fakes" / "azure_site"


@pytest.fixture
def lab_with_run(tmp_path: Path) -> tuple[Path, Path]:
    lab = tmp_path / "lab"
    run_dir = finished_run(lab / "runs")
    out = run_dir / "optimize" / "output"
    folder = make_model_folder(tmp_path / "src", total_mb=3)
    for path in folder.rglob("*"):
        if path.is_file():
            dest = out / path.relative_to(folder)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(path.read_bytes())
    (run_dir / "data" / "train.jsonl").write_text('{"prompt": "p", "response": "r"}\n')
    return lab, run_dir


@pytest.fixture
def fake_cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    az = start_azurite(tmp_path / "azurite")
    spec = {"subscription": SUB, "resource_group": RG, "workspace": WS, "account_key": ACCOUNT_KEY,
            "blob_url": az.url}  # fmt: skip
    monkeypatch.setenv("OLIVE_LAB_FAKE_AZURE", json.dumps(spec))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(SITE), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "no-az"))
    yield az, spec
    az.stop()
