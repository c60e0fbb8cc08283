"""One typed, versioned plan per run, built from the step table (engine.steps.spec) and nothing else.

From the lab's settings, the steps that run and a sweep's branches, the plan says for each step: where it runs
(this machine or an Azure ML cluster), its command (argv here, the job for a cluster), its inputs and output,
its environment (secret variables by name only), its reuse key's recipe and its conclusion rule. `pipeline
commands`, the Steps screen, every `--dry-run` and the supervisor (local steps and jobs alike) read it, so what
is printed is what runs. A run's state records the plan its supervisor follows.

Before a run starts its id and folder are placeholders (`RUN_ID`, `commands.RUN`), and whether the data has a
held-out split is taken from the settings (`[dataset] eval_share`); the supervisor builds the plan again with
the run's own id and folder, and once prepare has split the data, with what it found.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field, computed_field

from engine.azure.assets import full_id, is_azure_id, model_asset
from engine.azure.errors import AzureError
from engine.azure.jobenv import job_environment
from engine.config import STEP_SECTIONS, LabConfig
from engine.paths import LabPaths
from engine.redact import MASK, is_secret_entry
from engine.steps import commands
from engine.steps.commands import StepPaths
from engine.steps.grid import BRANCHES, GridBranch, branch_steps, shared_steps, with_values
from engine.steps.job_plan import (
    JobInput,
    JobPlan,
    job_command,
    job_name,
    job_paths,
    output_uri,
    remote_config,
    tags,
)
from engine.steps.spec import DataKey, input_step, remote_cluster, run_steps, spec, step_paths

PLAN_SCHEMA = 1
RUN_ID = "<id>"  # a run's id before it has one (`--dry-run`, the Steps screen), as in its folder `runs/<id>`


class EnvVar(BaseModel):
    """One of a step's own variables (`[<step>.env]`). A secret is named, never valued: the supervisor hands
    its value to a step here from a file it removes as it reads it, and never sends it to a job."""

    name: str
    value: str | None = None  # None: a secret

    @property
    def secret(self) -> bool:
        return self.value is None


class ReuseRecipe(BaseModel):
    """What a step's reuse key is made of: these settings, the key of its input (a step's, or the base model's
    fingerprint) and, where it reads the data, the data's digest."""

    settings: dict[str, Any]
    input: str  # the step whose key this one chains, or "model"
    data: DataKey


class Conclusion(BaseModel):
    """What makes a step done: never its exit status alone (Olive exits 0 without a model)."""

    outputs: list[str]  # globs that must each match at least one file of its output folder
    checks: list[str] = Field(default_factory=list)  # what else its output must be
    then: list[str] = Field(default_factory=list)  # what is done to its output once it is done
    rule: str = "exit status 0, every output there, and no 'No output model produced' in its log"


class PlanStep(BaseModel):
    step: str
    branch: str = ""  # a sweep's branch ("" for a run's own steps and a sweep's shared ones)
    cluster: str | None = None  # the Azure ML compute cluster it runs on; None: this machine
    argv: list[str] = Field(default_factory=list)  # its command on this machine
    job: JobPlan | None = None  # its job on a cluster
    paths: StepPaths  # what it reads and writes in the run folder
    env: list[EnvVar] = Field(default_factory=list)
    reuse: ReuseRecipe
    conclusion: Conclusion
    off: str = ""  # why it does not run (an optional step that is off): it has no command

    @computed_field  # type: ignore[prop-decorator]
    @property
    def where(self) -> str:
        return f"Azure ML cluster {self.cluster}" if self.cluster else "this machine"

    @property
    def command(self) -> list[str]:
        """What the run records as the step's command (a job's line as the shell on its node reads it)."""
        return ["bash", "-c", self.job.command] if self.job is not None else self.argv

    @computed_field  # type: ignore[prop-decorator]
    @property
    def command_line(self) -> str:
        """The line that runs: here, shell-quoted; on a cluster, the job's."""
        return self.job.command if self.job is not None else shlex.join(self.argv)


class Plan(BaseModel):
    schema_version: int = PLAN_SCHEMA
    run_id: str
    steps: list[PlanStep]

    def step(self, name: str, branch: str | None = None) -> PlanStep:
        """Step `name` (of sweep branch `branch`; None: the first of that name, as in one run's plan)."""
        for planned in self.steps:
            if planned.step == name and branch in (None, planned.branch):
                return planned
        raise KeyError(f"{name} ({branch})" if branch else name)


# What every step runs with, on this machine or as a job: its output unbuffered (the live log) and no telemetry.
STEP_ENV = {"PYTHONUNBUFFERED": "1", "OLIVE_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}


def step_env(config: LabConfig, name: str) -> list[EnvVar]:
    """A step's variables: the lab's own (`STEP_ENV`; the bundled demo model needs no hub), then the step's
    table in lab.toml, which wins; secrets (by name or value, or already masked) by name only."""
    section = getattr(config, STEP_SECTIONS.get(name, name), None)
    env = dict(STEP_ENV)
    if config.model == "demo":
        env["HF_HUB_OFFLINE"] = "1"
    env.update(getattr(section, "env", None) or {})
    return [EnvVar(name=k, value=None if v == MASK or is_secret_entry(k, v) else v) for k, v in env.items()]


def registry_model(config: LabConfig, lab: LabPaths | None) -> str | None:
    """The base model's `azureml://registries/...` id, when the lab's model is a registry model."""
    try:
        asset = model_asset(config, lab.root if lab else None)
    except AzureError:  # the pre-flight check refuses it with its reason
        return None
    return full_id(asset) if asset is not None and asset.registry else None


def model_input(
    name: str, config: LabConfig, lab: LabPaths | None, paths: StepPaths, planned: dict[str, PlanStep]
) -> JobInput | None:
    """The one rule for a job's input model: the previous step's job output where it is (when that step runs
    as a job in this plan), a registry model read from the registry, a local folder uploaded (the previous
    step's output here, the demo model, a local or downloaded Azure model); None for a hub id (the job
    downloads it)."""
    previous = input_step(name, config)
    if previous is not None:
        before = planned.get(previous)
        if before is not None and before.job is not None:
            return JobInput(kind="job_output", uri=before.job.outputs["output"], path=paths.input_model, step=previous)
        return JobInput(kind="upload", path=paths.input_model)
    if catalog := registry_model(config, lab):
        return JobInput(kind="registry", uri=catalog)
    local = config.model == "demo" or is_azure_id(config.model) or bool(lab and lab.local_model(config.model))
    return JobInput(kind="upload", path=paths.input_model) if local else None


def plan_job(
    name: str, config: LabConfig, paths: StepPaths, *, cluster: str, run_id: str, branch: str,
    model: JobInput | None, has_eval: bool, env: list[EnvVar],
) -> JobPlan:  # fmt: skip
    inputs = {"code": JobInput(kind="code"), "data": JobInput(kind="upload", path=paths.data_dir)}
    if model is not None:
        inputs["model"] = model
    argv = spec(name).build(remote_config(config), job_paths(paths, model_input=model is not None), has_eval)
    return JobPlan(
        name=job_name(run_id, name, branch),
        display_name=f"{name} ({run_id}{', ' + branch if branch else ''})",
        experiment=config.azure.experiment,
        compute=cluster,
        command=job_command(name, config, argv),
        image=config.azure.image,
        environment=job_environment(config.azure.image),
        inputs=inputs,
        outputs={"output": output_uri(run_id, name, branch)},
        environment_variables={e.name: e.value for e in env if e.value is not None},
        withheld=[e.name for e in env if e.value is None],
        tags=tags(run_id, name, branch),
    )


def plan_steps(
    config: LabConfig,
    lab: LabPaths | None,
    names: Sequence[str],
    *,
    run_id: str = RUN_ID,
    run: str = commands.RUN,
    branch: str = "",
    shared: Sequence[str] = (),
    model: str | None = None,
    has_eval: bool | None = None,
    before: Sequence[PlanStep] = (),
    as_written: bool = False,
) -> list[PlanStep]:
    """The plan of steps `names` of one run folder (`run`); `shared` are a sweep's steps, whose outputs are
    the sweep's (not this branch's); `before` are steps planned already whose outputs these may read.
    `as_written`: the lab's paths as its settings write them (the Steps screen: the same in any lab folder)."""
    held_out = config.dataset.eval_share > 0 if has_eval is None else has_eval
    planned = {p.step: p for p in before}
    out = []
    for name in names:
        sp = spec(name)
        paths = step_paths(name, config, run=run, model=model, lab=None if as_written else lab)
        cluster = remote_cluster(name, config)
        env = step_env(config, name)
        mine = "" if name in shared else branch
        item = PlanStep(
            step=name,
            branch=mine,
            cluster=cluster,
            paths=paths,
            env=env,
            reuse=ReuseRecipe(
                settings=sp.reuse_settings(config), input=input_step(name, config) or "model", data=sp.data
            ),
            conclusion=Conclusion(
                outputs=list(sp.outputs),
                checks=[sp.check_note] if sp.check_note else [],
                then=[sp.finish_note] if sp.finish_note else [],
            ),
        )
        if not sp.enabled(config):
            item.off = sp.optional_note
        elif cluster is None:
            item.argv = sp.build(config, paths, held_out)
        else:
            found = model_input(name, config, lab, paths, planned)
            item.job = plan_job(name, config, paths, cluster=cluster, run_id=run_id, branch=mine, model=found,
                                has_eval=held_out, env=env)  # fmt: skip
        planned[name] = item
        out.append(item)
    return out


def run_plan(
    config: LabConfig,
    lab: LabPaths | None,
    *,
    forced: Sequence[str] = (),
    grid: Sequence[GridBranch] = (),
    run_id: str = RUN_ID,
    run: str = commands.RUN,
    as_written: bool = False,
) -> Plan:
    """The plan of a run about to start: its steps (prepare and the chosen ones when steps are chosen: the
    others are reused or skipped), or a sweep's shared steps then each branch's own (in its run folder)."""
    if not grid:
        names = [s for s in run_steps(config) if not forced or s == "prepare" or s in forced]
        return Plan(run_id=run_id, steps=plan_steps(config, lab, names, run_id=run_id, run=run, as_written=as_written))
    shared = shared_steps(",".join(grid[0].values))
    steps = plan_steps(config, lab, shared, run_id=run_id, run=run, as_written=as_written)
    for branch in grid:
        mine = with_values(config, branch.values)
        found = plan_steps(
            mine,
            lab,
            branch_steps(mine),
            run_id=run_id,
            run=f"{run}/{BRANCHES}/{branch.label}",
            branch=branch.label,
            shared=shared,
            before=steps[: len(shared)],
            as_written=as_written,
        )
        steps += [p for p in found if p.step not in shared]
    return Plan(run_id=run_id, steps=steps)
