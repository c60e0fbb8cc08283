"""The GPU ONNX target: its command line, its pre-flight and the check of what the model builder wrote."""

from __future__ import annotations

import json
from pathlib import Path

from engine.config import build_config
from engine.paths import LabPaths
from engine.runs.preflight import preflight
from engine.steps.onnx_target import built_providers, output_problem, target_problem
from engine.steps.spec import command_line

GPU = {"optimize": {"device": "gpu", "provider": "CUDAExecutionProvider"}}


def _genai_config(folder: Path, provider_options: list) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "model": {"decoder": {"session_options": {"log_id": "onnxruntime-genai", "provider_options": provider_options}}}
    }
    (folder / "genai_config.json").write_text(json.dumps(config))
    return folder


def test_gpu_target_command_line():
    line = command_line("optimize", build_config("phi35", GPU))
    assert "--device gpu --provider CUDAExecutionProvider" in line
    assert "--precision int4" in line and "--use_model_builder --use_ort_genai" in line
    assert "--device cpu --provider CPUExecutionProvider" in command_line("optimize", build_config("phi35"))


def test_gpu_target_preflight():
    assert target_problem(build_config("phi35", GPU)) is None
    assert (
        target_problem(
            build_config(
                "phi35",
                {"optimize": {"device": "gpu", "precision": "fp16", "provider": "CUDAExecutionProvider"}},
            )
        )
        is None
    )
    mismatch = target_problem(build_config("phi35", {"optimize": {"device": "gpu"}}))
    assert mismatch and 'provider = "CUDAExecutionProvider"' in mismatch
    fp32 = target_problem(build_config("phi35", {"optimize": {**GPU["optimize"], "precision": "fp32"}}))
    assert fp32 and "int4" in fp32
    assert target_problem(build_config("demo", {"optimize": {"provider": "CUDAExecutionProvider"}}))


def test_preflight_refuses_a_mismatched_target(tmp_path):
    lab = LabPaths.at(tmp_path)
    problems = preflight(lab, build_config("demo", {"optimize": {"device": "gpu"}}), free_ram=10**12, free_disk=10**13)
    assert any("CUDAExecutionProvider" in p for p in problems)


def test_the_built_model_names_its_provider(tmp_path):
    # As the model builder writes them: CUDA options for the GPU target (seen on an H200), none for the CPU.
    cuda = _genai_config(tmp_path / "cuda", [{"cuda": {"enable_cuda_graph": "0"}}])
    cpu = _genai_config(tmp_path / "cpu", [])
    assert built_providers(cuda) == ["cuda"] and built_providers(cpu) == []
    gpu_config, cpu_config = build_config("phi35", GPU), build_config("phi35")
    assert output_problem(gpu_config, cuda) is None
    assert output_problem(cpu_config, cpu) is None
    assert "expected cuda" in (output_problem(gpu_config, cpu) or "")
    assert "expected the CPU" in (output_problem(cpu_config, cuda) or "")
