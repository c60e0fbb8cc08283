"""The checks that keep a doomed run from starting: the data, the template, the model, Olive, RAM and disk.

Cheap: no heavy imports. RAM and disk are judged by `engine.requirements.resource_verdict`, the same
judgement `doctor` shows on the checklist.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from engine import hub
from engine.azure.assets import check_model_id, is_azure_id
from engine.config import DEMO_MODEL, PHI35_MODEL, LabConfig, LabConfigError, changed_settings, did_you_mean
from engine.data.records import DatasetError, check_dataset, template_fields
from engine.gpu.meter import estimate_step_memory
from engine.gpu.meter import preflight as memory_preflight
from engine.gpu.sampler import sample_once
from engine.paths import LabPaths, nearest_existing
from engine.requirements import resource_verdict
from engine.steps.commands import olive_executable
from engine.steps.onnx_target import target_problem
from engine.steps.plan import step_env as step_env_of
from engine.steps.spec import input_step, remote_cluster, remote_only, spec


def preflight(
    lab: LabPaths, config: LabConfig, *, free_ram: int | None = None, free_disk: int | None = None
) -> list[str]:
    """Problems that would make a step fail for sure; an empty list means 'go'."""

    problems: list[str] = []
    ds = config.dataset
    fields = [ds.prompt_field, ds.response_field]
    report = check_dataset(lab.resolve(ds.path), fields)
    if not report.ok:
        problems.append(str(report.error()))
    try:
        missing = [f for f in template_fields(config.finetune.text_template) if f not in fields]
    except DatasetError as exc:
        problems.append(str(exc))
    else:
        if missing:
            problems.append(
                f"finetune.text_template names field '{missing[0]}', which the data does not have "
                f"(its fields are {', '.join(fields)}; set dataset.prompt_field / response_field or fix the template)"
            )
    problems += model_problems(lab, config)
    if config.registration.enabled:
        problems += register_problems(lab, config)
    if any(remote_cluster(step, config) for step in ("quantize", "finetune", "optimize")):
        problems += remote_problems(lab, config)
    for step in ("finetune", "optimize"):
        if remote_cluster(step, config):
            continue
        exe = olive_executable(getattr(config, step).olive, builds_onnx=step == "optimize")[0]
        if shutil.which(exe) is None and not Path(exe).exists():
            problems.append(f"{step}: Olive is not installed ('{exe}' not found); run ./bootstrap.sh install")
            break
    quantize_python = config.quantize.python
    if config.quantize.enabled and quantize_python and not remote_cluster("quantize", config):
        if shutil.which(quantize_python) is None and not Path(quantize_python).is_file():
            problems.append(
                f"quantize.python: '{quantize_python}' not found (set it to a Python interpreter or remove it)"
            )
    if (unwritable := lab.write_problem()) is not None:
        problems.append(f"lab: {unwritable}")

    if not remote_cluster("optimize", config) and (target := target_problem(config)) is not None:
        problems.append(target)
    found = resource_problems(lab, config, free_ram=free_ram, free_disk=free_disk)
    # Steps on Azure ML need this machine's disk (their outputs come back) but not its memory
    problems += [p for p in found if not (remote_only(config) and p.startswith("memory:"))]
    return problems


def model_problems(
    lab: LabPaths, config: LabConfig, env: Mapping[str, str] | None = None, *, online: bool | None = None
) -> list[str]:
    """The base model checked before a run starts: 'demo', a local model folder, a well-formed azureml: id, or
    a hub repo id that each step loading it here can get: from the hub's cache, or from the hub itself when
    that step may use it (no HF_HUB_OFFLINE in its environment) and huggingface.co answers (`online`: None
    looks). So a typo ('demor') is refused at once, with the nearest known name, instead of failing the first
    step after it retried the hub. A step on Azure ML compute fetches a hub model there, so its id is enough."""
    model = config.model
    if model == DEMO_MODEL:
        return []
    if is_azure_id(model):
        return [refusal] if (refusal := check_model_id(config, lab.root)) else []
    if (local := lab.local_model(model)) is not None:
        found = f"model: no Hugging Face model folder at {local} (config.json not found)"
        return [] if (local / "config.json").exists() else [found]
    env = os.environ if env is None else env
    if not hub.is_repo_id(model):
        found = "is not 'demo', a local folder, an azureml: model or a Hugging Face repo id ('name' or 'org/name')"
        return [_model_refusal(lab, config, found, env, hint=None)]
    for step in _base_model_steps(config):
        step_env = {**env, **{v.name: v.value for v in step_env_of(config, step) if v.value is not None}}
        if hub.cached(model, step_env):
            continue
        if hub.offline(step_env):
            why = f"HF_HUB_OFFLINE is set for the {step} step"
        elif online is False or (online is None and not (online := hub.reachable(step_env))):
            why = f"{hub.host(step_env)} cannot be reached"
        elif hub.repo_exists(model, step_env) is False:
            found = f"is not 'demo', a local folder or a model on {hub.endpoint(step_env)}"
            hint = "fix the name (as on the model's page), log in with `hf auth login` for a private model"
            return [_model_refusal(lab, config, found, step_env, hint=hint)]
        else:
            continue
        cache = hub.cache_dir(step_env)
        found = f"is not 'demo', a local folder or a model in the Hugging Face cache ({cache}), and {why}"
        hint = "fix the name, fetch the model once while online, or set model to a local folder"
        return [_model_refusal(lab, config, found, step_env, hint=hint)]
    return []


def _base_model_steps(config: LabConfig) -> list[str]:
    """The step that loads the base model by its name on this machine: the first that computes (quantize, or
    finetune when quantize is off), unless it runs on Azure ML compute. (Evaluate measures the original model
    too, but one it cannot load is a stage "not measured", not a failed run.)"""
    first = next(s for s in ("quantize", "finetune") if spec(s).enabled(config) and input_step(s, config) is None)
    return [] if remote_cluster(first, config) else [first]


def _model_refusal(lab: LabPaths, config: LabConfig, found: str, env: Mapping[str, str], *, hint: str | None) -> str:
    """One line naming the file and the field (lab.toml's `model`, or the profile's own), with the nearest
    known model where the name looks like a typo of one (else `hint`)."""
    known = dict.fromkeys([DEMO_MODEL, PHI35_MODEL, *hub.cached_models(env)])
    near = did_you_mean(config.model, known)
    source = lab.config if "model" in changed_settings(config) and lab.config.exists() else None
    error = LabConfigError(
        f"{config.model!r} {found}{near}",
        path=source,
        field="model",
        hint=None if near else hint,
    )
    return error.full()


def _workspace_into(lab: LabPaths, config: LabConfig) -> None:
    """Resolve the workspace (no network) and write its names into `config.azure`, so the run records them."""
    from engine.azure.workspace import resolve_workspace

    ws = resolve_workspace(lab_table=config.azure.model_dump(), lab_root=lab.root)
    config.azure.subscription_id, config.azure.resource_group, config.azure.workspace_name = (
        ws.subscription_id, ws.resource_group, ws.workspace_name,
    )  # fmt: skip


def remote_problems(lab: LabPaths, config: LabConfig) -> list[str]:
    """Steps on Azure ML compute need a workspace (the cluster itself is checked when the job is submitted)."""
    from engine.azure.errors import AzureError

    try:
        _workspace_into(lab, config)
    except AzureError as exc:
        return [f"run on Azure ML: {exc.full()}"]
    return []


def register_problems(lab: LabPaths, config: LabConfig) -> list[str]:
    """The register step's inputs checked before a run starts: the workspace resolved (and written into
    `config.azure`, so the run records the names it will use), the name, version and tags valid, and a folder
    given instead of the run's output exists. Nothing is sent."""
    from engine.azure.errors import AzureError
    from engine.azure.validate import check_name, check_tags, check_version

    problems: list[str] = []
    r = config.registration
    try:
        _workspace_into(lab, config)
        check_name(r.name)
        check_version(r.version)
        check_tags(r.tags)
    except AzureError as exc:
        problems.append(f"register: {exc.full()}")
    if r.folder and not lab.resolve(r.folder).is_dir():
        problems.append(f"register: {r.folder} is not a folder")
    return problems


def resource_problems(
    lab: LabPaths, config: LabConfig, *, free_ram: int | None = None, free_disk: int | None = None
) -> list[str]:
    """Too little RAM or disk for the profile: the same verdict as `doctor`'s."""
    import psutil

    where = nearest_existing(lab.root)
    disk = resource_verdict(
        "disk", config.profile, shutil.disk_usage(where).free if free_disk is None else free_disk, str(where)
    )
    ram = resource_verdict(
        "memory", config.profile, psutil.virtual_memory().available if free_ram is None else free_ram
    )
    return [f"{name}: {v.detail}" for name, v in (("disk", disk), ("memory", ram)) if v.verdict == "fail"]


# Parameters (billions) of the profiles' base models, for the memory estimates.
PROFILE_PARAMS_B = {"demo": 0.001, "phi35": 3.8}


def resource_warnings(lab: LabPaths, config: LabConfig) -> list[str]:
    """Each step's estimated memory (engine.gpu.meter's documented estimate) against what is free now."""
    try:
        sample = sample_once(lab.root if lab.root.exists() else None)
        params = PROFILE_PARAMS_B.get(config.profile, 3.8)
        found: list[str] = []
        plan = {"quantize": "fp16", "finetune": config.finetune.torch_dtype, "optimize": config.optimize.precision}
        for step, precision in plan.items():
            if (step == "quantize" and not config.quantize.enabled) or remote_cluster(step, config):
                continue  # off, or it runs on Azure ML compute
            for message in memory_preflight(estimate_step_memory(step, params, precision), sample):
                if message not in found:
                    found.append(message)
        return found
    except Exception as exc:  # an estimate must never stop a run
        return [f"memory check skipped ({type(exc).__name__}: {exc})"]
