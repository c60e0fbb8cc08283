"""A step that runs as an Azure ML job, seen from the supervisor, which is then only its poller.

The job is the truth; the run folder mirrors it like a local step: the job's log is copied into `step.log`
as it grows (from the byte where the last poll stopped, even after the poller was killed and resumed) and
fed to the same parser; Azure's status (Queued, Preparing, Running, ...) and when it last changed are in
the step's `remote` record; on success the job's output is downloaded into the step's `output/` (atomically:
a half download is never an output) and judged like a local step's. Cancel cancels the job.

If the poller cannot go on (the sign-in expired, the network is gone for good) the run is not failed:
`PollerStopped` leaves it running with the reason, and the next olive-lab command that opens the lab
resumes polling (`engine.runs.control.resume_remote`).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.durations import format_duration
from engine.paths import PROJECT_ROOT
from engine.runs import events as ev
from engine.runs import stepproc
from engine.runs.host import LogFeed, StepHost
from engine.runs.state import FINISHED_JOB, SUCCEEDED_STEP, WAITING_JOB, RemoteJob, StepState, step_log_path
from engine.runs.stepproc import Cancelled, PollerStopped
from engine.steps.job_plan import JobPlan
from engine.steps.logparse import stamped
from engine.steps.plan import PlanStep

if TYPE_CHECKING:
    from engine.azure.session import AzureSession

POLL_ENV = "OLIVE_LAB_AZURE_POLL_S"
CANCEL_WAIT_S = 120.0
NETWORK_PATIENCE_S = 600.0  # a connection down (or a service in trouble) this long stops the poller (the job goes on)
MAX_BACKOFF_S = 60.0


def poll_every() -> float:
    return max(0.05, float(os.environ.get(POLL_ENV, "5")))


def code_folder(into: Path) -> Path:
    """olive-lab's engine sources, as the job's `code` input (the quantize program imports them)."""
    root = into / "code"
    for src in (PROJECT_ROOT / "engine").rglob("*.py"):
        dest = root / src.relative_to(PROJECT_ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    return root


class RemoteStep:
    def __init__(self, sup: StepHost, step: StepState, item: PlanStep) -> None:
        assert item.job is not None
        self.sup = sup
        self.step = step
        self.plan: JobPlan = item.job  # what is submitted: the run's plan, as `--dry-run` printed it
        self.paths = item.paths
        self.feed = LogFeed(sup, step)
        self.log_path = step_log_path(sup.run_dir, step.name)
        self.session: AzureSession | None = None
        self.client: Any = None
        self.container_url = ""  # the datastore's container, as the last upload reached it
        self.down_since: float | None = None  # when polling met trouble that has not passed yet
        self.backoff = 0.0

    @property
    def job(self) -> RemoteJob:
        assert self.step.remote is not None
        return self.step.remote

    # -- the log -------------------------------------------------------------------------------------
    def note(self, text: str) -> None:
        """A line of ours in the step's log (the monitor shows it among the job's own lines)."""
        with open(self.log_path, "ab") as log:
            log.write(f"{stamped(text)}\n".encode())

    def take(self, data: bytes) -> None:
        """New bytes of the job's log: into step.log, through the parser."""
        with open(self.log_path, "ab") as log:
            log.write(data)
        self.feed.feed(data)
        self.feed.progress()

    # -- Azure -----------------------------------------------------------------------------------------
    def connect(self) -> None:
        from engine.azure.jobs import lab_client

        logging.getLogger("azure").setLevel(logging.WARNING)  # the SDK's chatter is not the step's log
        _ref, self.session, self.client = lab_client(
            self.sup.config, self.sup.lab.root, on_device_code=self.device_code
        )

    def device_code(self, code: Any) -> None:
        """A device-code sign-in waits for the user: in the step's log and as an event the screens show."""
        self.note(code.sentence())
        self.sup.event(ev.SignInCode(step=self.step.name, **code.event_fields()))

    def upload(self, folder: Path, what: str) -> str:
        """A local folder onto the workspace's datastore (content-addressed: unchanged files are not sent)."""
        from engine.azure.datastore import workspace_container
        from engine.azure.upload import scan_folder, upload_folder

        assert self.session is not None
        manifest = scan_folder(folder)
        self.note(f"uploading {what}: {len(manifest.files)} files, {manifest.total_bytes / 2**20:.1f} MiB")
        container = workspace_container(
            self.client, self.session.credential, account_url=self.session.blob_account_url, **self.session.blob_kwargs
        )
        with container:
            result = upload_folder(manifest, container, cancel=self.sup.cancel_event)
            self.container_url = str(container.url)
        if result.skipped_files:
            self.note(f"{what}: {result.skipped_files} files already there, not sent again")
        return result.datastore_uri

    def inputs(self) -> dict[str, str]:
        """The datastore URI of each input the plan says is uploaded, or an earlier job's output where it is
        (a step reused from a run on this machine is uploaded from its output folder instead)."""
        uris: dict[str, str] = {}
        for name, given in self.plan.inputs.items():
            if given.kind == "code":
                with tempfile.TemporaryDirectory(prefix="olive-lab-code-") as tmp:
                    uris[name] = self.upload(code_folder(Path(tmp)), "olive-lab's code")
                continue
            if given.kind == "job_output":
                before = next((s for s in self.sup.state.steps if s.name == given.step), None)
                if (
                    before is not None
                    and before.remote is not None
                    and before.remote.output_uri
                    and before.status in SUCCEEDED_STEP
                ):
                    uris[name] = before.remote.output_uri  # the previous job's output, used where it is
                    continue
            if given.kind in ("upload", "job_output"):
                what = "the training data" if name == "data" else f"the input {name} ({given.path})"
                uris[name] = self.upload(Path(given.path), what)
        return uris

    def submit(self) -> None:
        from engine.azure.jobenv import context_url
        from engine.azure.jobs import submit

        sup, step = self.sup, self.step
        uris = self.inputs()
        if self.plan.withheld:
            self.note(f"secret variables ({', '.join(sorted(self.plan.withheld))}) are not sent to the job; "
                      "keep them in the workspace's key vault")  # fmt: skip
        spec = self.plan.spec(uris)
        with tempfile.TemporaryDirectory(prefix="olive-lab-env-") as tmp:
            uri = self.upload(spec.environment.write(Path(tmp) / "environment"), "the job's environment (Dockerfile)")
        context = context_url(self.container_url, uri)
        self.note(
            f"submitting job {spec.name} to compute cluster {spec.compute} ({spec.image}, environment "
            f"{spec.environment.digest[:12]}: built once while its Dockerfile and requirements stay the same)"
        )
        name, studio = submit(self.client, spec, context)
        self.job.job_name, self.job.studio_url, self.job.output_uri = name, studio, spec.outputs["output"]
        self.job.submitted_at = time.time()
        self.job.vm_size = self.job.vm_size or self.cluster_size()
        self.set_status("NotStarted")
        self.note(f"job {name} submitted" + (f": {studio}" if studio else ""))
        sup.event(ev.StepStarted(step=step.name, command=step.command, pid=0))

    def cluster_size(self) -> str | None:
        """The cluster's VM size, for the monitor ("Azure ML · <size> × 1 node"): a nicety, never a failure."""
        try:
            return str(getattr(self.client.compute.get(self.job.cluster), "size", "") or "") or None
        except Exception:
            return None

    def set_status(self, status: str) -> None:
        if status != self.job.status:
            waited = time.time() - self.job.status_since
            self.job.status, self.job.status_since = status, time.time()
            if status == "Running" and self.job.running_at is None:
                self.job.running_at = self.job.status_since
            word = WAITING_JOB.get(status, status)
            self.note(f"Azure ML job {self.job.job_name}: {status} ({word}) after {format_duration(waited)}")
            self.sup.save()

    # -- the poll loop ---------------------------------------------------------------------------------
    def run(self) -> None:
        """Submit (unless a resumed poller finds the job submitted), follow until the job ends, conclude."""
        sup, step = self.sup, self.step
        step.status = "running"
        step.started_at = step.started_at or time.time()
        step.output = self.paths.output
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        resumed = bool(self.job.job_name)
        if not resumed:
            with open(self.log_path, "ab") as log:
                log.write(f"$ (Azure ML job on {self.job.cluster}) {step.name}\n".encode())
        sup.save()
        self.call(self.connect)
        if resumed:
            sup.state.poller_gone = None
            self.note(f"polling job {self.job.job_name} again, from byte {sum(self.job.log_offsets.values())}")
        else:
            self.call(self.submit)
        snapshot = self.follow()
        self.finish(snapshot)

    def call(self, fn: Any) -> Any:
        """Run an Azure call; a sign-in that is gone stops the poller (the job, if any, goes on); trouble that
        passes (the network, 429, 5xx) is raised for the poll loop to wait out; anything else fails the step,
        and its job is cancelled (or said to be still running, with its link)."""
        from engine.azure.errors import AzureError, NotSignedIn, transient
        from engine.azure.errors import Cancelled as AzureCancelled

        try:
            return fn()
        except AzureCancelled:  # a transfer stopped by the run's cancel
            raise Cancelled from None
        except NotSignedIn as exc:
            if self.job.job_name:
                raise PollerStopped(f"{exc.message} ({exc.hint}); the job goes on in Azure") from None
            raise stepproc.StepFailed(f"{self.step.name}: {exc.full()}") from None
        except AzureError as exc:
            if self.job.job_name and transient(exc):
                raise
            raise stepproc.StepFailed(f"{self.step.name}: {exc.full()}{self.abandon()}") from None

    def abandon(self) -> str:
        """The job of a step that failed on our side: cancelled, or, if that fails, said to be still running."""
        from engine.azure.jobs import cancel

        if not self.job.job_name or self.job.status in FINISHED_JOB:
            return ""
        try:
            cancel(self.client, self.job.job_name)
            self.set_status("CancelRequested")
            return f"; its job {self.job.job_name} was cancelled"
        except Exception:
            where = self.job.studio_url or f"job {self.job.job_name} in the workspace"
            return f"; its job {self.job.job_name} may still be running (and billing): {where}"

    def trouble(self, exc: Any) -> float:
        """Passing trouble while polling: how long to wait before the next poll (doubling up to a minute); said
        once in the step's log and on the monitor. Trouble that lasts stops the poller (the job goes on)."""
        now = time.time()
        first = self.down_since is None
        if first:
            self.down_since, self.backoff = now, poll_every()
        else:
            self.backoff = min(MAX_BACKOFF_S, self.backoff * 2)
        if now - (self.down_since or now) > NETWORK_PATIENCE_S:
            raise PollerStopped(f"{exc.message}; the job goes on in Azure") from None
        if first:
            said = "no answer" if exc.status is None else f"HTTP {exc.status}"
            text = (
                f"Azure: {said} while following job {self.job.job_name} ({exc.message}); "
                "trying again, waiting longer each time"
            )
            self.note(text)
            self.sup.event(ev.Warning_(step=self.step.name, message=text))
        return self.backoff

    def follow(self) -> Any:
        from engine.azure.errors import AzureError
        from engine.azure.jobs import cancel, poll

        cancel_sent: float | None = None
        while True:
            if self.sup.cancelling() and cancel_sent is None:
                self.note(f"cancelling job {self.job.job_name}")
                self.call(lambda: cancel(self.client, self.job.job_name))
                cancel_sent = time.time()
            try:
                snapshot = self.call(lambda: poll(self.client, self.job.job_name, with_job=not self.job.studio_url))
                self.read_logs(snapshot.log_files, final=snapshot.status in FINISHED_JOB)
            except AzureError as exc:  # passing trouble (a log link that expired too): wait and poll again
                (time.sleep if cancel_sent else self.sup.pause)(self.trouble(exc))  # a cancel is seen at once
                continue
            if self.down_since is not None:
                self.note(f"Azure answered again after {format_duration(time.time() - self.down_since)}")
                self.down_since = None
            self.job.studio_url = snapshot.studio_url or self.job.studio_url
            self.set_status(snapshot.status)
            if snapshot.status in FINISHED_JOB:
                return snapshot
            if cancel_sent is not None and time.time() - cancel_sent > CANCEL_WAIT_S:
                return snapshot
            self.sup.save(force=False)
            (time.sleep if cancel_sent else self.sup.pause)(poll_every())

    def read_logs(self, files: dict[str, str], final: bool = False) -> None:
        """The job's log from where step.log has it, whole lines only until the job has ended (our notes go
        between lines, and a resumed poller starts at a line)."""
        from engine.azure.jobs import main_log, read_log

        name = main_log(files)
        if name is None:
            return
        assert self.session is not None
        offset = self.job.log_offsets.get(name, 0)
        data = read_log(files[name], offset, **self.session.blob_kwargs)
        if not final:
            data = data[: data.rfind(b"\n") + 1]
        if data:
            self.job.log_offsets[name] = offset + len(data)
            self.take(data)

    def finish(self, snapshot: Any) -> None:
        sup, step = self.sup, self.step
        self.feed.finish()
        step.ended_at = time.time()
        if sup.cancel_requested:
            step.status, step.reason = "cancelled", "cancelled by the user"
            self.note(f"job {self.job.job_name}: {snapshot.status}")
            sup.save()
            sup.event(
                ev.StepFinished(step=step.name, status="cancelled", reason=step.reason, duration_s=step.duration_s)
            )
            raise Cancelled
        why = None
        if snapshot.status == "Completed":
            why = self.download()
        elif snapshot.status == "Canceled":
            why = f"job {self.job.job_name} was cancelled in Azure ML (not by olive-lab)"
        else:
            why = f"job {self.job.job_name} {snapshot.status.lower()}: {snapshot.error or 'no reason given'}"
            if self.feed.parser.reason:
                why += f" ({self.feed.parser.reason})"
        step.exit_code = 0 if why is None else 1
        sup.conclude(step, self.paths, self.feed.parser, step.exit_code, why)

    def download(self) -> str | None:
        """The job's output into the step's output folder; a reason when it cannot be had."""
        from engine.azure.datastore import workspace_container
        from engine.azure.download import download_prefix
        from engine.azure.errors import AzureError
        from engine.azure.errors import Cancelled as AzureCancelled
        from engine.azure.jobs import datastore_prefix

        assert self.session is not None
        datastore, prefix = datastore_prefix(self.job.output_uri)
        self.note(f"downloading the job's output ({self.job.output_uri})")
        try:
            container = workspace_container(
                self.client,
                self.session.credential,
                datastore,
                account_url=self.session.blob_account_url,
                **self.session.blob_kwargs,
            )
            with container:
                download_prefix(
                    container,
                    prefix,
                    Path(self.paths.output),
                    what=f"the output of job {self.job.job_name}",
                    cancel=self.sup.cancel_event,
                )
        except AzureCancelled:
            raise Cancelled from None
        except AzureError as exc:
            if exc.kind == "asset_not_found":  # it wrote nothing: judged below like a local step that did not
                self.note(f"the job wrote no output at {self.job.output_uri}")
                return None
            return f"the job finished but its output could not be downloaded: {exc.full()}"
        return None


def run_remote(sup: StepHost, step: StepState, item: PlanStep) -> None:
    assert item.cluster is not None
    if step.remote is None:
        step.remote = RemoteJob(cluster=item.cluster)
    RemoteStep(sup, step, item).run()


def describe(job: RemoteJob, now: float | None = None) -> str:
    """The job's status for a person: "queued for a node 3:12", "Running on gpu-a100", ..."""
    waited = (now or time.time()) - job.status_since
    if not job.job_name:
        return f"uploading inputs for {job.cluster}"
    if job.status in WAITING_JOB:
        return f"{WAITING_JOB[job.status]} on {job.cluster} ({format_duration(int(max(0.0, waited)))})"
    return f"{job.status} on {job.cluster}"
