"""The cuda flavour's chat runtime (onnxruntime-genai-cuda 0.18, CUDA 13) on a model and adapter that the ONNX
builder (onnxruntime-genai 0.14.1, Olive 0.13) built. Runs only where that runtime and an NVIDIA GPU are; CI has
neither, and skips. scripts/cuda_chat_check.py measures the same on the lent GPU (README, "CUDA chat")."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from engine.chat import SamplingOptions
from engine.chat.models import BASE_ADAPTER, describe_model
from engine.chat.runtime import ChatModel, cuda_flavour_installed, nvidia_gpu_present
from engine.paths import LabPaths

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.pipeline,
    pytest.mark.skipif(
        not (cuda_flavour_installed() and nvidia_gpu_present()),
        reason="needs onnxruntime-genai-cuda and an NVIDIA GPU (the cuda flavour)",
    ),
]


def test_a_model_built_by_the_014_builder_answers_on_cuda_with_and_without_its_adapter(
    demo_run: Path, tmp_path: Path
) -> None:
    major, minor = (int(p) for p in importlib.metadata.version("onnxruntime-genai-cuda").split(".")[:2])
    assert (major, minor) >= (0, 15)  # the CUDA 13 line, newer than the builder's 0.14.1
    info = describe_model(demo_run / "optimize" / "output")
    model = ChatModel(info, lab=LabPaths.at(tmp_path), device="cuda")
    assert model.device == "cuda" and model.notice is None and not model.problems
    options = SamplingOptions(greedy=True, max_length=24, min_length=24)
    travel = model.answer("Rome?", adapter=info.adapters[0].name, options=options)
    base = model.answer("Rome?", adapter=BASE_ADAPTER, options=options)
    assert travel.stats.answer_tokens == base.stats.answer_tokens == 24
    assert travel.text != base.text  # the adapter changes the answer
