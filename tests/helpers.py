"""Helpers the tests share (fixtures live in conftest.py): a test module never imports another test module."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psutil

from engine.azure.jobenv import BUILDER_OLIVE
from engine.config import LabConfig, load_config
from engine.doctor import Check
from engine.paths import LabPaths
from engine.runs.control import start_run
from engine.runs.launch import first_state
from engine.runs.state import RemoteJob, RunState, StepState
from engine.runs.supervisor_start import fill_run_folder
from tests.azure_helpers import RG, SUB, WS
from tests.conftest import FAKE_OLIVE, ROOT

LOGS = ROOT / "tests" / "data" / "logs"  # Olive's and olive-lab's recorded step logs
POLL = {"OLIVE_LAB_AZURE_POLL_S": "0.2"}  # the Azure poller's interval in tests


def remote_of(step: StepState) -> RemoteJob:
    """The job of a step that ran (or runs) on Azure ML."""
    assert step.remote is not None, f"{step.name} has no job"
    return step.remote


def new_run_folder(
    lab: LabPaths, run_dir: Path, config: LabConfig, forced: Sequence[str] = (), only: Sequence[str] | None = None
) -> tuple[RunState, dict[str, dict[str, str]]]:
    """A run folder as a start writes it (its settings.toml and first state, secrets masked), naming no
    supervisor, in `run_dir` (which may hold files already); its state and its secrets."""
    request = first_state(lab, run_dir.name, config, list(forced), only)
    fill_run_folder(run_dir, request)
    return request.state, request.secrets


def only_run(lab: Path) -> Path:
    runs = sorted((lab / "runs").iterdir())
    return runs[-1]


def as_run(planned: Any, run: Path) -> Any:
    """A dry run's plan (its JSON) with its placeholders (`runs/<id>`, `<id>`) as the run that started names
    them (a job's datastore paths, `olive-lab/runs/<id>/...`, take the id only)."""
    text = re.sub(r"(?<!olive-lab/)runs/<id>", str(run), json.dumps(planned)).replace("<id>", run.name)
    return json.loads(text)


def fake_lab(demo_lab: Path, tmp_path: Path) -> Path:
    lab = tmp_path / "lab"
    lab.mkdir()
    # Quantize and evaluate run real programs (AWQ, the frameworks); off where a test is about Olive's steps only.
    (lab / "lab.toml").write_text('profile = "demo"\n[quantize]\nenabled = false\n[evaluate]\nenabled = false\n')
    return lab


def fixed_checks(lab: LabPaths, config: LabConfig) -> list[Check]:
    return [
        Check("python", "ok", "Python 3.11"),
        Check("disk", "fail", "2 GiB free in the lab folder", "free at least 10 GiB, e.g. remove old runs"),
    ]


def remote_lab(tmp_path: Path, cloud, *, olive: str = "fake", quantize: bool = False, extra: str = "") -> Path:
    """A demo lab whose workspace is the fake one (named by a studio config.json, as the studio downloads it);
    the node's `olive` is the recorded-output stand-in (run by the job environment's python), or the job
    environment's own."""
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "config.json").write_text(json.dumps({"subscription_id": SUB, "resource_group": RG, "workspace_name": WS}))
    (lab / "lab.toml").write_text(
        f'profile = "demo"\n[quantize]\nenabled = {str(quantize).lower()}\n[evaluate]\nenabled = false\n{extra}'
    )
    shims = tmp_path / "node-bin"
    shims.mkdir()
    if olive == "fake":  # run by the job environment's own python; the real ones are the environment's
        for name in ("olive", BUILDER_OLIVE):  # the app's olive, and the ONNX builder's (the optimize step's)
            (shims / name).write_text(f'#!/bin/sh\nexec python {FAKE_OLIVE} "$@"\n')
            (shims / name).chmod(0o755)
    cloud.configure(path_prepend=str(shims))
    return lab


def wait_until(check, timeout: float = 90, what: str = "condition") -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not met in {timeout} s")


def fake_olive_alive() -> list[psutil.Process]:
    """The fake `olive` processes alive that this test worker's runs started (another worker's runs, under
    pytest-xdist, are not this test's: their processes carry another PYTEST_XDIST_WORKER)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            if str(FAKE_OLIVE) not in " ".join(proc.info["cmdline"] or []) or proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if worker is None or proc.environ().get("PYTEST_XDIST_WORKER") == worker:
                found.append(proc)
        except psutil.Error:
            continue
    return found


def start(lab: Path, **kwargs) -> Path:
    labp = LabPaths.at(lab)
    run_id = start_run(labp, load_config(labp), **kwargs)
    return labp.run_dir(run_id)


def full_render_prompt(render, encode, system: str, history, prompt: str, context: int, max_length: int):
    """A turn's prompt as the chat prepared it before engine.chat.prompt: the whole conversation templated and
    encoded again for each number of oldest turns left out, until it fits: (ids, answer budget, turns left out),
    or None when not even the prompt alone leaves room. The reference its replacement must equal."""
    head = [{"role": "system", "content": system}] if system.strip() else []
    tail = [{"role": "user", "content": prompt}]
    reserve = min(max_length, max(1, context // 4))
    for skip in range(len(history) + 1):
        turns = [
            m
            for user, assistant in history[skip:]
            for m in ({"role": "user", "content": user}, {"role": "assistant", "content": assistant})
        ]
        ids = encode(render(head + turns + tail))
        if len(ids) + reserve <= context:
            return list(ids), min(max_length, context - len(ids)), skip
    if len(ids) < context:
        return list(ids), context - len(ids), len(history)
    return None
