"""Starting a run's supervisor, from the side of whoever starts it (the command line, the app, a sweep's own
supervisor starting a branch, a command resuming a remote run's poller).

The starter writes nothing into the run folder: it hands the supervisor a start request (the run's first state,
its secret step variables, the hard links it shares with another run) through a pipe, and reads one answer
line back: the supervisor has taken the run (its folder exists, with its state), another supervisor already
follows it, or why it could not start. The supervisor makes the folder itself (`engine.runs.supervisor_start`),
all at once, so a start interrupted at any moment leaves either no run at all or a run with its supervisor.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from pydantic import BaseModel, Field

from engine.config import STEP_SECTIONS, LabConfig
from engine.errors import OliveLabError
from engine.paths import PROJECT_ROOT, LabPaths
from engine.redact import mask_env, secret_env
from engine.runs.state import RunState, StepState
from engine.steps.spec import STEP_NAMES, run_steps

LOCK_FD_ENV = "OLIVE_LAB_LOCK_FD"
START_TIMEOUT_S = 60.0  # the supervisor's interpreter and imports, on a busy machine


class SupervisorStartError(OliveLabError):
    """The run's supervisor could not take the run, and why."""


class StartRequest(BaseModel):
    """What a new run's supervisor needs to make its folder: nothing of it is on disk before it does."""

    state: RunState  # the first state (secrets masked); settings.toml is written from its settings
    secrets: dict[str, dict[str, str]] = Field(default_factory=dict)  # step -> secret variables, never written
    links: list[tuple[str, str]] = Field(default_factory=list)  # (existing folder, path in the run): hard links


def masked_config(config: LabConfig) -> tuple[LabConfig, dict[str, dict[str, str]]]:
    """The settings as they may be written down (secret step variables masked) and the secrets themselves."""
    data = config.model_dump()
    hidden: dict[str, dict[str, str]] = {}
    for name in STEP_NAMES:
        section = data.get(STEP_SECTIONS.get(name, name))
        if isinstance(section, dict) and isinstance(section.get("env"), dict):
            found = secret_env(section["env"])
            if found:
                hidden[name] = found
                section["env"] = mask_env(section["env"])
    return LabConfig.model_validate(data), hidden


def first_state(
    lab: LabPaths, run_id: str, config: LabConfig, forced: Sequence[str] = (), only: Sequence[str] | None = None
) -> StartRequest:
    """A new run's start request: its first state (settings with secrets masked, its steps) and its secrets."""
    shown, hidden = masked_config(config)
    state = RunState(
        id=run_id,
        lab=str(lab.root),
        profile=config.profile,
        config=shown,
        forced_steps=list(forced),
        steps=[StepState(name=name) for name in (only or run_steps(config))],
    )
    return StartRequest(state=state, secrets=hidden)


def launch_supervisor(
    lab: LabPaths,
    run_dir: Path,
    request: StartRequest | None = None,
    *,
    extra_env: dict[str, str] | None = None,
    lock_fd: int | None = None,
    timeout: float = START_TIMEOUT_S,
) -> bool:
    """Start the run's detached supervisor and wait until it has taken the run: True, or False when another
    supervisor already follows it. Without a request the supervisor takes over the run folder there is."""
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
        **(extra_env or {}),
    )
    pass_fds: tuple[int, ...] = ()
    if lock_fd is not None:
        env[LOCK_FD_ENV] = str(lock_fd)
        pass_fds = (lock_fd,)
    argv = [sys.executable, "-m", "engine.runs.supervisor", "--daemonize", str(run_dir)]
    launcher = subprocess.Popen(
        [*argv, "--new"] if request is not None else argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=str(lab.root),
        env=env,
        start_new_session=True,  # neither a ctrl-c nor the starter's death reaches it
        pass_fds=pass_fds,
    )
    assert launcher.stdin is not None and launcher.stdout is not None
    try:
        if request is not None:
            launcher.stdin.write(request.model_dump_json().encode())
        launcher.stdin.close()
        answer, said = _answer(launcher.stdout, timeout)
    finally:
        launcher.stdout.close()
        launcher.wait(timeout=30)
    if "error" in answer:
        if answer.get("errno"):
            raise OSError(int(str(answer["errno"])), str(answer["error"]), answer.get("filename"))
        raise SupervisorStartError(f"the run's supervisor could not start: {answer['error']}")
    if "started" in answer:
        return True
    if answer.get("busy"):
        return False
    last = said.strip().splitlines()[-1] if said.strip() else "no message"
    raise SupervisorStartError(f"the run's supervisor did not start ({last})")


def _answer(stream: IO[bytes], timeout: float) -> tuple[dict[str, object], str]:
    """The supervisor's answer line (a JSON object), and whatever else it printed before it (a traceback)."""
    deadline = time.monotonic() + timeout
    said = b""
    fd = stream.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break  # every end closed: the supervisor died or left without a word
        said += chunk
        for line in said.splitlines():
            if line.startswith(b"{"):
                try:
                    found = json.loads(line)
                except ValueError:
                    continue
                if isinstance(found, dict):
                    return found, said.decode(errors="replace")
    return {}, said.decode(errors="replace")
