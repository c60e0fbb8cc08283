"""The checks that keep a doomed run from starting: the data, the template, the model, Olive, RAM and disk.

Cheap: no heavy imports. RAM and disk are judged by `engine.requirements.resource_verdict`, the same
judgement `doctor` shows on the checklist.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from engine.config import LabConfig
from engine.data.records import DatasetError, check_dataset, template_fields
from engine.gpu.meter import estimate_step_memory
from engine.gpu.meter import preflight as memory_preflight
from engine.gpu.sampler import sample_once
from engine.paths import LabPaths
from engine.requirements import resource_verdict
from engine.steps.commands import olive_executable
from engine.steps.onnx_target import target_problem


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
    model = config.model
    local = lab.local_model(model)
    if local is not None and not (local / "config.json").exists():
        problems.append(f"model: no Hugging Face model folder at {local} (config.json not found)")
    from engine.doctor import check_hub, hub_model

    if hub_model(lab, config):  # only then is a (2 s at most) look at the hub worth it
        hub = check_hub(lab, config)
        if hub.status != "ok":
            problems.append(f"model: {hub.detail}; {hub.fix}")
    from engine.azure.assets import check_model_id

    if refusal := check_model_id(config, lab.root):  # a good id is downloaded into the model cache by prepare
        problems.append(refusal)
    if config.registration.enabled:
        problems += register_problems(lab, config)
    from engine.steps.spec import remote_cluster

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
    if lab.root.is_dir() and not os.access(lab.root, os.W_OK):
        problems.append(f"lab: {lab.root} cannot be written (a read-only filesystem or no permission)")

    if not remote_cluster("optimize", config) and (target := target_problem(config)) is not None:
        problems.append(target)
    found = resource_problems(lab, config, free_ram=free_ram, free_disk=free_disk)
    from engine.steps.spec import remote_only

    # Steps on Azure ML need this machine's disk (their outputs come back) but not its memory
    problems += [p for p in found if not (remote_only(config) and p.startswith("memory:"))]
    return problems


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

    where = lab.root if lab.root.exists() else lab.root.parent
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
        from engine.steps.spec import remote_cluster

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
