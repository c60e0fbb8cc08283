"""What a run would do on Azure ML, step by step, without starting it or contacting Azure (`--dry-run`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.steps.spec import input_step, remote_cluster


def planned(lab: Any, config: Any, steps: list[str] | None = None, sweep: Any = None) -> list[dict[str, Any]]:
    """What a run would do, step by step, without starting it or contacting Azure (`--dry-run`): the
    command of each step on this machine, the job spec of each step on Azure ML."""
    import json

    from engine.azure.jobs import build_spec, output_uri
    from engine.redact import mask_env
    from engine.runs.control import selected_steps
    from engine.steps.spec import STEP_NAMES, command_line, run_steps, step_paths

    forced = selected_steps(steps)
    names = [s for s in run_steps(config) if not forced or s == "prepare" or STEP_NAMES.index(s) >= STEP_NAMES.index(forced[0])]
    branches: list[tuple[str, Any]] = [("", config)]
    branch_names: list[str] = []
    if sweep is not None:
        from engine.runs.state import shared_steps
        from engine.runs.sweep import branch_configs, branch_steps

        names = list(shared_steps(sweep.setting))
        branch_names = [s for s in branch_steps(config) if s not in names]
        branches += branch_configs(config, sweep.setting, sweep.values)
    out: list[dict[str, Any]] = []
    for branch, cfg in branches:
        for name in names if not branch else branch_names:
            cluster = remote_cluster(name, cfg)
            paths = step_paths(name, cfg, lab=lab)
            if cluster is None:
                out.append({"step": name, "branch": branch, "where": "this machine",
                            "command": command_line(name, cfg, paths)})  # fmt: skip
                continue
            previous = input_step(name, cfg)
            inputs = {"code": "olive-lab's engine/ sources (uploaded when the job is submitted)",
                      "data": "the run's data/ folder (uploaded when the job is submitted)"}  # fmt: skip
            base = ""
            if previous and remote_cluster(previous, cfg if previous != "quantize" else config):
                inputs["model"] = output_uri("RUNID", previous, "" if previous == "quantize" else branch)
            elif not previous and cfg.model.startswith("azureml://registries/"):
                inputs["model"] = cfg.model  # read by the job from the registry: nothing is uploaded
            elif previous or Path(paths.input_model).is_dir():
                inputs["model"] = f"{paths.input_model} (uploaded when the job is submitted)"
            else:
                base = paths.input_model
            spec = build_spec(cfg, name, run_id="RUNID", cluster=cluster, inputs=inputs, has_eval=True,
                              base_model=base, branch=branch, env=mask_env(dict(getattr(cfg.step(name), "env", {}))))  # fmt: skip
            job = json.loads(spec.model_dump_json().replace("RUNID", "<run-id>"))
            out.append({"step": name, "branch": branch, "where": f"Azure ML cluster {cluster}", "job": job})
    return out
