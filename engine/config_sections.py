"""The step sections of the lab's settings (`[dataset]`, `[quantize]`, `[finetune]`, ...): typed, with their
defaults and one-line help. `engine.config` builds the whole `LabConfig` from them and reads and writes lab.toml.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from engine.paths import BUNDLED_DATASET

DEFAULT_TEMPLATE = "<|user|>\n{prompt}<|end|>\n<|assistant|>\n{response}<|end|>"
_FIELD_RE = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)}")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def check_env(env: dict[str, str]) -> dict[str, str]:
    """A step's environment: names without `=` or NUL (a process cannot be given them), values without NUL."""
    for name, value in env.items():
        if not name or "=" in name or "\0" in name:
            raise ValueError(f"variable name {name[:60]!r} is empty or holds '=' or a NUL character")
        if "\0" in value:
            raise ValueError(f"the value of {name[:60]} holds a NUL character")
    return env


StepEnv = Annotated[dict[str, str], AfterValidator(check_env)]
MAX_MODEL_CHARS = 1024  # a hub id, a path or an azureml:// address is far shorter


LOCAL = "local"
REMOTE_PREFIX = "azureml:"
_CLUSTER_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,31}$")
RUN_ON_HELP = "Where the step runs: 'local' (this machine) or 'azureml:<compute cluster>'"


def check_run_on(value: str) -> str:
    """`local` or `azureml:<cluster>` (a compute cluster of the lab's Azure ML workspace)."""
    value = value.strip()
    if value == LOCAL:
        return value
    cluster = value.removeprefix(REMOTE_PREFIX)
    if not value.startswith(REMOTE_PREFIX) or not _CLUSTER_RE.match(cluster):
        raise ValueError(
            f"{value!r} is not a place to run: use 'local' or 'azureml:<cluster>' (a compute cluster name, "
            "2-32 letters, digits or '-', starting with a letter)"
        )
    return value


class _RunOn(_Section):
    run_on: str = Field(LOCAL, description=RUN_ON_HELP)

    @field_validator("run_on")
    @classmethod
    def _check_run_on(cls, value: str) -> str:
        return check_run_on(value)


class DatasetConfig(_Section):
    path: str = Field(str(BUNDLED_DATASET), description="JSONL file of training records")
    prompt_field: str = Field("prompt", description="Record field holding the user's question")
    response_field: str = Field("response", description="Record field holding the answer to learn")
    eval_share: float = Field(0.1, ge=0.0, le=0.5, description="Share of records held back for evaluation")
    split_seed: int = Field(1234, description="Seed of the evaluation split (same seed, same split)")


class QuantizeConfig(_RunOn):
    enabled: bool = Field(True, description="Run AWQ before fine-tuning")
    w_bit: Literal[4] = Field(4, description="Weight bits (AWQ kernels are 4-bit only)")
    group_size: int = Field(128, ge=16, le=1024, description="Weights sharing one scale")
    zero_point: bool = Field(True, description="Asymmetric quantization with a zero point")
    calib_samples: int = Field(128, ge=1, le=4096, description="Training records used as calibration texts")
    calib_seq_len: int = Field(512, ge=8, le=8192, description="Tokens per calibration text")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where the scale search runs")
    python: str | None = Field(None, description="Python interpreter for this step (default: olive-lab's)")
    env: StepEnv = Field(default_factory=dict, description="Environment variables for this step")


class FinetuneConfig(_RunOn):
    method: Literal["lora", "qlora"] = Field("lora", description="Adapter method")
    lora_r: int = Field(64, ge=1, le=1024, description="LoRA rank")
    lora_alpha: int = Field(16, ge=1, le=4096, description="LoRA scaling numerator")
    max_steps: int = Field(100, ge=1, le=1_000_000, description="Optimiser steps")
    learning_rate: float = Field(2e-4, gt=0, lt=1, description="Peak learning rate")
    per_device_train_batch_size: int = Field(1, ge=1, le=1024, description="Records per step and device")
    logging_steps: int = Field(1, ge=1, description="Steps between loss lines (live loss chart)")
    eval_steps: int = Field(20, ge=1, description="Steps between evaluation-loss measurements")
    max_seq_len: int = Field(1024, ge=16, le=131072, description="Tokens per training record")
    torch_dtype: Literal["bfloat16", "float16", "float32"] = Field("bfloat16", description="Training dtype")
    text_template: str = Field(DEFAULT_TEMPLATE, description="How a record becomes training text")
    seed: int = Field(42, description="Training seed")
    save_steps: int = Field(50, ge=1, description="Steps between checkpoints (a resumed fine-tune starts there)")
    keep_checkpoints: int = Field(
        2, ge=0, le=100, description="Checkpoints kept for resuming, each ~3x the adapter on disk (0: none)"
    )
    olive: str | None = Field(None, description="olive executable for this step (default: on PATH)")
    env: StepEnv = Field(default_factory=dict, description="Environment variables for this step")

    @field_validator("text_template")
    @classmethod
    def _template_has_fields(cls, value: str) -> str:
        if not _FIELD_RE.search(value):
            raise ValueError("the template names no {field}: training would see the same text every time")
        return value

    def template_fields(self) -> list[str]:
        return _FIELD_RE.findall(self.text_template)


class OptimizeConfig(_RunOn):
    # `olive optimize` was tried: at int4 it picks a GPTQ pass that refuses a model with an adapter
    # (Olive 0.13.0: "Model already has an adapter"), so the step uses the deprecated but working auto-opt.
    command: Literal["auto-opt"] = Field("auto-opt", description="Olive command that exports ONNX")
    precision: Literal["int4", "fp16", "fp32"] = Field("int4", description="ONNX weight precision")
    device: Literal["cpu", "gpu"] = Field("cpu", description="Target device of the ONNX model")
    provider: str = Field("CPUExecutionProvider", description="onnxruntime execution provider")
    olive: str | None = Field(None, description="olive executable for this step (default: on PATH)")
    env: StepEnv = Field(default_factory=dict, description="Environment variables for this step")


class EvaluateConfig(_Section):
    """The optional evaluate step: quality, size and speed of every stage of the run on the held-out split."""

    enabled: bool = Field(False, description="Measure every stage (original, AWQ, fine-tuned, ONNX) after optimize")
    max_records: int = Field(8, ge=1, le=100_000, description="Held-out records scored and answered (the first N)")
    max_new_tokens: int = Field(16, ge=1, le=4096, description="Most tokens of each greedy answer")
    threads: int = Field(0, ge=0, le=1024, description="CPU threads of each framework (0: its own default)")


class AzureConfig(_Section):
    """The Azure ML workspace (or hub-based Azure AI Foundry project) models are registered in and read from."""

    subscription_id: str = Field("", description="Azure subscription id (default: az account's)")
    resource_group: str = Field("", description="Resource group of the workspace (default: az config's)")
    workspace_name: str = Field("", description="Azure ML workspace or hub-based AI Foundry project")
    sign_in: Literal["auto", "cli", "env", "device", "workload", "managed"] = Field(
        "auto",
        description="auto: a service principal from env, workload identity, managed identity (where an "
        "identity endpoint is set), az login, then a device code (kept once made)",
    )
    tenant_id: str = Field("", description="Microsoft Entra tenant (default: the sign-in's own)")
    # PyTorch's own image of the lock's torch (2.13.0, a CUDA 13.0 build, as locks/cuda.txt's cuda-toolkit says) on
    # Python 3.11 (its Dockerfile's PYTHON_VERSION), the Python the locks are resolved for (engine/azure/jobenv.py)
    image: str = Field(
        "pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime",
        description="Docker image of remote steps: a pinned PyTorch+CUDA image with Python 3.11 (a version tag or a "
        "digest, never :latest); the job keeps its torch where it is the lock's, else installs the locked one",
    )
    experiment: str = Field("olive-lab", description="Azure ML experiment that remote steps' jobs are filed under")


# Azure ML's asset rules: the registry refuses other names and versions, and only after the upload (leaving its
# blobs behind), so they are checked with the settings (engine/azure/validate.py checks what comes from elsewhere)
ASSET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
ASSET_NAME_RULE = "letters, digits, '-', '_' and '.', starting with a letter or digit, at most 255 characters"
ASSET_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,29}$")
ASSET_VERSION_RULE = "a number such as 1, or letters, digits, '-', '_' and '.' (at most 30 characters)"


class RegisterConfig(_Section):
    """The optional register step (`[registration]`): the optimized ONNX folder into the workspace's registry."""

    enabled: bool = Field(False, description="Register the optimized model in Azure ML after optimize")
    name: str = Field("ft-for-travel", description="Model name in the registry")
    version: str = Field("1", description="Model version (checked to be free before any byte moves)")
    description: str = Field("", description="Model description")
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags (provenance tags are added)")
    folder: str = Field("", description="Folder to register instead of the run's optimize output")
    provenance_run: str = Field("", description="Run folder whose provenance tags a folder given above")
    env: StepEnv = Field(default_factory=dict, description="Environment variables for this step")

    @field_validator("name")
    @classmethod
    def _name_allowed(cls, value: str) -> str:
        if not ASSET_NAME.match(value):
            raise ValueError(f"model name {value!r} is not allowed in Azure ML: {ASSET_NAME_RULE}")
        return value

    @field_validator("version")
    @classmethod
    def _version_allowed(cls, value: str) -> str:
        if not ASSET_VERSION.match(value):
            raise ValueError(f"model version {value!r} is not allowed in Azure ML: {ASSET_VERSION_RULE}")
        return value
