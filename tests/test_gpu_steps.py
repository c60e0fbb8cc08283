"""The quantize step on a GPU: AWQ really runs on CUDA (GPU machines only), and asking for CUDA without
one fails with a clear message instead of a traceback (everywhere: the GPU is hidden from that one)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import build_config
from engine.gpu.sampler import probe
from engine.steps.commands import StepPaths
from engine.steps.spec import step_argv

ROOT = Path(__file__).resolve().parent.parent
CHECK_SCRIPT = ROOT / "scripts" / "gpu_quantize_check.py"


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


NVML_GPU = probe().available
HAS_CUDA = NVML_GPU and _cuda_available()
needs_cuda = pytest.mark.skipif(
    not HAS_CUDA,
    reason="needs an NVIDIA GPU that torch can use" + ("" if NVML_GPU else f" (no NVIDIA GPU: {probe().reason})"),
)


def _load_check_script():
    spec = importlib.util.spec_from_file_location("gpu_quantize_check", CHECK_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("device", ["cuda", "auto"])
def test_quantize_runs_awq_on_the_gpu(tmp_path_factory: pytest.TempPathFactory, device: str) -> None:
    check = _load_check_script()
    work = tmp_path_factory.getbasetemp() / "gpu-quantize"
    model, data, _ = check.prepare(work)
    run = check.run_quantize(
        f"demo --device {device}",
        model,
        data,
        work / f"quantized-{device}",
        device=device,
        group_size=32,
        samples=32,
        seq_len=64,
    )
    failed = [f"{c.name}: {c.detail}" for c in check.check_run(run, model) if not c.ok]
    assert not failed, "\n".join(failed) + "\n--- log ---\n" + run.log[-4000:]


def test_asking_for_cuda_without_one_fails_clearly(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "phi3"}))
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"prompt": "Where to?", "response": "Lisbon."}) + "\n")
    output = tmp_path / "quantized"
    config = build_config("demo", {"quantize": {"device": "cuda"}})
    proc = subprocess.run(
        step_argv("quantize", config, StepPaths(str(model), str(tmp_path), str(output))),
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    assert "CUDA was asked for, but torch sees no CUDA device" in out
    assert "Traceback" not in out
    assert not output.exists()


def test_an_offline_step_does_not_reach_for_hub_kernels_unless_the_lab_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    """transformers 5 with the locked `kernels` package fetches hub kernels when quantize loads Phi-3.5, even
    with HF_HUB_OFFLINE set, and the step fails on a machine without network (seen on an H100 VM)."""
    from engine.config import LabConfig
    from engine.runs.stepproc import step_env
    from engine.steps.plan import step_env as planned

    monkeypatch.delenv("USE_HUB_KERNELS", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert step_env(planned(build_config("phi35"), "quantize"), {})["USE_HUB_KERNELS"] == "NO"
    data = build_config("phi35").model_dump()
    data["quantize"]["env"] = {"USE_HUB_KERNELS": "YES"}
    assert (
        step_env(planned(LabConfig.model_validate(data), "quantize"), {})["USE_HUB_KERNELS"] == "YES"
    )  # the lab's word
    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert "USE_HUB_KERNELS" not in step_env(
        planned(build_config("phi35"), "quantize"), {}
    )  # online: transformers decides
