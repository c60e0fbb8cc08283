"""Where the ONNX model will run: the optimize step's CPU or CUDA target, checked before and after the build.

`[optimize] device = "gpu"` with `provider = "CUDAExecutionProvider"` makes the model builder write an ONNX
model for onnxruntime's CUDA execution provider, at int4 (MatMulNBits; the builder supports int4 on CUDA for
the Phi-3 family, seen at real size on an H200) or fp16. The device and the provider must agree, which the
pre-flight checks; the built model's `genai_config.json` names the providers it was made for, which
`built_providers` reads back. Chatting with a CUDA model needs onnxruntime-genai-cuda (`doctor` checks it
and CUDA 12's libraries).
"""

from __future__ import annotations

import json
from pathlib import Path

from engine.config import LabConfig

PROVIDERS = {"cpu": "CPUExecutionProvider", "gpu": "CUDAExecutionProvider"}
GENAI_NAMES = {"CUDAExecutionProvider": "cuda"}  # what genai_config.json calls a provider


def target_problem(config: LabConfig) -> str | None:
    """Why the optimize settings cannot make a model for their device, or None."""
    o = config.optimize
    want = PROVIDERS[o.device]
    if o.provider != want:
        return (
            f"optimize: device '{o.device}' needs provider '{want}', not '{o.provider}' "
            f'(set [optimize] provider = "{want}")'
        )
    if o.device == "gpu" and o.precision == "fp32":
        return 'optimize: the GPU target is built at int4 or fp16 (set [optimize] precision = "int4" or "fp16")'
    return None


def built_providers(output: Path) -> list[str]:
    """The execution providers a built model's genai_config.json asks for ([] is the CPU)."""
    config = json.loads((output / "genai_config.json").read_text(encoding="utf-8"))
    options = config.get("model", {}).get("decoder", {}).get("session_options", {}).get("provider_options", [])
    return [name for entry in options for name in entry]


def output_problem(config: LabConfig, output: Path) -> str | None:
    """Why a built model does not match the target it was asked for, or None."""
    if not (output / "genai_config.json").exists():
        return None  # the outputs check names what is missing
    providers = built_providers(output)
    want = GENAI_NAMES.get(config.optimize.provider)
    if want is None:
        return f"{output}/genai_config.json asks for {providers}, expected the CPU" if providers else None
    if want not in providers:
        return f"{output}/genai_config.json asks for {providers or 'the CPU'}, expected {want}"
    return None
