"""What a step program needs from run folders, resolved by the runner just before the step starts and handed
to it as a file its command names: the programs are child processes below the runner and never read a run's
state themselves. Only the register step needs any: the provenance of the run whose model it registers (tags
and properties) and, when that model is an Azure ML job's output, where the job wrote it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from engine.config import LabConfig
from engine.errors import OliveLabError
from engine.fs import atomic_write_text
from engine.runs.provenance import run_provenance
from engine.runs.state import RunFileError, read_state
from engine.steps.commands import RegisterInputs, StepPaths, register_inputs_path


def job_output(folder: Path) -> str | None:
    """Where an Azure ML job wrote `folder` (a run's step output that ran as a job), if it did."""
    run_dir = folder.parent.parent
    if folder.name != "output" or not (run_dir / "state.json").is_file():
        return None
    try:
        step = read_state(run_dir).step(folder.parent.name)
    except (RunFileError, KeyError):
        return None
    remote = step.remote
    return remote.output_uri if remote is not None and remote.output_uri and step.status == "done" else None


def register_inputs(run_dir: Path, config: LabConfig, paths: StepPaths) -> RegisterInputs:
    r = config.registration
    provenance = r.provenance_run or ("" if r.folder else str(run_dir))  # a run's model carries its provenance
    inputs = RegisterInputs(job_output=job_output(Path(paths.input_model)))
    if not provenance:
        return inputs
    try:
        prov = run_provenance(Path(provenance))
    except OliveLabError as exc:
        return inputs.model_copy(update={"error": exc.full()})
    return inputs.model_copy(update={"tags": prov.tags(), "properties": prov.properties()})


def _write_register(run_dir: Path, config: LabConfig, paths: StepPaths) -> None:
    inputs = register_inputs(run_dir, config, paths)
    atomic_write_text(register_inputs_path(paths), inputs.model_dump_json(indent=1) + "\n")


WRITERS: dict[str, Callable[[Path, LabConfig, StepPaths], None]] = {"register": _write_register}


def write_inputs(run_dir: Path, config: LabConfig, step: str, paths: StepPaths) -> None:
    """Write step `step`'s inputs file, for a step that has one."""
    if (writer := WRITERS.get(step)) is not None:
        writer(run_dir, config, paths)
