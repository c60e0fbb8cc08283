"""The one table of the pipeline's steps: per step its title, the step whose output it takes, its command
builder, the outputs that prove it worked (and what else its output must be, what is done to it once it is
judged done), the settings in its reuse key and the data it reads.

Everything that walks the steps (the plan, engine.steps.plan; the supervisor, the pre-flight check, reuse, the
command line's `--steps`, the app's forms and timeline) reads this table; adding a step is one entry here plus
its command builder. Where a step runs (this machine or an Azure ML cluster) is its `run_on` setting; the plan
builds its command for there.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.config import REMOTE_PREFIX, LabConfig
from engine.paths import LabPaths, user_models
from engine.steps import commands
from engine.steps.dedupe import link_input_copy
from engine.steps.onnx_target import output_problem

DataKey = Literal["train", "all", "none"]
Builder = Callable[[LabConfig, commands.StepPaths, bool], list[str]]
Check = Callable[[LabConfig, Path], str | None]  # why a step's output is not what was asked for, or None
Finisher = Callable[[LabConfig, commands.StepPaths], None]  # done to a step's output once it is judged done


@dataclass(frozen=True)
class StepSpec:
    name: str
    title: str
    previous: str | None  # the step whose output is this one's input; None: the base model
    build: Builder
    outputs: tuple[str, ...] = ()  # globs that must each match at least one file in the output folder
    reuse_settings: Callable[[LabConfig], dict[str, Any]] = field(default=lambda _c: {})
    data: DataKey = "none"
    enabled: Callable[[LabConfig], bool] = field(default=lambda _c: True)
    optional_note: str = ""  # why the step is off, when `enabled` says so
    listed_when_off: bool = True  # False: a run lists the step only when it is on (register)
    check: Check | None = None  # beyond `outputs`: what else its output must be
    check_note: str = ""  # `check` in words, for the plan
    finish: Finisher | None = None  # done to its output once it is judged done
    finish_note: str = ""


def _fields(c: LabConfig) -> dict[str, Any]:
    return {"prompt_field": c.dataset.prompt_field, "response_field": c.dataset.response_field}


def _link_model_copy(_c: LabConfig, p: commands.StepPaths) -> None:
    """Olive copied finetune's input model into its output: hard links to the same files instead."""
    output = Path(p.output)
    link_input_copy(output, Path(p.input_model), Path(p.data_dir).parent, output.parent / "step.log")


def _prepare_settings(c: LabConfig) -> dict[str, Any]:
    return {**c.dataset.model_dump(), "model": c.model}


def _quantize_settings(c: LabConfig) -> dict[str, Any]:
    return {
        **c.quantize.model_dump(exclude={"python", "env", "run_on"}),
        "template": c.finetune.text_template,
        **_fields(c),
    }


def _finetune_settings(c: LabConfig) -> dict[str, Any]:
    # How often it saves checkpoints and how many it keeps change nothing in the adapter it makes.
    kept = c.finetune.model_dump(exclude={"olive", "env", "run_on", "save_steps", "keep_checkpoints"})
    return kept | _fields(c)


def _optimize_settings(c: LabConfig) -> dict[str, Any]:
    return c.optimize.model_dump(exclude={"olive", "env", "run_on"})


def _evaluate_settings(c: LabConfig) -> dict[str, Any]:
    # Its input key is optimize's, which chains finetune's, quantize's and the base model's.
    return {**c.evaluate.model_dump(exclude={"enabled"}), "template": c.finetune.text_template, **_fields(c)}


def _register_settings(c: LabConfig) -> dict[str, Any]:
    # The same folder registered under the same name and version in the same workspace is already there.
    return {**c.registration.model_dump(exclude={"env", "enabled"}),
            **c.azure.model_dump(include={"subscription_id", "resource_group", "workspace_name"})}  # fmt: skip


STEPS: dict[str, StepSpec] = {
    spec.name: spec
    for spec in (
        StepSpec(
            "prepare",
            "Prepare the data (and the demo model)",
            None,
            lambda c, p, _e: commands.prepare_argv(c, p),
            outputs=("train.jsonl", "validation.jsonl"),
            reuse_settings=_prepare_settings,
        ),
        StepSpec(
            "quantize",
            "Quantize (AWQ int4)",
            None,
            lambda c, p, _e: commands.quantize_argv(c, p),
            outputs=("config.json", "*.safetensors"),
            reuse_settings=_quantize_settings,
            data="train",
            enabled=lambda c: c.quantize.enabled,
            optional_note="quantize is turned off",
        ),
        StepSpec(
            "finetune",
            "Fine-tune a LoRA adapter",
            "quantize",
            lambda c, p, has_eval: commands.finetune_argv(c, p, has_eval=has_eval),
            outputs=("adapter/adapter_config.json", "adapter/adapter_model.safetensors"),
            reuse_settings=_finetune_settings,
            data="all",
            finish=_link_model_copy,
            finish_note="the copy of the input model in output/model/ becomes hard links to the input's files",
        ),
        StepSpec(
            "optimize",
            "Optimize to ONNX (+ adapter file)",
            "finetune",
            lambda c, p, _e: commands.optimize_argv(c, p),
            outputs=("genai_config.json", "*.onnx", "*.onnx_adapter"),
            reuse_settings=_optimize_settings,
            check=output_problem,
            check_note="genai_config.json asks for the [optimize] provider",
            finish=lambda c, p: commands.name_adapter(c, Path(p.output)),
            finish_note="the adapter file is named after the data (travel.onnx_adapter)",
        ),
        StepSpec(
            "register",
            "Register in Azure ML",
            "optimize",
            lambda c, p, _e: commands.register_argv(c, p),
            outputs=("registration.json",),
            reuse_settings=_register_settings,
            enabled=lambda c: c.registration.enabled,
            optional_note="registering in Azure ML is off ([registration] enabled)",
            listed_when_off=False,
        ),
        StepSpec(
            "evaluate",
            "Evaluate every stage (quality, size, speed)",
            "optimize",
            lambda c, p, _e: commands.evaluate_argv(c, p),
            outputs=("evaluation.json",),
            reuse_settings=_evaluate_settings,
            data="all",
            enabled=lambda c: c.evaluate.enabled,
            optional_note="evaluating is off ([evaluate] enabled)",
            listed_when_off=False,
        ),
    )
}
ALL_STEPS: tuple[str, ...] = tuple(STEPS)
CHECKPOINTS = "checkpoints"  # the finetune step's checkpoints, beside its output (`runs/<id>/finetune/checkpoints`)
# The steps a user chooses among (`--steps`, `--from`, the app's step picker); prepare always runs.
STEP_NAMES: tuple[str, ...] = tuple(name for name in STEPS if name != "prepare")


def run_steps(config: LabConfig) -> list[str]:
    """The steps a new run lists: every step, except optional ones that are off and say not to be listed."""
    return [name for name, sp in STEPS.items() if sp.listed_when_off or sp.enabled(config)]


def spec(name: str) -> StepSpec:
    try:
        return STEPS[name]
    except KeyError:
        raise ValueError(f"unknown step {name!r}; steps are {', '.join(STEP_NAMES)}") from None


def remote_cluster(name: str, config: LabConfig) -> str | None:
    """The Azure ML compute cluster step `name` runs on, or None when it runs on this machine."""

    where = str(getattr(config.step(name), "run_on", "local")) if name in STEP_NAMES else "local"
    return where.removeprefix(REMOTE_PREFIX) if where.startswith(REMOTE_PREFIX) else None


def lab_clusters(config: LabConfig) -> list[str]:
    """The compute clusters the lab's steps are set to run on (`run_on = "azureml:<name>"`)."""
    return sorted({c for s in STEP_NAMES if (c := remote_cluster(s, config))})


def remote_only(config: LabConfig, steps: list[str] | tuple[str, ...] | None = None) -> bool:
    """Every step that computes runs on Azure ML: the run does not take this machine's one-run lock."""
    chosen = [s for s in (steps or STEP_NAMES) if s in STEPS and STEPS[s].enabled(config) and s != "register"]
    return bool(chosen) and all(remote_cluster(s, config) for s in chosen)


def input_step(name: str, config: LabConfig) -> str | None:
    """The step whose output `name` takes as its input (skipping steps the settings turn off)."""
    previous = spec(name).previous
    while previous is not None and not spec(previous).enabled(config):
        previous = spec(previous).previous
    return previous


def missing_outputs(name: str, output: Path) -> str | None:
    """None when `output` holds what step `name` must produce; otherwise what is missing."""
    if not output.is_dir():
        return f"{output} was not created"
    for pattern in spec(name).outputs:
        if not any(output.glob(pattern)):
            what = "no " + pattern if "*" in pattern else pattern + " is missing"
            return f"{what} in {output}"
    return None


def judge_output(name: str, config: LabConfig, output: Path) -> str | None:
    """The step's conclusion rule on its output folder: None when it holds what the step must produce (its
    `outputs`, and what its `check` asks); otherwise what is wrong."""
    check = spec(name).check
    return missing_outputs(name, output) or (check(config, output) if check else None)


def step_argv(step: str, config: LabConfig, paths: commands.StepPaths, *, has_eval: bool = True) -> list[str]:
    return spec(step).build(config, paths, has_eval)


def step_paths(
    step: str, config: LabConfig, *, run: str = commands.RUN, model: str | None = None, lab: LabPaths | None = None
) -> commands.StepPaths:
    """The paths a step uses inside a run folder: its input is the previous step's output, or the base model.
    With the defaults they are written with placeholders (`runs/<id>`) for display."""
    azure_id = ""
    if model is None:
        azure = _azure_model(config, lab)
        azure_id = azure[0] if azure else ""
        model = str(base_model_folder(config, lab) or config.model)
    previous = input_step(step, config)
    input_model = f"{run}/{previous}/output" if previous else model
    if step == "register" and config.registration.folder:  # `olive-lab upload --path DIR`
        input_model = config.registration.folder
    data_dir = f"{run}/data"
    source = str(lab.resolve(config.dataset.path)) if lab else config.dataset.path
    output = data_dir if step == "prepare" else f"{run}/{step}/output"
    checkpoints = f"{run}/{step}/{CHECKPOINTS}" if step == "finetune" else ""
    return commands.StepPaths(
        input_model=input_model, data_dir=data_dir, output=output, data_source=source, azure_model=azure_id,
        checkpoints=checkpoints,
        base_model=model,
    )  # fmt: skip


def base_model_folder(config: LabConfig, lab: LabPaths | None) -> Path | None:
    """Where the run's base model is on this machine: the demo model in the per-user cache, a local folder, or
    an Azure model's download folder (present once prepare fetched it); None for a hub id (Olive fetches it)."""
    from engine.steps.demo_model import demo_model_dir

    if config.model == "demo":
        return demo_model_dir()
    local = lab.local_model(config.model) if lab else None
    azure = _azure_model(config, lab)
    return local or (azure[1] if azure else None)


def _azure_model(config: LabConfig, lab: LabPaths | None) -> tuple[str, Path] | None:
    """(full id, cache folder) of an Azure base model: prepare downloads it there, the steps read it there."""
    from engine.azure.assets import CACHE_FOLDER, full_id, model_asset
    from engine.azure.errors import AzureError

    try:
        asset = model_asset(config, lab.root if lab else None)
    except AzureError:  # the pre-flight check refuses it with its reason
        return None
    return (full_id(asset), user_models() / CACHE_FOLDER / asset.cache_key) if asset else None


def command_line(step: str, config: LabConfig, paths: commands.StepPaths | None = None) -> str:
    """The exact command a step runs, as one shell-quoted line."""
    argv = step_argv(step, config, paths or step_paths(step, config))
    return shlex.join(argv)
