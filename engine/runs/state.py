"""A run's folder is the source of truth: its state file, events file and step logs.

The supervisor is the only writer. The app and the CLI only read, so they can attach, detach and reattach at
any moment. Layout of `runs/<id>/`:

    state.json        RunState, replaced atomically on every change
    events.jsonl      typed events, one JSON object per line, append-only (engine.runs.events)
    settings.toml     the settings this run was started with (the lab's profile plus changes)
    supervisor.log    the supervisor's own messages
    data/             train.jsonl and validation.jsonl: the split the steps saw
    <step>/step.log   the step's full output (stdout and stderr, as printed)
    <step>/output/    the step's output model
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from engine.config import LabConfig
from engine.errors import OliveLabError
from engine.fs import NotAFileError, atomic_write_text, read_text_limited
from engine.steps.grid import BRANCHES as BRANCHES
from engine.steps.grid import SWEPT as SWEPT
from engine.steps.grid import GridBranch, read_value
from engine.steps.grid import shared_steps as shared_steps
from engine.steps.plan import Plan

# The status table: every status word, and which of them mean what. A check of a status uses one of these.
StepStatus = Literal["pending", "running", "done", "reused", "failed", "cancelled", "skipped"]
RunStatus = Literal["starting", "running", "done", "failed", "cancelled"]
# What a reader shows: the written status, or `lost` for a run whose supervisor is gone (never written).
SeenStatus = Literal["starting", "running", "done", "failed", "cancelled", "lost"]
ACTIVE_RUN: Final[tuple[SeenStatus, ...]] = ("starting", "running")  # its supervisor is at work
FINISHED_RUN: Final[tuple[RunStatus, ...]] = ("done", "failed", "cancelled")  # the supervisor closed it
ENDED_RUN: Final[tuple[SeenStatus, ...]] = (*FINISHED_RUN, "lost")  # nothing more will happen to it
FINISHED_STEP: Final[tuple[StepStatus, ...]] = ("done", "reused", "failed", "cancelled", "skipped")
SUCCEEDED_STEP: Final[tuple[StepStatus, ...]] = ("done", "reused")  # its output is there for the next step
STOPPED_STEP: Final[tuple[StepStatus, ...]] = ("failed", "cancelled")  # ended without its output: see its reason
UNSTARTED_STEP: Final[tuple[StepStatus, ...]] = ("pending", "skipped")  # it never ran in this run

STATE_FILE = "state.json"
SCHEMA = 2  # 1: settings as an untyped dict with a `_forced_steps` key
SUPERVISOR_START_S = 15.0


class RunFileError(OliveLabError):
    """A run folder's state cannot be read: says which file and why."""


class Progress(BaseModel):
    n: int = 0
    total: int | None = None
    rate: float | None = None  # items per second
    eta_s: float | None = None
    desc: str = ""


class StepGpu(BaseModel):
    peak_vram_mib: float | None = None
    mean_util_pct: float | None = None
    energy_j: float | None = None
    samples: int = 0


class RemoteJob(BaseModel):
    """A step that runs as an Azure ML job: the job is the truth, this is what the poller last saw of it."""

    cluster: str
    job_name: str = ""  # empty until the job is submitted
    studio_url: str | None = None
    status: str = "Uploading"  # Azure ML's own word (Queued, Preparing, Running, Completed, ...) or ours
    status_since: float = Field(default_factory=time.time)  # when `status` last changed
    submitted_at: float | None = None
    running_at: float | None = None  # when the job's command started on a node (its node time counts from here)
    log_offsets: dict[str, int] = Field(default_factory=dict)  # bytes of each job log already in step.log
    output_uri: str = ""  # where the job writes its output (azureml://datastores/.../paths/...)
    vm_size: str | None = None
    nodes: int = 1

    @property
    def waiting(self) -> bool:
        """The job is submitted but not yet running on a node (queued, scaling up, building its image)."""
        return bool(self.job_name) and self.status in WAITING_JOB


# Azure ML job statuses before the command runs, and the ones after which nothing changes.
WAITING_JOB = {"NotStarted": "waiting to start", "Starting": "starting", "Provisioning": "scaling up the cluster",
               "Preparing": "building the image and preparing the node", "Queued": "queued for a node"}  # fmt: skip
FINISHED_JOB = ("Completed", "Failed", "Canceled", "NotResponding", "Paused")  # the SDK's terminal statuses


class StepState(BaseModel):
    name: str
    status: StepStatus = "pending"
    command: list[str] = Field(default_factory=list)
    started_at: float | None = None
    ended_at: float | None = None
    pid: int | None = None
    exit_code: int | None = None
    key: str | None = None
    reused_from: str | None = None
    resumed_from: str | None = None  # finetune: "<run>/checkpoint-N", the checkpoint it started from
    checkpoint_key: str | None = None  # finetune: the key its checkpoints belong to (before any resume)
    reason: str | None = None
    output: str | None = None
    current_pass: str | None = None
    progress: Progress | None = None
    last_loss: float | None = None
    last_eval_loss: float | None = None
    log_lines: int = 0
    last_output_at: float | None = None
    gpu: StepGpu = Field(default_factory=StepGpu)
    remote: RemoteJob | None = None

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at


def branch_dir(run_dir: Path, label: str) -> Path:
    return run_dir / BRANCHES / label


def sweep_of(run_dir: Path) -> Path | None:
    """The sweep whose branch `run_dir` is (runs/<id>/branches/<label>), or None for a run of its own."""
    sweep = run_dir.parent.parent
    return sweep if run_dir.parent.name == BRANCHES and (sweep / STATE_FILE).is_file() else None


class Sweep(BaseModel):
    """A run that branches after quantize: one finetune (and its optimize) per value of one setting."""

    setting: str  # "finetune.lora_r"
    values: list[str]
    branches: list[str]  # labels, in order ("lora_r-8"); each branch's run folder is branches/<label>/
    golden_limit: int = 8  # held-back examples the golden check answers per branch
    grid: list[GridBranch] = Field(default_factory=list)  # each branch's typed values (engine.steps.grid)

    @model_validator(mode="after")
    def _grid_of_older_runs(self) -> Sweep:
        """A sweep recorded before its grid was: its values read as `--set` reads them."""
        if not self.grid:
            names = self.setting.split(",")
            self.grid = [
                GridBranch(
                    label=label,
                    text=text,
                    values={
                        n: read_value(v)
                        for n, v in zip(names, text.split(",") if len(names) > 1 else [text], strict=False)
                    },
                )
                for label, text in zip(self.branches, self.values, strict=False)
            ]
        return self


class RunState(BaseModel):
    schema_version: int = SCHEMA
    id: str
    lab: str
    profile: str
    status: RunStatus = "starting"
    created_at: float = Field(default_factory=time.time)
    started_at: float | None = None
    ended_at: float | None = None
    supervisor_pid: int | None = None
    warden_pid: int | None = None  # the supervisor's waiting parent, which records how it ended
    alive_at: float | None = None  # the supervisor's last sign of life
    reason: str | None = None
    cancel_requested: bool = False
    steps: list[StepState] = Field(default_factory=list)
    config: LabConfig  # the settings the run started with (secret environment values masked)
    forced_steps: list[str] = Field(default_factory=list)  # chosen by --steps / --from: run, never reuse
    resume: bool = False  # finetune starts from the last checkpoint of a stopped run with the same key
    warnings: list[str] = Field(default_factory=list)
    sweep: Sweep | None = None
    branch: str = ""  # a sweep's branch: its label (the branch's run folder is under the sweep's)
    devices: str | None = None  # a local sweep's branch: the CUDA_VISIBLE_DEVICES it ran with
    poller_gone: str | None = None  # the poller of a remote step stopped (why); the job goes on in Azure
    plan: Plan | None = None  # what the supervisor runs: each step's command or job (engine.steps.plan)

    def in_azure(self) -> bool:
        """Work of this run goes on in Azure ML without needing this machine: a remote step's job, or a sweep
        whose own steps are done and whose branches run as jobs. Its poller can die and be resumed."""
        if self.finished:
            return False
        if self.remote_step() is not None:
            return True
        remote_branches = any(str(getattr(self.config.step(s), "run_on", "")).startswith("azureml:") for s in SWEPT)
        return self.sweep is not None and remote_branches and all(s.status in FINISHED_STEP for s in self.steps)

    def remote_step(self) -> StepState | None:
        """The step whose Azure ML job is still going (and so whose poller can be resumed), if any."""
        for step in self.steps:
            if step.status == "running" and step.remote is not None and step.remote.status not in FINISHED_JOB:
                return step
        return None

    def step(self, name: str) -> StepState:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_RUN

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at


FAULT_ENV = "OLIVE_LAB_FAULT_ENOSPC_AT"  # fault injection for tests and the benchmark: "state:N"
_writes: dict[Path, int] = {}  # state writes of this process, per run folder (the Nth one fails)


def write_state(run_dir: Path, state: RunState) -> None:
    """Replace state.json atomically so a reader never sees half a file (the previous one stays on failure)."""
    _writes[run_dir] = _writes.get(run_dir, 0) + 1
    fault = os.environ.get(FAULT_ENV, "")
    if fault.startswith("state:") and _writes[run_dir] == int(fault.split(":", 1)[1]):
        import errno

        raise OSError(errno.ENOSPC, "No space left on device (injected)", str(run_dir / STATE_FILE))
    atomic_write_text(run_dir / STATE_FILE, state.model_dump_json(indent=1), private=True)


def _upgrade(raw: dict[str, Any]) -> dict[str, Any]:
    """A state written by an earlier version, in today's shape."""
    if "config" not in raw and isinstance(raw.get("settings"), dict):
        settings = dict(raw.pop("settings"))
        raw["forced_steps"] = settings.pop("_forced_steps", None) or []
        raw["config"] = {k: v for k, v in settings.items() if not k.startswith("_")}
        raw["schema_version"] = SCHEMA
    return raw


def read_state(run_dir: Path) -> RunState:
    """The run's state; RunFileError (with the file and the reason) when it is missing or damaged."""
    import json

    path = run_dir / STATE_FILE
    try:
        text = read_text_limited(path)
    except FileNotFoundError:
        raise RunFileError(f"{path}: missing", "the run folder is damaged; `olive-lab runs rm` removes it") from None
    except NotAFileError as exc:
        raise RunFileError(f"{path}: {exc.what}", "the run folder is damaged; `olive-lab runs rm` removes it") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunFileError(f"{path}: cannot be read ({exc})") from None
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise RunFileError(
            f"{path}: damaged ({exc})", "the run folder is damaged; `olive-lab runs rm` removes it"
        ) from None
    if not isinstance(raw, dict):
        raise RunFileError(f"{path}: not a run state")
    version = raw.get("schema_version", 1)
    if isinstance(version, int) and version > SCHEMA:
        raise RunFileError(
            f"{path}: written by a newer olive-lab (run format {version}; this one reads up to {SCHEMA})",
            "upgrade olive-lab to read this run",
        )
    try:
        return RunState.model_validate(_upgrade(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RunFileError(
            f"{path}: this version cannot read it ({where}: {first['msg']})",
            "the run was written by another version of olive-lab",
        ) from None


def step_log_path(run_dir: Path, step: str) -> Path:
    return run_dir / step / "step.log"


@dataclass(frozen=True)
class RunEntry:
    """One folder under runs/: its state, or why it cannot be read."""

    dir: Path
    state: RunState | None
    problem: str | None = None

    @property
    def id(self) -> str:
        return self.dir.name


def iter_runs(runs_root: Path) -> Iterator[RunEntry]:
    """Every run folder, newest first; an unreadable one is listed with its problem, never hiding the others.
    A symbolic link is never followed: it is listed as a problem."""
    try:
        children = list(runs_root.iterdir())
    except OSError:
        return
    for run_dir in sorted(children, key=lambda p: p.name, reverse=True):
        if run_dir.name.startswith("."):
            continue
        if run_dir.is_symlink():
            yield RunEntry(run_dir, None, f"{run_dir} is a symbolic link, not a run folder")
            continue
        if not run_dir.is_dir():
            continue
        try:
            state = read_state(run_dir)
            if state.id != run_dir.name:  # a copied or renamed folder: it is known by its folder's name
                state = state.model_copy(update={"id": run_dir.name})
            yield RunEntry(run_dir, state)
        except RunFileError as exc:
            yield RunEntry(run_dir, None, exc.message)


def close_steps(state: RunState, status: RunStatus, reason: str | None, ended_at: float) -> None:
    """The one way a run's rows are closed, by its supervisor, its waiting parent, or a reader's view of a run
    whose supervisor is gone: the step that was running ends `failed` (or `cancelled`) with the reason, the
    steps to come are `skipped` ("not run"), and every step that started has an end time."""
    for step in state.steps:
        if step.status == "running":
            step.status = "cancelled" if status == "cancelled" else "failed"
            step.reason = step.reason or reason
        elif step.status == "pending":
            step.status = "skipped"
            step.reason = step.reason or (f"not run: {reason}" if reason and status != "done" else None)
        if step.started_at is not None and step.ended_at is None:
            step.ended_at = max(ended_at, step.started_at)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is not alive
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def supervisor_alive(state: RunState) -> bool:
    return pid_alive(state.supervisor_pid) or pid_alive(state.warden_pid)


def effective_status(state: RunState) -> SeenStatus:
    """The status a reader should show: a run whose supervisor (and its waiting parent) are gone is `lost`."""
    if not state.finished and state.supervisor_pid and not supervisor_alive(state):
        # A remote step goes on in Azure without its poller, which the next olive-lab command resumes
        return "running" if state.in_azure() else "lost"
    if state.status == "starting" and not state.supervisor_pid and time.time() - state.created_at > SUPERVISOR_START_S:
        return "lost"  # its supervisor never came up
    return state.status


def last_sign_of_life(run_dir: Path, state: RunState) -> float:
    """When a lost run's supervisor was last seen at work (the newest of its heartbeat and its files)."""
    times = [state.alive_at or 0.0, state.started_at or state.created_at]
    for name in (STATE_FILE, "events.jsonl"):
        try:
            times.append((run_dir / name).stat().st_mtime)
        except OSError:
            pass
    return max(times)


def lost_reason(run_dir: Path, state: RunState) -> str:
    return (
        "supervisor gone (last sign of life at "
        + time.strftime("%H:%M:%S", time.localtime(last_sign_of_life(run_dir, state)))
        + ")"
    )
