"""The single builder of each step's command line, from typed settings to argv.

Every command is printable (`command_line`), so the user always sees exactly what will run. A step's
executable can be replaced: `quantize.python` picks the interpreter of the AWQ program, `finetune.olive` /
`optimize.olive` the `olive` executable, and `OLIVE_LAB_OLIVE` replaces `olive` for every Olive step.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from engine.config import LabConfig

# Placeholders shown where a path is known only once a run starts.
RUN = "runs/<id>"


@dataclass(frozen=True)
class StepPaths:
    """The files one step reads and writes inside a run folder."""

    input_model: str
    data_dir: str
    output: str


def olive_executable(override: str | None = None) -> list[str]:
    """How to start Olive: OLIVE_LAB_OLIVE (for every step), the step's own setting, then the `olive`
    installed beside olive-lab's Python, then the one on PATH. `engine.doctor` reports the same choice."""
    chosen = os.environ.get("OLIVE_LAB_OLIVE") or override
    if chosen:
        return shlex.split(chosen)
    beside = Path(sys.executable).with_name("olive")
    if beside.exists():
        return [str(beside)]
    return [shutil.which("olive") or "olive"]


def olive_template(template: str) -> str:
    """A template as Olive's --text_template takes it: newlines written `\\n`, as the lab text does."""
    return template.replace("\n", "\\n")


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
        "-o",
        paths.output,
        "--log_level",
        "1",
        "--disable_telemetry",
    ]
    return argv


def optimize_argv(config: LabConfig, paths: StepPaths) -> list[str]:
    o = config.optimize
    return [
        *olive_executable(o.olive),
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


def step_argv(step: str, config: LabConfig, paths: StepPaths, *, has_eval: bool = True) -> list[str]:
    if step == "quantize":
        return quantize_argv(config, paths)
    if step == "finetune":
        return finetune_argv(config, paths, has_eval=has_eval)
    if step == "optimize":
        return optimize_argv(config, paths)
    raise ValueError(f"unknown step {step!r}")


def placeholder_paths(step: str, config: LabConfig, run: str = RUN) -> StepPaths:
    """The paths a step will use inside a run folder, written with the run id as a placeholder."""
    previous = {"quantize": None, "finetune": "quantize", "optimize": "finetune"}[step]
    if step == "finetune" and not config.quantize.enabled:
        previous = None
    input_model = f"{run}/{previous}/output" if previous else _model_placeholder(config)
    return StepPaths(input_model=input_model, data_dir=f"{run}/data", output=f"{run}/{step}/output")


def _model_placeholder(config: LabConfig) -> str:
    return "<demo model>" if config.model == "demo" else config.model


def command_line(step: str, config: LabConfig, paths: StepPaths | None = None) -> str:
    """The exact command a step runs, as one shell-quoted line."""
    argv = step_argv(step, config, paths or placeholder_paths(step, config))
    return shlex.join(argv)
