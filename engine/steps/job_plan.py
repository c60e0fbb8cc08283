"""A step that runs as an Azure ML job, as the plan holds it: its name, command, inputs, output and environment.

The job's command is the step table's own command line with the job's inputs and output in place of the run
folder's paths. `JobPlan.spec` turns the plan into the typed `JobSpec` that `engine.azure.jobs.submit` sends:
the only change is each input's datastore URI, known once its folder is uploaded (content-addressed), so
`--dry-run` prints exactly what is submitted, less those upload hashes and the run's id.
"""

from __future__ import annotations

import re
import shlex
from typing import Literal

from pydantic import BaseModel, Field

from engine.azure.jobenv import BUILDER_OLIVE
from engine.azure.jobs import JobFields, JobSpec
from engine.azure.upload import DEFAULT_DATASTORE
from engine.config import LabConfig
from engine.steps.commands import OLIVE_ADAPTER, StepPaths, adapter_file

OUTPUT_ROOT = "olive-lab/runs"
InputKind = Literal["code", "upload", "job_output", "registry"]


class JobInput(BaseModel):
    """One input of a job, and how it gets to the job."""

    kind: InputKind  # code: olive-lab's engine/ sources; upload: a local folder; job_output: an earlier job's
    # output where it is; registry: a registry model the job reads from the registry (nothing is sent)
    path: str = ""  # the local folder uploaded when the job is submitted (job_output: when its job did not run)
    uri: str = ""  # where the job reads it, when known before submission (job_output, registry)
    step: str = ""  # job_output: the step whose job wrote it

    @property
    def shown(self) -> str:
        if self.kind == "code":
            return "olive-lab's engine/ sources (uploaded when the job is submitted)"
        if self.kind == "upload":
            return f"{self.path} (uploaded when the job is submitted)"
        return self.uri


class JobPlan(JobFields[JobInput]):
    """One job, as `--dry-run` prints it and as `spec` hands it to the service: the job's own fields (its inputs
    as the plan knows them) and the step's secret variables, which are never sent."""

    withheld: list[str] = Field(default_factory=list)  # secret variables of the step: never sent to the job

    def spec(self, uris: dict[str, str]) -> JobSpec:
        """The job as submitted: each input at the datastore URI it was uploaded to (`uris`) or at its own."""
        inputs = {name: uris.get(name) or item.uri for name, item in self.inputs.items()}
        missing = [name for name, uri in inputs.items() if not uri]
        if missing:
            raise ValueError(f"job {self.name}: no URI for input {', '.join(missing)}")
        shared = {name: getattr(self, name) for name in JobFields.model_fields if name != "inputs"}
        return JobSpec(**shared, inputs=inputs)


def job_name(run_id: str, step: str, branch: str = "") -> str:
    """A job name unique to the run, step and sweep branch, that Azure ML accepts (run ids are already)."""
    raw = "-".join(p for p in ("olive-lab", run_id, branch, step) if p)
    name = "-".join(p for p in ("olive-lab", run_id) if p)
    return (name + re.sub(r"[^A-Za-z0-9_-]", "-", raw[len(name) :]))[:255]


def output_uri(run_id: str, step: str, branch: str = "") -> str:
    where = "/".join(p for p in (OUTPUT_ROOT, run_id, branch, step, "output") if p)
    return f"azureml://datastores/{DEFAULT_DATASTORE}/paths/{where}/"


def remote_config(config: LabConfig) -> LabConfig:
    """The settings as a job sees them: the programs are the job environment's own (`python`, `olive`, and for the
    step that builds the ONNX model the ONNX builder's, as on a GPU machine here)."""
    data = config.model_dump()
    data["quantize"]["python"] = "python"
    data["finetune"]["olive"] = "olive"
    data["optimize"]["olive"] = BUILDER_OLIVE
    return LabConfig.model_validate(data)


def job_paths(paths: StepPaths, *, model_input: bool) -> StepPaths:
    """A step's paths inside a job: its inputs and output (a hub model is still read by its id)."""
    return StepPaths(
        input_model="${{inputs.model}}" if model_input else paths.input_model,
        data_dir="${{inputs.data}}",
        output="${{outputs.output}}",
    )


def job_command(step: str, config: LabConfig, argv: list[str]) -> str:
    """The job's command line around the step's own `argv` (built with `job_paths`)."""
    # Azure ML puts each folder's path in place of its ${{...}} before the shell reads the line (quotes too)
    line = shlex.join(argv)
    if step == "optimize":  # the adapter named as the lab names it, so the job's output is the run's output
        olive, ours = (shlex.quote(f"${{{{outputs.output}}}}/{n}") for n in (OLIVE_ADAPTER, adapter_file(config)))
        line += f" && if [ -e {olive} ] && [ ! -e {ours} ]; then mv {olive} {ours}; fi"
    return "export PYTHONPATH=${{inputs.code}}${PYTHONPATH:+:$PYTHONPATH} && " + line


def tags(run_id: str, step: str, branch: str) -> dict[str, str]:
    return {"olive-lab.run": run_id, "olive-lab.step": step, **({"olive-lab.branch": branch} if branch else {})}
