"""What the Steps screen says beside the form: the command box (a step's command line, or, for a step that
runs on Azure ML, where it runs and the command its job runs) and the warnings about valid settings that
will still go wrong. Plain functions of the settings, so they are tested without a screen.
"""

from __future__ import annotations

import shlex
import shutil

from engine.config import LabConfig
from engine.paths import LabPaths


def command_line(step: str, config: LabConfig) -> str:
    """The step's exact command line, from the engine's single command builder."""
    try:
        from engine.steps.spec import command_line as build
    except ImportError:  # pragma: no cover - the builder ships with the engine
        return f"olive {step} …  (the command builder is not available in this build)"
    return build(step, config)


def shown_command(step: str, config: LabConfig, lab: LabPaths) -> tuple[str | None, str]:
    """(where, command): `where` says the step runs as an Azure ML job on a cluster (None: on this machine);
    `command` is the line that runs there (the job's, with its inputs and output in place of the run
    folder's paths)."""
    from engine.steps.spec import remote_cluster

    cluster = remote_cluster(step, config)
    if cluster is None:
        return None, command_line(step, config)
    from engine.azure.jobs import preview_command

    return f"runs as an Azure ML job on {cluster}:", preview_command(config, step, lab)


def field_warnings(lab: LabPaths, config: LabConfig) -> dict[str, str]:
    """Valid settings that will still go wrong: a template Olive mangles, a program that is not there."""
    from engine.data.records import template_warnings

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
    from engine.steps.spec import remote_cluster

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
