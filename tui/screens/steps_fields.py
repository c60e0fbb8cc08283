"""What the Steps screen says beside the form: the command box (a step's command line, or, for a step that
runs on Azure ML, where it runs and the command its job runs) and the warnings about valid settings that
will still go wrong; and the form's addressing of the settings ("section.field"). Plain functions of the
settings, so they are tested without a screen.
"""

from __future__ import annotations

import shlex
import shutil
from typing import Any

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from engine.config import (
    STEP_SECTIONS,
    DatasetConfig,
    FinetuneConfig,
    LabConfig,
    OptimizeConfig,
    QuantizeConfig,
)
from engine.data.records import template_warnings
from engine.errors import OliveLabError
from engine.paths import LabPaths
from engine.steps.spec import STEP_NAMES, remote_cluster


def shown_command(step: str, config: LabConfig, lab: LabPaths) -> tuple[str | None, str]:
    """(where, command) from the plan a run of these settings follows (engine.steps.plan): `where` says the
    step runs as an Azure ML job on a cluster (None: on this machine); `command` is the line that runs there
    (the job's, with its inputs and output in place of the run folder's paths)."""
    from engine.steps.plan import run_plan

    try:
        item = run_plan(config, lab, as_written=True).step(step)
    except OliveLabError as exc:
        return None, f"(no command: {exc.message})"
    except KeyError:  # an optional step that is off is not part of the run
        return None, f"(off: a run with these settings does not run {step})"
    if item.off:
        return None, f"(off: {item.off})"
    return (f"runs as an Azure ML job on {item.cluster}:" if item.cluster else None), item.command_line


def field_warnings(lab: LabPaths, config: LabConfig) -> dict[str, str]:
    """Valid settings that will still go wrong: a template Olive mangles, a program that is not there."""

    warnings: dict[str, str] = {}
    found = template_warnings(config.finetune.text_template)
    if found:
        warnings["finetune.text_template"] = found[0]
    programs = {
        "quantize.python": config.quantize.python,
        "finetune.olive": config.finetune.olive,
        "optimize.olive": config.optimize.olive,
    }
    for key, value in programs.items():
        if key.split(".")[0] in _remote_steps(config):
            continue  # the job runs the environment's own program, not this machine's
        missing = missing_program(lab, value)
        if missing:
            warnings[key] = missing
    return warnings


def _remote_steps(config: LabConfig) -> set[str]:
    return {step for step in ("quantize", "finetune", "optimize") if remote_cluster(step, config)}


def missing_program(lab: LabPaths, value: str | None) -> str | None:
    """Why a program setting names nothing that can run (None when it can, or when it is unset)."""
    if not value or not value.strip():
        return None
    try:
        program = shlex.split(value)[0]
    except ValueError as exc:
        return f"cannot be read as a command ({exc})"
    if shutil.which(program) or shutil.which(str(lab.resolve(program))):
        return None
    return f"no program {program!r} on PATH or at that path: the step would fail to start"


SECTIONS: tuple[tuple[str, str, type[BaseModel]], ...] = (
    ("lab", "Model and profile", LabConfig),
    ("dataset", "Dataset", DatasetConfig),
    ("quantize", "Quantize (AWQ)", QuantizeConfig),
    ("finetune", "Fine-tune (LoRA)", FinetuneConfig),
    ("optimize", "Optimize (ONNX)", OptimizeConfig),
)
LAB_SKIP = ("dataset", "quantize", "finetune", "optimize", "keys", "registration", "azure", "evaluate")
STEP_SKIP = ("env",)  # a table: edited in lab.toml ([finetune.env] NAME = "value")


def form_values(config: LabConfig) -> dict[str, Any]:
    """Settings as {"section.field": value}, the form's addressing."""
    data = config.model_dump()
    out: dict[str, Any] = {}
    for section, _, _model in SECTIONS:
        if section == "lab":
            out.update({f"lab.{k}": v for k, v in data.items() if k not in LAB_SKIP})
        else:
            out.update({f"{section}.{k}": v for k, v in data[section].items()})
    return out


def env_tables(config: LabConfig) -> dict[str, dict[str, str]]:
    """Each step section's env table, keyed by its section's name in the settings (`registration` for register)."""
    tables: dict[str, dict[str, str]] = {}
    for name in STEP_NAMES:
        env = getattr(config.step(name), "env", None)
        if isinstance(env, dict):
            tables[STEP_SECTIONS.get(name, name)] = dict(env)
    return tables


def error_text(err: ErrorDetails) -> str:
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")
