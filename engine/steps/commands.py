"""The single builder of each step's command line, from typed settings to argv.

Every command is printable (`command_line`), so the user always sees exactly what will run. A step's
executable can be replaced: `quantize.python` picks the interpreter of the AWQ program, `finetune.olive` /
`optimize.olive` the `olive` executable, and `OLIVE_LAB_OLIVE` replaces `olive` for every Olive step.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from engine.config import LabConfig
from engine.lock import builder_olive
from engine.paths import user_models

# Placeholders shown where a path is known only once a run starts.
RUN = "runs/<id>"


@dataclass(frozen=True)
class StepPaths:
    """The files one step reads and writes inside a run folder."""

    input_model: str
    data_dir: str
    output: str
    data_source: str = ""  # the lab's dataset file, resolved (prepare reads it)
    azure_model: str = ""  # the base model's full Azure id, when it is one (prepare downloads it)
    checkpoints: str = ""  # where finetune saves its checkpoints (in the run folder; none for a job)
    resume_from: str = ""  # the checkpoint a resumed finetune starts from
    base_model: str = ""  # the run's base model (the evaluate step measures it too)


def find_olive(
    override: str | None = None,
    env: Mapping[str, str] | None = None,
    *,
    setting: str = "the step's olive setting",
    builds_onnx: bool = False,
) -> tuple[str | None, str]:
    """Which `olive` runs, and how it was chosen: OLIVE_LAB_OLIVE (for every step), the step's own setting,
    for the step that builds the ONNX model the cuda flavour's builder environment (bootstrap.sh makes it),
    the `olive` installed beside olive-lab's Python, then the one on PATH. `engine.doctor` reports this."""
    env = os.environ if env is None else env
    if env.get("OLIVE_LAB_OLIVE"):
        return env["OLIVE_LAB_OLIVE"], "OLIVE_LAB_OLIVE"
    if override:
        return override, setting

    if builds_onnx and (builder := builder_olive()) is not None:
        return str(builder), "the ONNX builder's environment"
    beside = Path(sys.executable).with_name("olive.exe" if os.name == "nt" else "olive")
    if beside.exists():
        return str(beside), "olive-lab's environment"
    found = shutil.which("olive", path=env.get("PATH"))
    return (found, "PATH") if found else (None, "")


FOUND_IN_ENV = ("the ONNX builder's environment", "olive-lab's environment")


def olive_program(chosen: str, env: Mapping[str, str] | None = None) -> tuple[str, str | None]:
    """The program of an olive command line as the runner splits it (`shlex`, like `olive_executable`):
    its first word, and where it resolves to an executable file (a path, or a name on PATH), or None."""
    env = os.environ if env is None else env
    try:
        words = shlex.split(chosen)
    except ValueError:
        words = chosen.split()
    program = words[0] if words else chosen
    if os.sep in program or (os.altsep and os.altsep in program):
        found = program if os.path.isfile(program) and os.access(program, os.X_OK) else None
        return program, found
    return program, shutil.which(program, path=env.get("PATH"))


def olive_executable(override: str | None = None, *, builds_onnx: bool = False) -> list[str]:
    """The argv prefix that starts Olive for a step (see `find_olive`). An `olive` of the lab's own
    environments runs through `engine.steps.olive_run` with that environment's Python: the same olive command
    line, saving a copy of the model (hard links inside the run folder) and the ONNX builder's float copy."""
    chosen, how = find_olive(override, builds_onnx=builds_onnx)
    if chosen and how in FOUND_IN_ENV and (python := Path(chosen).with_name("python")).exists():
        return [str(python), "-m", "engine.steps.olive_run"]
    return shlex.split(chosen) if chosen else ["olive"]


def olive_template(template: str) -> str:
    """A template as Olive's --text_template takes it: newlines written `\\n`, as the lab text does."""
    return template.replace("\n", "\\n")


def prepare_argv(config: LabConfig, paths: StepPaths) -> list[str]:
    ds = config.dataset
    argv = [
        sys.executable,
        "-m",
        "engine.steps.prepare",
        "--data",
        paths.data_source or ds.path,
        "--fields",
        f"{ds.prompt_field},{ds.response_field}",
        "--eval-share",
        str(ds.eval_share),
        "--seed",
        str(ds.split_seed),
        "--output",
        paths.output,
    ]
    if config.model == "demo":
        argv += ["--demo-model", paths.input_model]
    if config.model.startswith("azureml:") and paths.azure_model:
        argv += [
            "--azure-model",
            paths.azure_model,
            "--models",
            str(user_models()),
            "--sign-in",
            config.azure.sign_in,
        ]
        if config.azure.tenant_id:
            argv += ["--tenant", config.azure.tenant_id]
    return argv


def register_argv(config: LabConfig, paths: StepPaths) -> list[str]:
    """The register step: the folder into the workspace's model registry (`engine.steps.register`). The
    workspace names come from `[azure]`, the az defaults or config.json, resolved when the run starts."""
    r, az = config.registration, config.azure
    argv = [
        sys.executable, "-m", "engine.steps.register",
        "--folder", paths.input_model,
        "--name", r.name, "--version", r.version,
        "--subscription", az.subscription_id or "<subscription>",
        "--resource-group", az.resource_group or "<resource group>",
        "--workspace", az.workspace_name or "<workspace>",
        "--sign-in", az.sign_in,
    ]  # fmt: skip
    if az.tenant_id:
        argv += ["--tenant", az.tenant_id]
    if r.description:
        argv += ["--description", r.description]
    for key, value in r.tags.items():
        argv += ["--tag", f"{key}={value}"]
    return [*argv, "--inputs", str(register_inputs_path(paths)), "--output", paths.output]


class RegisterInputs(BaseModel):
    """What the register program reads from run folders, resolved by the runner as the step starts
    (`engine.runs.step_inputs`): a step program never reads a run's state itself."""

    tags: dict[str, str] = {}  # the provenance's (the program's --tag values win)
    properties: dict[str, str] = {}
    job_output: str | None = None  # where an Azure ML job wrote the folder, when one did
    error: str | None = None  # why the provenance could not be read (the step fails with it)


def register_inputs_path(paths: StepPaths) -> Path:
    return Path(paths.output).parent / "inputs.json"


def evaluate_argv(config: LabConfig, paths: StepPaths) -> list[str]:
    """The evaluate step: every stage of the run measured on the held-out split (`engine.steps.evaluate`)."""
    e, ds = config.evaluate, config.dataset
    run = str(Path(paths.data_dir).parent)
    return [
        sys.executable, "-m", "engine.steps.evaluate",
        "--run", run, "--model", paths.base_model or config.model,
        "--data", f"{paths.data_dir}/validation.jsonl",
        "--template", olive_template(config.finetune.text_template),
        "--fields", f"{ds.prompt_field},{ds.response_field}",
        "--records", str(e.max_records), "--new-tokens", str(e.max_new_tokens), "--threads", str(e.threads),
        "--output", paths.output,
    ]  # fmt: skip


def quantize_argv(config: LabConfig, paths: StepPaths) -> list[str]:
    q = config.quantize
    ds = config.dataset
    return [
        q.python or sys.executable,
        "-m",
        "engine.steps.awq_quantize",
        "--model",
        paths.input_model,
        "--data",
        f"{paths.data_dir}/train.jsonl",
        "--template",
        olive_template(config.finetune.text_template),
        "--fields",
        f"{ds.prompt_field},{ds.response_field}",
        "--w-bit",
        str(q.w_bit),
        "--group-size",
        str(q.group_size),
        "--zero-point" if q.zero_point else "--no-zero-point",
        "--samples",
        str(q.calib_samples),
        "--seq-len",
        str(q.calib_seq_len),
        "--device",
        q.device,
        "--output",
        paths.output,
    ]


def finetune_argv(config: LabConfig, paths: StepPaths, *, has_eval: bool = True) -> list[str]:
    f = config.finetune
    argv = [
        *olive_executable(f.olive),
        "finetune",
        "--method",
        f.method,
        "-m",
        paths.input_model,
        "-d",
        paths.data_dir,
        "--train_split",
        "train",
    ]
    if has_eval:
        argv += ["--eval_split", "validation", "--eval_steps", str(f.eval_steps)]
    argv += [
        "--text_template",
        olive_template(f.text_template),
        "--max_seq_len",
        str(f.max_seq_len),
        "--lora_r",
        str(f.lora_r),
        "--lora_alpha",
        str(f.lora_alpha),
        "--torch_dtype",
        f.torch_dtype,
        "--max_steps",
        str(f.max_steps),
        "--learning_rate",
        str(f.learning_rate),
        "--per_device_train_batch_size",
        str(f.per_device_train_batch_size),
        "--logging_steps",
        str(f.logging_steps),
        "--seed",
        str(f.seed),
    ]
    if paths.checkpoints and f.keep_checkpoints:  # Olive trains in this folder instead of a temporary one
        argv += ["--output_dir", paths.checkpoints, "--save_steps", str(f.save_steps)]
        argv += ["--save_total_limit", str(f.keep_checkpoints)]
        if paths.resume_from:
            argv += ["--resume_from_checkpoint", paths.resume_from]
    argv += ["-o", paths.output, "--log_level", "1", "--disable_telemetry"]
    return argv


def optimize_argv(config: LabConfig, paths: StepPaths) -> list[str]:
    o = config.optimize
    return [
        *olive_executable(o.olive, builds_onnx=True),
        o.command,
        "-m",
        f"{paths.input_model}/model",
        "--adapter_path",
        f"{paths.input_model}/adapter",
        "--use_model_builder",
        "--use_ort_genai",
        "--precision",
        o.precision,
        "--device",
        o.device,
        "--provider",
        o.provider,
        "-o",
        paths.output,
        "--log_level",
        "1",
        "--disable_telemetry",
    ]


OLIVE_ADAPTER = "adapter_weights.onnx_adapter"


def adapter_file(config: LabConfig) -> str:
    """The optimize step's adapter file, named after the data it learned ("travel.onnx_adapter")."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(config.dataset.path).stem).strip("-") or "adapter"
    return f"{stem}.onnx_adapter"


def name_adapter(config: LabConfig, output: Path) -> None:
    """Name the optimize step's adapter file after the data it learned, as the lab does ("travel"), not
    Olive's default name."""
    olive_name = output / OLIVE_ADAPTER
    target = output / adapter_file(config)
    if olive_name.exists() and not target.exists():
        os.replace(olive_name, target)
