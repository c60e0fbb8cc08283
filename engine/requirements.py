"""What each profile needs and the package versions known to break the lab, as data.

`doctor` and the pre-flight check read the same table through `resource_verdict`, so they always agree:
below what the profile needs is a refusal in both (the checklist shows it red, "will refuse"), within
`CLOSE` of it a warning in both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GB = 1_000_000_000
CLOSE = 1.25  # free space within 25 % above the need: a warning

Verdict = Literal["ok", "warn", "fail"]


@dataclass(frozen=True)
class Needs:
    ram: float
    disk: float
    vram: float = 0.0  # GPU memory for quantize and finetune on CUDA


# What a run needs, roughly. demo: a 2-layer model, a few MB per step plus Python and torch in memory.
# phi35 (3.8B parameters): the fp16 weights are 7.6 GB; the AWQ output, the fine-tune output and the int4
# ONNX model (about 2.5 GB) come to about 25 GB on disk, and loading the fp16 model while the model builder
# converts it needs about 16 GB of RAM.
# On CUDA the phi35 steps peaked at 13.2 GiB (quantize) and 10.0 GiB (finetune) on an H200 (random weights of
# Phi-3.5-mini's architecture, scripts/real_size_check.py); 16 GB leaves room for the CUDA context.
NEEDS: dict[str, Needs] = {
    "demo": Needs(ram=2 * GB, disk=1 * GB, vram=1 * GB),
    "phi35": Needs(ram=16 * GB, disk=25 * GB, vram=16 * GB),
}

# distribution -> why the lab needs it
REQUIRED = {
    "olive-ai": "runs the quantize, finetune and optimize steps",
    "torch": "fine-tuning and AWQ",
    "transformers": "loads the models",
    "peft": "LoRA adapters",
    "datasets": "feeds the training data to Olive",
    "pydantic": "settings",
    "psutil": "memory and process readings",
}
PIN_GENAI = "onnxruntime-genai>=0.14.1,<0.15"

# The cuda flavour's chat runtime (onnxruntime-gpu 1.31 and onnxruntime-genai-cuda 0.18, the CUDA 13 line) links
# these libraries (read from the wheels' ELF headers): soname -> (the pip package that ships it, who loads it).
CUDA_LIBRARIES: dict[str, tuple[str, str]] = {
    "libcudart.so.13": ("nvidia-cuda-runtime", "onnxruntime-gpu, onnxruntime-genai-cuda"),
    "libcublas.so.13": ("nvidia-cublas", "onnxruntime-gpu, onnxruntime-genai-cuda"),
    "libcublasLt.so.13": ("nvidia-cublas", "onnxruntime-gpu, onnxruntime-genai-cuda"),
    "libcurand.so.10": ("nvidia-curand", "onnxruntime-gpu, onnxruntime-genai-cuda"),
    "libcufft.so.12": ("nvidia-cufft", "onnxruntime-genai-cuda"),
}
# The oldest NVIDIA driver each CUDA major release runs on (Linux; NVIDIA's release notes).
CUDA_MIN_DRIVER: dict[int, tuple[int, int]] = {11: (450, 80), 12: (525, 60), 13: (580, 65)}
CHAT_RUNTIME_CUDA = 13  # onnxruntime-gpu >= 1.27 and onnxruntime-genai-cuda >= 0.15 are CUDA 13 builds
BUILDER_GENAI = "0.14"  # the ONNX builder's onnxruntime-genai line (Olive 0.13's ModelBuilder pass)


def needs(profile: str) -> Needs:
    return NEEDS.get(profile, NEEDS["phi35"])


@dataclass(frozen=True)
class ResourceVerdict:
    verdict: Verdict
    detail: str


def resource_verdict(what: Literal["memory", "disk"], profile: str, free: float, where: str = "") -> ResourceVerdict:
    """The one judgement of free RAM or disk against the profile's need."""
    need = needs(profile).ram if what == "memory" else needs(profile).disk
    place = f" in {where}" if where else ""
    noun = "of RAM free" if what == "memory" else "free" + place
    detail = f"{free / GB:.1f} GB {noun}; the {profile} profile needs about {need / GB:.0f} GB"
    if free < need:
        return ResourceVerdict("fail", detail)
    if free < need * CLOSE:
        return ResourceVerdict("warn", detail + " (little to spare)")
    return ResourceVerdict("ok", detail)
