"""The compute node of the fake Azure ML job system: `python -m tests.fakes.azure_node <jobs_dir> <job>`,
started detached (its own session) by the fake service when a job is submitted, so that killing the
submitter or the product's poller leaves the job running, as a real cluster would.

It drives the job on disk (`azure_jobstore.JobStore`) in the service's order: NotStarted -> Preparing (the
job's environment is built from its own spec, tests/fakes/azure_image.py: a Docker build context's steps, or a
conda file's pip list; prepare_s at least) -> Queued (queue_s; the cluster has no node for it yet) -> Running
(inputs downloaded from Azurite; the command runs with `bash -c` in its own process group, in the built
environment and nothing of the submitter's Python, `${{inputs.X}}`/`${{outputs.X}}` replaced by local folders,
a whitelisted environment (`azure_image.job_env`) plus the job's environment variables, `path_prepend` first on
PATH, stdout and stderr into
`user_logs/std_log.txt`) -> Finalizing (outputs uploaded) -> Completed | Failed. A cancel request
(CancelRequested, written by the service) kills the command's process group and ends Canceled.

Outputs: each output folder is a mount point as on a node (`OutputMounts`): removing it or renaming a folder
onto it fails. What the command wrote inside is uploaded to its datastore path however the command ended
(exit 0, non-zero, killed by a cancel), as a real `rw_mount` output keeps whatever was written through the
mount before a failure. A job that never ran its command (canceled before Running, failed to prepare)
uploads nothing.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.fakes.azure_jobstore import TERMINAL, JobStore, now_iso

KEY_ENV = "FAKE_AML_ACCOUNT_KEY"
DATASTORE_URI = re.compile(r"^azureml://datastores/([^/]+)/paths/(.*)$")
REGISTRY_MODEL = re.compile(r"^azureml://registries/([^/]+)/models/([^/]+)/versions/([^/]+)/?$")
EXEC_FAILED = ("Execution failed. User process '{Process}' exited with status code {StatusCode}. Please check "
               "log file 'user_logs/std_log.txt' for error details. Error: {ErrorMessage}")  # fmt: skip


def _literal(text: str) -> Callable[[re.Match[str]], str]:
    """A replacement for re.sub that inserts `text` as it is (no backslash escapes)."""
    return lambda _m: text


class Canceled(Exception):
    pass


class OutputMounts:
    """Outputs as a node has them: each output folder is a mount point (`rw_mount`), which the job can write
    inside but not remove (EBUSY) nor rename a folder onto (EXDEV/EBUSY). Where this process may (root), the
    node gets a mount namespace of its own and a tmpfs on each output folder, so the kernel refuses as on a
    node and nothing outlives the node; elsewhere the folder's identity is checked once the command ends."""

    def __init__(self) -> None:
        self.private = False
        self.seen: dict[Path, tuple[int, int]] = {}

    def _own_namespace(self) -> bool:
        if self.private:
            return True
        if os.geteuid() != 0:
            return False
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(0x00020000) != 0:  # CLONE_NEWNS
            return False
        # mounts made from here on stay in this namespace (never seen by the machine)
        self.private = subprocess.call(["mount", "--make-rprivate", "/"], stderr=subprocess.DEVNULL) == 0
        return self.private

    def mount(self, folder: Path) -> None:
        if self._own_namespace():
            subprocess.call(["mount", "-t", "tmpfs", "-o", "size=8g", "olive-lab-output", str(folder)],
                            stderr=subprocess.DEVNULL)  # fmt: skip
        st = folder.stat()
        self.seen[folder] = (st.st_dev, st.st_ino)

    def replaced(self, folder: Path) -> bool:
        try:
            st = folder.stat()
        except OSError:
            return True
        return self.seen.get(folder) not in (None, (st.st_dev, st.st_ino))


class Node:
    def __init__(self, store: JobStore, name: str) -> None:
        self.store = store
        self.name = name
        job = store.read(name)
        if job is None:
            raise SystemExit(f"no job {name} in {store.root}")
        self.job: dict[str, Any] = job
        self.knobs: dict[str, Any] = job["knobs"]
        self.work = store.job_dir(name) / "work"
        self.logs = store.job_dir(name) / "logs"
        self.proc: subprocess.Popen[bytes] | None = None
        self.mounts = OutputMounts()
        self.mounts._own_namespace()  # first, while the process has one thread (unshare refuses threads)

    # -- state
    def cancel_requested(self) -> bool:
        job = self.store.read(self.name)  # a vanished jobs_dir ends the node too
        return job is None or job["status"] in ("CancelRequested", "Canceled")

    def set(self, status: str, **extra: Any) -> None:
        def change(job: dict[str, Any]) -> None:
            if job["status"] in TERMINAL or (job["status"] == "CancelRequested" and status not in TERMINAL):
                return  # an ended job stays ended; a canceling one only ends
            job["status"] = status
            job.update(extra)

        if self.cancel_requested() and status not in TERMINAL:
            raise Canceled
        self.store.update(self.name, change)
        self.system_log(f"job {self.name}: {status}")

    def wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.cancel_requested():
                raise Canceled
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def system_log(self, line: str) -> None:
        path = self.logs / "system_logs" / "lifecycler" / "execution-wrapper.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as handle:
            handle.write(f"{now_iso()} INFO {line}\n")

    def fail(self, code: str, message: str, fmt: str | None = None, params: dict[str, str] | None = None) -> None:
        self.set("Failed", end=now_iso(), error={"code": code, "message": message, "format": fmt or message,
                                                 "parameters": params or {}})  # fmt: skip

    # -- storage
    def container(self) -> Any:
        from azure.storage.blob import ContainerClient

        return ContainerClient(self.job["blob_url"], self.job["container"], retry_total=2, credential={
            "account_name": self.job["account_name"], "account_key": os.environ.get(KEY_ENV, "")})  # fmt: skip

    def download_inputs(self) -> dict[str, str]:
        """Each input's local path (or a literal input's value), by name."""
        places: dict[str, str] = {}
        container = None
        for key, item in (self.job["body"].get("inputs") or {}).items():
            if item.get("jobInputType") == "literal":
                places[key] = str(item.get("value", ""))
                continue
            dest = self.work / "inputs" / key
            reg = REGISTRY_MODEL.match(item["uri"])
            if reg:
                places[key] = self.download_registry_model("/".join(reg.groups()), dest)
                continue
            prefix = DATASTORE_URI.match(item["uri"]).group(2)  # type: ignore[union-attr]
            dest.mkdir(parents=True, exist_ok=True)
            container = container or self.container()
            is_file = item.get("jobInputType") == "uri_file"
            folder = prefix if is_file or prefix.endswith("/") or not prefix else prefix + "/"
            blobs = [b.name for b in container.list_blobs(name_starts_with=folder)]
            if is_file:
                blobs = [b for b in blobs if b == prefix]
            if not blobs:
                raise LookupError(f"ScriptExecution.StreamAccess.NotFound: the input '{key}' was not found: no data "
                                  f"at {item['uri']}")  # fmt: skip
            for blob in blobs:
                rel = Path(blob).name if is_file else blob[len(folder) :]
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as handle:
                    container.download_blob(blob).readinto(handle)
            places[key] = str(dest / Path(prefix).name) if is_file else str(dest)
        return places

    def download_registry_model(self, key: str, dest: Path) -> str:
        """A registry model input: its files from the registry's storage (the SAS URL the registry hands out)."""
        from azure.storage.blob import ContainerClient

        found = (self.job.get("registry_models") or {}).get(key)
        if not found:
            raise LookupError(f"UserError: the model {key} was not found in its registry")
        uri, sas_url = found
        prefix = "/".join(uri.split("/")[4:]).rstrip("/") + "/"  # https://<account>/<container>/<path>
        container = ContainerClient.from_container_url(sas_url)
        for blob in container.list_blobs(name_starts_with=prefix):
            target = dest / blob.name[len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as handle:
                container.download_blob(blob.name).readinto(handle)
        return str(dest)

    def output_places(self) -> dict[str, tuple[Path, str]]:
        out = {}
        for key, item in (self.job["body"].get("outputs") or {}).items():
            uri = item.get("uri") or f"azureml://datastores/workspaceblobstore/paths/azureml/{self.name}/{key}/"
            prefix = DATASTORE_URI.match(uri).group(2)  # type: ignore[union-attr]
            folder = self.work / "outputs" / key
            folder.mkdir(parents=True, exist_ok=True)
            self.mounts.mount(folder)
            out[key] = (folder, prefix if prefix.endswith("/") or not prefix else prefix + "/")
        return out

    def upload_outputs(self, outputs: dict[str, tuple[Path, str]]) -> None:
        container = None
        for folder, prefix in outputs.values():
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                container = container or self.container()
                with open(path, "rb") as handle:
                    container.upload_blob(prefix + path.relative_to(folder).as_posix(), handle, overwrite=True)

    # -- the environment
    def build_environment(self) -> Path:
        """The job's environment, built from its own spec (tests/fakes/azure_image.py); a failed build fails
        the job as an image build failure."""
        from tests.fakes.azure_image import environment

        spec = self.job.get("env_spec") or {}
        context = None
        if spec.get("build"):
            context = self.download_context(str(spec["build"]["contextUri"]))
        cache = Path(self.knobs.get("env_cache") or self.work / "envs")
        log = self.logs / "azureml-logs" / "20_image_build_log.txt"
        log.parent.mkdir(parents=True, exist_ok=True)
        return environment(spec, context, cache, log)

    def download_context(self, uri: str) -> Path:
        base = f"{self.job['blob_url'].rstrip('/')}/{self.job['container']}/"
        if not uri.startswith(base):
            raise LookupError(f"the build context {uri} is not in the workspace's storage")
        prefix = uri[len(base) :].rstrip("/") + "/"
        dest = self.work / "context"
        container = self.container()
        for blob in container.list_blobs(name_starts_with=prefix):
            target = dest / blob.name[len(prefix) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as handle:
                container.download_blob(blob.name).readinto(handle)
        if not dest.is_dir():
            raise LookupError(f"the build context {uri} is empty")
        return dest

    # -- the job
    def run(self) -> None:
        from tests.fakes.azure_image import BuildFailed

        try:
            self.wait(0.05)
            started = time.monotonic()
            self.set("Preparing")  # the image is built before the job queues for a node
            if self.knobs.get("fail") == "image_build":
                return self.image_build_failure()
            if self.knobs.get("fail"):
                return self.fail("SystemError", f"The fake node was told to fail: {self.knobs['fail']}")
            try:
                venv = self.build_environment()
            except (BuildFailed, LookupError) as exc:
                return self.fail("UserError", f"Image build failed: {exc}. For more details, check log file "
                                 "azureml-logs/20_image_build_log.txt.")  # fmt: skip
            self.wait(max(0.0, float(self.knobs.get("prepare_s") or 0) - (time.monotonic() - started)))
            self.set("Queued")
            self.wait(float(self.knobs.get("queue_s") or 0))
            try:
                inputs = self.download_inputs()
            except LookupError as exc:
                return self.fail("UserError", str(exc))
            outputs = self.output_places()
            self.set("Running", start=now_iso())
        except Canceled:
            return self.set("Canceled", end=now_iso())
        code = self.execute(inputs, outputs, venv)
        canceled = self.cancel_requested()
        if not canceled:
            self.set("Finalizing")
        replaced = [key for key, (folder, _p) in outputs.items() if self.mounts.replaced(folder)]
        self.upload_outputs(outputs)
        if canceled:
            return self.set("Canceled", end=now_iso())
        if replaced and code == 0:
            return self.fail(
                "UserError",
                f"The output '{replaced[0]}' was removed or replaced by the job: on a node "
                "an output is a mount point, which cannot be removed (EBUSY) or renamed onto (EXDEV).",
            )
        if code == 0:
            return self.set("Completed", end=now_iso())
        tail = [ln for ln in self.log_path().read_text(errors="replace").splitlines() if ln.strip()][-3:]
        params = {"Process": "bash", "StatusCode": str(code), "ErrorMessage": "\n".join(tail)}
        self.fail("UserError", EXEC_FAILED.format(**params), EXEC_FAILED, params)

    def log_path(self) -> Path:
        return self.logs / "user_logs" / "std_log.txt"

    def execute(self, inputs: dict[str, str], outputs: dict[str, tuple[Path, str]], venv: Path) -> int:
        from tests.fakes.azure_image import job_env

        body = self.job["body"]
        command = str(body["command"])
        # A node is a fresh machine: the built environment's PATH, a home and temporary folder of the job's own,
        # what the service sets and what the job's spec sets; nothing of the submitter's environment (the job's
        # code comes as an input). A test's stand-in programs get their knobs through the fake's `node_env`.
        env = job_env(venv, self.work)
        env.update({str(k): str(v) for k, v in (self.knobs.get("node_env") or {}).items()})
        prepend = self.knobs.get("path_prepend")
        if prepend:
            env["PATH"] = os.pathsep.join([str(prepend), env["PATH"]])
        env.update({"AZUREML_RUN_ID": self.name, "AZUREML_EXPERIMENT_NAME": str(body.get("experimentName") or "")})
        env.update({str(k): str(v) for k, v in (body.get("environmentVariables") or {}).items()})
        for key, value in inputs.items():
            command = re.sub(r"\$\{\{\s*inputs\." + re.escape(key) + r"\s*\}\}", _literal(value), command)
            env[f"AZURE_ML_INPUT_{key}"] = value
        for key, (folder, _prefix) in outputs.items():
            command = re.sub(r"\$\{\{\s*outputs\." + re.escape(key) + r"\s*\}\}", _literal(str(folder)), command)
            env[f"AZURE_ML_OUTPUT_{key}"] = str(folder)
        cwd = self.work / "wd"
        cwd.mkdir(parents=True, exist_ok=True)
        self.log_path().parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path(), "ab", buffering=0) as log:
            self.proc = subprocess.Popen(["bash", "-c", command], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        self.store.update(self.name, lambda j: j.__setitem__("proc_pgid", self.proc.pid))  # type: ignore[union-attr]
        while True:
            code = self.proc.poll()
            if code is not None:
                return code
            if self.cancel_requested():
                self.kill_command()
                return self.proc.wait()
            time.sleep(0.05)

    def kill_command(self) -> None:
        assert self.proc is not None
        for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=grace)
                # the group may outlive its leader: make sure nothing of it is left
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            except subprocess.TimeoutExpired:
                continue
            return

    def image_build_failure(self) -> None:
        conda = self.job.get("conda_file") or ""
        env = self.job.get("environment") or "(unknown environment)"
        log = self.logs / "azureml-logs" / "20_image_build_log.txt"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"Building image for environment {env}\nStep 5/9 : RUN conda env create -p /azureml-envs/env "
                       f"-f azureml-environment-setup/mutated_conda_dependencies.yml\n{conda}\n"
                       "ResolvePackageNotFound:\n  - (see the dependencies above)\n"
                       "The command '/bin/sh -c conda env create ...' returned a non-zero code: 1\n")  # fmt: skip
        self.wait(float(self.knobs.get("prepare_s") or 0))
        # Shaped after the service's image build failures; the exact wording is our own.
        self.fail("UserError", f"Image build failed for environment {env}: conda could not create the environment "
                  "from its conda file 'mutated_conda_dependencies.yml' (the environment's conda_file). For more "
                  "details, check log file azureml-logs/20_image_build_log.txt.")  # fmt: skip


def main(argv: list[str]) -> int:
    jobs_dir, name = argv[1], argv[2]
    node = Node(JobStore(jobs_dir), name)

    def on_term(signum: int, _frame: Any) -> None:
        if node.proc is not None and node.proc.poll() is None:
            node.kill_command()
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    try:
        node.run()
    except Exception as exc:  # the fake's own fault: fail the job visibly rather than leave it Running
        import traceback

        traceback.print_exc()
        if not node.cancel_requested():
            node.fail("SystemError", f"The fake compute node crashed: {type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
