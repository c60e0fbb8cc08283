"""Starting, finding and cancelling pipeline runs; the checks that keep doomed steps from starting.

`start_run` validates everything it can cheaply (dataset, template fields, model path, Olive, disk), writes
the run folder and launches a detached supervisor (`engine.runs.supervisor`) that owns the run from then on. The
app and the CLI never run steps themselves: they read the run folder, so they can come and go.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from engine.config import STEP_NAMES, LabConfig, save_config_to
from engine.paths import PROJECT_ROOT, LabPaths
from engine.runs.state import (
    FINISHED_RUN,
    RunState,
    StepState,
    effective_status,
    iter_runs,
    pid_alive,
    read_state,
    write_state,
)

ALL_STEPS: tuple[str, ...] = ("prepare", *STEP_NAMES)


class PipelineError(ValueError):
    """A run cannot start, and why (with the file, line or field where that applies)."""


def new_run_id() -> str:
    """Ids sort in start order (runs are listed by id): the time to the millisecond, then a random digit."""
    now = time.time()
    return time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + f"-{int(now * 1000) % 1000:03d}{secrets.randbelow(16):x}"


def selected_steps(steps: Sequence[str] | None = None, from_step: str | None = None) -> list[str]:
    """The steps the user asked to run (forced, no reuse); None means 'all, reusing what is done'."""
    if steps and from_step:
        raise PipelineError("give either --steps or --from, not both")
    if from_step:
        if from_step not in STEP_NAMES:
            raise PipelineError(f"unknown step {from_step!r}; steps are {', '.join(STEP_NAMES)}")
        return list(STEP_NAMES[STEP_NAMES.index(from_step) :])
    if steps:
        unknown = [s for s in steps if s not in STEP_NAMES]
        if unknown:
            raise PipelineError(f"unknown step {unknown[0]!r}; steps are {', '.join(STEP_NAMES)}")
        return [s for s in STEP_NAMES if s in steps]
    return []


def active_run(lab: LabPaths) -> str | None:
    """The id of a run whose supervisor is still alive, if any."""
    for run_dir, state in iter_runs(lab.runs):
        if state is not None and not state.finished and pid_alive(state.supervisor_pid):
            return run_dir.name
        if state is not None and state.status == "starting" and time.time() - state.created_at < 10:
            return run_dir.name
    return None


def preflight(
    lab: LabPaths, config: LabConfig, *, free_ram: int | None = None, free_disk: int | None = None
) -> list[str]:
    """Problems that would make a step fail for sure; an empty list means 'go'. Cheap: no heavy imports."""
    from engine.data.records import DatasetError, check_dataset, template_fields

    problems: list[str] = []
    ds = config.dataset
    data_path = Path(ds.path)
    if not data_path.is_absolute():
        data_path = lab.root / data_path
    fields = [ds.prompt_field, ds.response_field]
    report = check_dataset(data_path, fields)
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
    if model != "demo" and not model.startswith("azureml://"):
        looks_local = model.startswith((".", "/", "~")) or (
            os.sep in model and Path(model).expanduser().exists()
        )
        if looks_local and not (Path(model).expanduser() / "config.json").exists():
            problems.append(f"model: no Hugging Face model folder at {model} (config.json not found)")
    from engine.doctor import check_hub, hub_model

    if model != "demo" and hub_model(config):  # only then is a (2 s at most) look at the hub worth it
        hub = check_hub(config)
        if hub.status != "ok":
            problems.append(f"model: {hub.detail}; {hub.fix}")
    if model.startswith("azureml://") and config.quantize.enabled:
        problems.append(
            "model: AWQ needs the model's files; download the azureml:// asset first or turn quantize off"
        )
    from engine.steps.commands import olive_executable

    for step in ("finetune", "optimize"):
        exe = olive_executable(getattr(config, step).olive)[0]
        if shutil.which(exe) is None and not Path(exe).exists():
            problems.append(f"{step}: Olive is not installed ('{exe}' not found); run ./bootstrap.sh install")
            break
    problems += _resource_problems(lab, config, free_ram=free_ram, free_disk=free_disk)
    return problems


# Parameters (billions) of the profiles' base models, for the memory estimates.
PROFILE_PARAMS_B = {"demo": 0.001, "phi35": 3.8}


def resource_warnings(lab: LabPaths, config: LabConfig) -> list[str]:
    """Each step's estimated memory (engine.gpu.meter's documented estimate) against what is free now."""
    try:
        from engine.gpu.meter import estimate_step_memory
        from engine.gpu.meter import preflight as memory_preflight
        from engine.gpu.sampler import sample_once

        sample = sample_once(lab.root if lab.root.exists() else None)
        params = PROFILE_PARAMS_B.get(config.profile, 3.8)
        found: list[str] = []
        plan = {"quantize": "fp16", "finetune": config.finetune.torch_dtype, "optimize": config.optimize.precision}
        for step, precision in plan.items():
            if step == "quantize" and not config.quantize.enabled:
                continue
            for message in memory_preflight(estimate_step_memory(step, params, precision), sample):
                if message not in found:
                    found.append(message)
        return found
    except Exception as exc:  # an estimate must never stop a run
        return [f"memory check skipped ({type(exc).__name__}: {exc})"]


def _resource_problems(lab: LabPaths, config: LabConfig, *, free_ram: int | None, free_disk: int | None) -> list[str]:
    """Too little RAM or disk for the profile (the doctor's documented figures)."""
    import psutil

    from engine.doctor import GB, NEEDS

    need_ram, need_disk = NEEDS.get(config.profile, NEEDS["phi35"])
    where = lab.root if lab.root.exists() else lab.root.parent
    free_disk = shutil.disk_usage(where).free if free_disk is None else free_disk
    free_ram = psutil.virtual_memory().available if free_ram is None else free_ram
    problems = []
    if free_disk < need_disk:
        problems.append(
            f"disk: {free_disk / GB:.1f} GB free in {where}, the {config.profile} profile needs about {need_disk / GB:.0f} GB"
        )
    if free_ram < need_ram:
        problems.append(
            f"memory: {free_ram / GB:.1f} GB of RAM free, the {config.profile} profile needs about {need_ram / GB:.0f} GB"
        )
    return problems


def start_run(
    lab: LabPaths,
    config: LabConfig,
    *,
    steps: Sequence[str] | None = None,
    from_step: str | None = None,
    allow_concurrent: bool = False,
    check: bool = True,
) -> str:
    """Validate, create `runs/<id>/` and launch its detached supervisor. Returns the run id."""
    forced = selected_steps(steps, from_step)
    if not allow_concurrent:
        running = active_run(lab)
        if running:
            raise PipelineError(
                f"run {running} is still going in this lab (cancel it, or allow concurrent runs)"
            )
    if check:
        problems = preflight(lab, config)
        if problems:
            raise PipelineError("; ".join(problems))
    lab.runs.mkdir(parents=True, exist_ok=True)
    run_id = new_run_id()
    run_dir = lab.run_dir(run_id)
    run_dir.mkdir()
    save_config_to(run_dir / "settings.toml", config)
    state = RunState(
        id=run_id,
        lab=str(lab.root),
        profile=config.profile,
        settings=config.model_dump(),
        steps=[StepState(name=name) for name in ALL_STEPS],
    )
    state.settings["_forced_steps"] = forced
    if check:
        state.warnings = resource_warnings(lab, config)
    write_state(run_dir, state)
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
    )
    with open(run_dir / "supervisor.log", "ab") as out:
        launcher = subprocess.Popen(
            [sys.executable, "-m", "engine.runs.supervisor", "--daemonize", str(run_dir)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=str(lab.root),
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    launcher.wait(timeout=30)  # it forks the real supervisor and exits at once
    _wait_supervisor(run_dir)
    return run_id


def _wait_supervisor(run_dir: Path, timeout: float = 10.0) -> None:
    """Return once the supervisor has taken the run; if it died first, say why (its log's last line)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = read_state(run_dir)
        if state.supervisor_pid or state.finished:
            return
        time.sleep(0.02)
    log = (run_dir / "supervisor.log").read_text(encoding="utf-8", errors="replace").strip().splitlines()
    raise PipelineError(f"the run's supervisor did not start ({log[-1] if log else 'no message'}; see {run_dir}/supervisor.log)")


def resolve_run(lab: LabPaths, run_id: str | None) -> Path:
    """A run folder from an id, a unique prefix, or 'latest'/None (the newest run)."""
    runs = [p for p, _ in iter_runs(lab.runs)]
    if not runs:
        raise PipelineError(f"no runs yet in {lab.runs}")
    if run_id in (None, "", "latest"):
        return runs[0]
    matches = [p for p in runs if p.name == run_id] or [p for p in runs if p.name.startswith(str(run_id))]
    if not matches:
        raise PipelineError(f"no run {run_id!r} in {lab.runs}")
    if len(matches) > 1:
        raise PipelineError(f"run id {run_id!r} is ambiguous: {', '.join(p.name for p in matches[:5])}")
    return matches[0]


def cancel_run(lab: LabPaths, run_id: str, timeout: float = 5.0) -> RunState:
    """Stop a run's whole process tree (interrupt, terminate, kill) and wait until it says so."""
    run_dir = resolve_run(lab, run_id)
    state = read_state(run_dir)
    if state.finished:
        return state
    if pid_alive(state.supervisor_pid):
        os.kill(state.supervisor_pid, signal.SIGTERM)  # type: ignore[arg-type]
        deadline = time.time() + timeout
        while time.time() < deadline:
            state = read_state(run_dir)
            if state.finished:
                return state
            time.sleep(0.05)
    # The supervisor is gone (or stuck): stop the step's process group ourselves and close the state.
    from engine.runs.proctree import stop_tree

    for step in state.steps:
        if step.status == "running" and step.pid:
            stop_tree(step.pid, group=True)
            step.status = "cancelled"
            step.ended_at = time.time()
            step.reason = "cancelled"
    if pid_alive(state.supervisor_pid):
        stop_tree(state.supervisor_pid, group=False)
    state.status = "cancelled"
    state.reason = state.reason or "cancelled (the supervisor had stopped answering)"
    state.ended_at = time.time()
    write_state(run_dir, state)
    return state


def remove_run(lab: LabPaths, run_id: str) -> Path:
    run_dir = resolve_run(lab, run_id)
    state = read_state(run_dir)
    if effective_status(state) not in (*FINISHED_RUN, "lost"):
        raise PipelineError(f"run {run_dir.name} is still going; cancel it first")
    shutil.rmtree(run_dir)
    return run_dir
