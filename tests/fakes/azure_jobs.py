"""Azure ML's job system for tests: `FakeAzureJobs` extends the fake control plane (`azure_ml.FakeAzureML`, a
transport for `MLClient(..., transport=...)`) with the workspace, its compute clusters and VM sizes,
environment versions, command jobs (submit, get, cancel and its long-running-operation poll), the workspace's
discovery document and run history's run details (log files as SAS URLs into Azurite).

Every call of the real SDK 1.35 goes through the transport, the two data-plane ones included: the discovery
document is fetched with `MLClient`'s own requests pipeline (built from the same kwargs, so with the same
transport, but with no credential: it is anonymous) and run history's client gets `_service_client_kwargs`,
the MLClient kwargs, transport included. Both go to `https://<location>.api.azureml.ms`, which only this
transport answers.

Jobs live on disk (`azure_jobstore.JobStore`, the spec's `jobs_dir`), so that every process's fake sees them;
a PUT starts a detached node process (`tests/fakes/azure_node.py`) that runs the job's command for real.
Response bodies follow the REST models of `azure/ai/ml/_restclient/arm_ml_service/models/_models.py` (JobBase,
CommandJob, JobService, ComputeResource/AmlCompute, VirtualMachineSize, Workspace, EnvironmentVersion) and
`_restclient/runhistory/models/_models.py` (RunDetails, RunHistoryErrorResponse).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from tests.fakes.azure_jobs_shapes import (
    compute_body,
    discovery_body,
    node_list_body,
    run_details_body,
    usages_body,
    vm_sizes_body,
    workspace_body,
)
from tests.fakes.azure_jobstore import ON_NODE, TERMINAL, JobStore, now_iso
from tests.fakes.azure_ml import ARM, FakeAzureML, _error, _system_data, api_version_refusal

ROOT = Path(__file__).resolve().parents[2]
KEY_ENV = "FAKE_AML_ACCOUNT_KEY"  # how the node process gets the Azurite key (never written to jobs_dir)
LOG_CONTAINER = "azureml"  # the workspace's artifact container, where real run logs live
DEFAULT_COMPUTES = [{"name": "gpu-a100", "size": "Standard_NC24ads_A100_v4", "min": 0, "max": 4, "nodes": 0},
                    {"name": "cpu-d4", "size": "Standard_D4s_v3", "min": 0, "max": 2, "nodes": 0}]  # fmt: skip
DEFAULT_KNOBS = {
    "queue_s": 0.5,
    "prepare_s": 0.3,
    "submit_error": None,
    "fail": None,
    "path_prepend": None,
    "env_cache": None,
    # variables a test's stand-in programs on the node read (FAKE_OLIVE_*): they reach the job's command through
    # this knob, never through the submitter's environment, which a node does not have
    "node_env": None,
}
DATASTORE_URI = re.compile(r"^azureml://datastores/([^/]+)/paths/(.*)$")
REGISTRY_MODEL = re.compile(r"^azureml://registries/([^/]+)/models/([^/]+)/versions/([^/]+)/?$")
PLACEHOLDER = re.compile(r"\$\{\{\s*(inputs|outputs)\.([^\s}]*)\s*\}\}")
REQUIRED_JOB_FIELDS = ("jobType", "command", "environmentId", "computeId")  # of a command job (CommandJob's model)
# What makes an environment version what it is: none of it can change under the same version
ENV_CONTENT = ("image", "condaFile", "build", "osType", "inferenceConfig")
_children: list[subprocess.Popen[bytes]] = []  # node processes this process started (polled to reap them)


@dataclass
class FakeAzureJobs(FakeAzureML):
    jobs_dir: str = ""
    blob_url: str = ""  # Azurite's account URL: the log SAS URLs point there, the node moves data there
    location: str = "eastus"
    computes: list[dict[str, Any]] = field(default_factory=lambda: [dict(c) for c in DEFAULT_COMPUTES])
    knobs: dict[str, Any] = field(default_factory=dict)
    # After this many authenticated requests through this transport, every request gets ARM's 401 for an
    # expired token (a long-lived session whose token ran out; a fresh session is a fresh fake: a new token)
    token_fails_after: int | None = None
    retry_after: int = 1  # seconds the cancel operation's 202 asks the SDK's poller to wait
    quota: dict[str, list[int]] = field(default_factory=dict)  # VM family -> [vCPUs in use, limit]; else 0 of 96
    # passing trouble: [method, path regex, status, count]: the next `count` such requests get `status` (429/503,
    # with Retry-After: 0 so azure-core's own retries pass quickly), counted in this process
    flaky: list[list[Any]] = field(default_factory=list)
    expired_log_sas: int = 0  # the next this many run-details answers hand out log links whose SAS has expired
    tenant: str = "72f988bf-0000-0000-0000-000000000000"
    _authenticated: int = 0
    _log_sizes: dict[tuple[str, str], int] = field(default_factory=dict)
    _log_container_ready: bool = False

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> FakeAzureJobs:
        fake = cls(spec["subscription"], spec["resource_group"], spec["workspace"],
                   account_key=spec["account_key"], models=spec.get("models", {}), jobs_dir=spec["jobs_dir"],
                   blob_url=spec["blob_url"], location=spec.get("location", "eastus"),
                   computes=spec.get("computes") or [dict(c) for c in DEFAULT_COMPUTES],
                   knobs=spec.get("jobs") or {}, token_fails_after=spec.get("token_fails_after"),
                   secrets_refused=bool(spec.get("secrets_refused")), quota=spec.get("quota") or {},
                   flaky=[list(f) for f in spec.get("flaky") or []],
                   expired_log_sas=int(spec.get("expired_log_sas") or 0))  # fmt: skip
        for registry, name, version, uri, sas in spec.get("registry_models", []):
            fake.registry_models[(registry, name, version)] = (uri, sas)
        return fake

    @property
    def store(self) -> JobStore:
        return JobStore(self.jobs_dir)

    @property
    def knob(self) -> dict[str, Any]:
        return {**DEFAULT_KNOBS, **self.knobs}

    @property
    def api_host(self) -> str:
        return f"{self.location}.api.azureml.ms"

    # -- transport: like FakeAzureML.send, and answers may carry headers
    def send(self, request: Any, **kwargs: Any) -> Any:
        for child in list(_children):
            if child.poll() is not None:
                _children.remove(child)
        url = urlparse(request.url)
        path = unquote(url.path)
        body = request.content if hasattr(request, "content") else request.body
        if isinstance(body, bytes):
            body = body.decode()
        with self._lock:
            self.calls.append((request.method, path))
            self.bodies.append((request.method, path, body or ""))
        if self.jobs_dir:
            self.store.count_request(request.method, path, _job_of(path))
        answer = api_version_refusal(url, path) or self._route(request, url.netloc, path, body)
        status, payload, headers = answer if len(answer) == 3 else (*answer, {})
        response = self._response(request, status, payload)
        response.headers.update(headers)
        return response

    def _route(self, request: Any, host: str, path: str, body: str | None) -> tuple:
        if host == self.api_host and path == "/discovery":  # anonymous, as the real one is
            return 200, discovery_body(self.location)
        if request.headers.get("Authorization") == f"Bearer {self.token}":
            self._authenticated += 1
            if self.token_fails_after is not None and self._authenticated > self.token_fails_after:
                stamp = dt.datetime.now(dt.UTC).strftime("%m/%d/%Y %H:%M:%S")
                return 401, _error("ExpiredAuthenticationToken", f"The access token expiry UTC time '{stamp}' is "
                                   f"earlier than current UTC time '{stamp}'.")  # fmt: skip
        for trouble in self.flaky:
            method, pattern, status, left = trouble
            if left > 0 and method == request.method and re.search(pattern, path):
                trouble[3] = left - 1
                code = {429: "TooManyRequests", 400: "UserError"}.get(status, "ServiceUnavailable")
                text = (
                    "The request is invalid." if status == 400 else f"The service is busy ({status}); try again later."
                )
                # a busy service says when to come back (ARM: whole seconds); a refusal says nothing of the kind
                return status, _error(code, text), ({} if status == 400 else {"Retry-After": "1"})
        if any(m == request.method and re.search(p, path) for m, p in self.faults):
            return self._answer(request, path, body)  # FakeAzureML answers the planted fault, on every route
        history = f"/history/v1.0{self.ws_path}/runs/"
        if path.startswith("/history/"):
            if host != self.api_host:
                return 404, _error("NotFound", f"run history is not served from {host}")
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                return 401, _error("AuthenticationFailed", "Authentication failed: the access token is invalid.")
            m = re.match(re.escape(history) + r"([^/]+)/details$", path)
            if m and request.method == "GET":
                return self._run_details(m.group(1))
            return 404, _error("NotFound", f"no run history route for {request.method} {path}")
        loc = (
            rf"^/subscriptions/{re.escape(self.subscription)}"
            r"/providers/Microsoft\.MachineLearningServices/locations/([^/]+)"
        )
        if re.match(loc + r"/usages$", path) and request.method == "GET":
            return self._authorized(request, lambda: (200, usages_body(self, self.location)))
        if re.match(loc + r"/vmSizes$", path) and request.method == "GET":
            return self._authorized(request, lambda: (200, vm_sizes_body(self.computes)))
        op = re.match(loc + r"/mfeOperationResults/jc:([^/]+)$", path)
        if op and request.method == "GET":
            return self._authorized(request, lambda: self._cancel_progress(op.group(2)))
        if path == self.ws_path and request.method == "GET":
            return self._authorized(request, lambda: (200, workspace_body(self)))
        return self._answer(request, path, body)

    def _authorized(self, request: Any, answer: Any) -> tuple:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return 401, _error("AuthenticationFailed", "Authentication failed: the access token is invalid.")
        return answer()

    def _workspace_call(self, method: str, rest: str, body: str | None) -> tuple:
        if rest == "/computes" and method == "GET":
            return 200, {"value": [compute_body(self, c, self._active(c["name"])) for c in self.computes],
                         "nextLink": None}  # fmt: skip
        m = re.match(r"^/computes/([^/]+)(/listNodes)?$", rest)
        if m:
            compute = self._compute(m.group(1))
            if compute is None:
                return 404, _error("ResourceNotFound", f"Resource {m.group(1)} of type compute not found "
                                   f"in workspace {self.workspace}.")  # fmt: skip
            if m.group(2) and method == "POST":
                return 200, node_list_body(compute, self._active(compute["name"]))
            if not m.group(2) and method == "GET":
                return 200, compute_body(self, compute, self._active(compute["name"]))
        m = re.match(r"^/environments/([^/]+)/versions/([^/]+)$", rest)
        if m:
            return self._environment(method, m.group(1), m.group(2), body)
        m = re.match(r"^/jobs/([^/]+)(/cancel)?$", rest)
        if m and m.group(2) and method == "POST":
            return self._cancel(m.group(1))
        if m and not m.group(2) and method == "GET":
            job = self.store.read(m.group(1))
            if job is None:  # wording: azureml-previews#267 ("Code: UserError Message: Job nertrain not found.")
                return 404, _error("UserError", f"Job {m.group(1)} not found.")
            return 200, self._job_body(job)
        if m and not m.group(2) and method == "PUT":
            return self._submit(m.group(1), json.loads(body or "{}"))
        return super()._workspace_call(method, rest, body)

    # -- computes
    def _compute(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.computes if c["name"] == name), None)

    def _active(self, compute: str) -> list[str]:
        """The jobs holding a node of this cluster now (a job scales the cluster up once it leaves the queue)."""
        return [j["name"] for j in self.store.jobs() if j["compute"] == compute and j["status"] in ON_NODE]

    # -- environments
    def _environment(self, method: str, name: str, version: str, body: str | None) -> tuple[int, Any]:
        key = f"{name}:{version}"
        if method == "GET":
            found = self.store.environments().get(key)
            if found is None:
                return 404, _error("UserError", f"Could not find asset with name {name} and version {version}.")
            return 200, found
        if method != "PUT":
            return 404, _error("NotFound", f"no environment route for {method}")
        props = json.loads(body or "{}").get("properties", {})
        if not props.get("image") and not props.get("build"):
            return 400, _error("UserError", "An environment needs an image or a build context.")
        there = self.store.environments().get(key)
        if there is not None:  # a version's content never changes (wording invented: shaped after the models')
            old = there["properties"]
            changed = [k for k in ENV_CONTENT if (old.get(k) or None) != (props.get(k) or None)
                       and not (k == "osType" and (props.get(k) or "Linux") == old.get(k))]  # fmt: skip
            if changed:
                return 400, _error("UserError", f"Environment {name} version {version} already exists with other "
                                   f"content ({', '.join(changed)}); its content cannot be changed without a new "
                                   "version.")  # fmt: skip
            there["properties"].update(description=props.get("description"), tags=props.get("tags") or {})
            self.store.put_environment(key, there)
            return 200, there
        stored = {
            "id": f"{self.ws_path}/environments/{name}/versions/{version}",
            "name": version,
            "type": "Microsoft.MachineLearningServices/workspaces/environments/versions",
            "properties": {
                "description": None,
                "tags": {},
                "properties": {},
                "isArchived": False,
                "isAnonymous": bool(props.get("isAnonymous")),
                "environmentType": "UserCreated",
                "image": props.get("image"),
                "condaFile": props.get("condaFile"),
                "build": props.get("build"),
                "osType": "Linux",
                "autoRebuild": "Disabled",
                "provisioningState": "Succeeded",
                "stage": "Development",
            },
            "systemData": _system_data(),
        }
        self.store.put_environment(key, stored)
        return 200, stored

    # -- jobs
    def _submit(self, name: str, sent: dict[str, Any]) -> tuple[int, Any]:
        props = sent.get("properties") or {}
        missing = [k for k in REQUIRED_JOB_FIELDS if not props.get(k)]
        if missing:  # wording invented; the service refuses a job without them
            return 400, _error("UserError", f"The job's {', '.join(missing)} is required.")
        if props.get("jobType") != "Command":
            return 400, _error("UserError", f"This fake answers command jobs only, not {props.get('jobType')}.")
        compute = str(props.get("computeId") or "").rstrip("/").rsplit("/", 1)[-1]
        if self._compute(compute) is None:  # the SDK sends the name unchecked; this wording is invented
            return 400, _error(
                "UserError", f"Compute {compute or '(none)'} is not found in workspace {self.workspace}."
            )
        for kind, items in (("input", props.get("inputs") or {}), ("output", props.get("outputs") or {})):
            for key, item in items.items():
                uri = item.get("uri")
                if item.get(f"job{kind.title()}Type") == "literal" or (kind == "output" and not uri):
                    continue
                reg = REGISTRY_MODEL.match(str(uri or ""))
                if kind == "input" and reg:  # a registry model as a model input: the node reads the registry
                    if item.get("jobInputType") not in ("custom_model", "mlflow_model"):
                        return 400, _error("UserError", f"The input '{key}' is a model: its type must be a model "
                                           f"type, not {item.get('jobInputType')}.")  # fmt: skip
                    if tuple(reg.groups()) not in self.registry_models:
                        return 400, _error("UserError", f"Could not find asset {uri}.")
                    continue
                m = DATASTORE_URI.match(str(uri or ""))
                if not m or m.group(1) != "workspaceblobstore":
                    return 400, _error("UserError", f"The {kind} '{key}' must be a path in a datastore of the "
                                       f"workspace (azureml://datastores/<name>/paths/...), not '{uri}'.")  # fmt: skip
        declared = {"inputs": props.get("inputs") or {}, "outputs": props.get("outputs") or {}}
        for kind, key in PLACEHOLDER.findall(str(props["command"])):
            if key not in declared[kind]:  # wording invented: the service resolves placeholders at submit
                return 400, _error("UserError", f"The command refers to ${{{{{kind}.{key}}}}}, but the job "
                                   f"declares no such {kind[:-1]}.")  # fmt: skip
        env = self.store.environments()
        env_key = ":".join(str(props["environmentId"]).split("/environments/")[-1].split("/versions/"))
        if env_key not in env:  # a job runs in an environment version that was created, never in a bare one
            name_, _, version_ = env_key.partition(":")
            return 404, _error("UserError", f"Could not find asset with name {name_} and version {version_}.")
        existing = self.store.read(name)
        if existing is not None:
            # MFE lets a PUT change a job's tags, display name and description only; the SDK's own comment
            # says a change of compute or experiment is "rejected by MFE" (wording of the error invented).
            old = existing["body"]
            if any(old.get(k) != props.get(k) for k in ("command", "computeId", "environmentId", "experimentName")):
                return 400, _error("UserError", f"Job {name} already exists; its command, compute, environment "
                                   "and experiment cannot be changed.")  # fmt: skip

            def merge(job: dict[str, Any]) -> None:
                for key in ("tags", "displayName", "description"):
                    job["body"][key] = props.get(key, job["body"].get(key))

            return 200, self._job_body(self.store.update(name, merge) or existing)
        error = self.knob.get("submit_error")
        if error == "quota":
            # As reported against SDK v2 (MicrosoftDocs/azure-docs#121466): "HttpResponseError: (None) OutOfQuota:
            # Not enough cluster CPU quota. ...". "(None)" is what the SDK prints for an error body without a
            # code, so the body has none; the HTTP status (400) is our guess.
            sizes = {s["name"]: s["vCPUs"] for s in vm_sizes_body(self.computes)["value"]}
            vcpus = sizes.get((self._compute(compute) or {}).get("size"), 4)
            message = (
                f"OutOfQuota: Not enough cluster CPU quota. The amount of additional CPU quota requested is "
                f"{vcpus}, and you are currently using 0. Your amount of maximum quota is 0. Please see "
                "troubleshooting guide, available here: https://aka.ms/oe-tsg#error-outofquota"
            )
            return 400, {"error": {"message": message, "details": [], "additionalInfo": []}}
        if error == "forbidden":
            return 403, _error("AuthorizationFailed", "The client 'lab@example.com' does not have authorization to "
                               "perform action 'Microsoft.MachineLearningServices/workspaces/jobs/write' over "
                               f"scope '{self.ws_path}/jobs/{name}' or the scope is invalid.")  # fmt: skip
        if error:
            return 400, _error("UserError", str(error))
        job = {"name": name, "status": "NotStarted", "compute": compute, "body": props, "created": now_iso(),
               "start": None, "end": None, "error": None, "requests": 0, "run_uuid": str(uuid.uuid4()),
               "knobs": self.knob, "blob_url": self.blob_url, "account_name": self.account_name,
               "container": self.container, "env_spec": env[env_key]["properties"],
               "conda_file": env[env_key]["properties"].get("condaFile"),
               "environment": env_key, "node_pid": None, "proc_pgid": None,
               "registry_models": {"/".join(k): list(v) for k, v in self.registry_models.items()}}  # fmt: skip
        with self.store.lock():
            self.store.write(name, job)
        self._start_node(name)
        return 201, self._job_body(self.store.read(name) or job)

    def _start_node(self, name: str) -> None:
        # The node process is the fake's machinery (it builds the image with this machine's uv and pip settings):
        # it gets this process's environment less the fake's spec (a compute node has no fakes) and the
        # repository on PYTHONPATH. The job's command gets none of it (azure_image.job_env: a whitelist).
        env = {k: v for k, v in os.environ.items() if k != "OLIVE_LAB_FAKE_AZURE"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env[KEY_ENV] = self.account_key or ""
        with open(self.store.job_dir(name) / "node.log", "ab") as log:
            child = subprocess.Popen([sys.executable, "-m", "tests.fakes.azure_node", str(self.jobs_dir), name],
                                     cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        _children.append(child)
        self.store.update(name, lambda j: j.__setitem__("node_pid", child.pid))

    def _job_body(self, job: dict[str, Any]) -> dict[str, Any]:
        name = job["name"]
        wsid = f"/subscriptions/{self.subscription}/resourcegroups/{self.resource_group}/workspaces/{self.workspace}"
        services = {
            "Tracking": {
                "jobServiceType": "Tracking",
                "port": None,
                "endpoint": f"azureml://{self.api_host}/mlflow/v1.0{self.ws_path}?",
                "status": None,
                "errorMessage": None,
                "properties": None,
                "nodes": None,
            },
            # The SDK appends "&tid=<tenant>" itself when the credential's token is a JWT (the fake's is not)
            "Studio": {
                "jobServiceType": "Studio",
                "port": None,
                "endpoint": f"https://ml.azure.com/runs/{name}?wsid={wsid}",
                "status": None,
                "errorMessage": None,
                "properties": None,
                "nodes": None,
            },
        }
        props = dict(job["body"])
        props.update({"status": job["status"], "services": services, "isArchived": False,
                      "computeId": f"{self.ws_path}/computes/{job['compute']}",
                      "properties": {**(props.get("properties") or {}), "_azureml.ComputeTargetType": "amlctrain",
                                     "ContentSnapshotId": job["run_uuid"]}})  # fmt: skip
        outputs = dict(props.get("outputs") or {})
        for key, item in outputs.items():
            if not item.get("uri"):  # the service fills in the default output path
                outputs[key] = {**item, "uri": f"azureml://datastores/workspaceblobstore/paths/azureml/{name}/{key}/"}
        props["outputs"] = outputs
        system = _system_data()
        system["createdAt"] = system["lastModifiedAt"] = job["created"]
        return {
            "id": f"{self.ws_path}/jobs/{name}",
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/jobs",
            "properties": props,
            "systemData": system,
        }

    # -- cancel
    def _cancel(self, name: str) -> tuple:
        def request(job: dict[str, Any]) -> None:
            if job["status"] not in TERMINAL:
                job["status"] = "CancelRequested"

        job = self.store.update(name, request)
        if job is None:
            return 404, _error("UserError", f"Job {name} not found.")
        if not _alive(job.get("node_pid")):  # the node is gone: nothing left to stop it, so end it here
            self.store.update(name, _canceled)
        return 202, None, self._operation_headers(name)

    def _operation_headers(self, name: str) -> dict[str, str]:
        location = (f"{ARM}/subscriptions/{self.subscription}/providers/Microsoft.MachineLearningServices/"
                    f"locations/{self.location}/mfeOperationResults/jc:{name}?api-version=2025-12-01")  # fmt: skip
        return {"Location": location, "Retry-After": str(self.retry_after)}

    def _cancel_progress(self, name: str) -> tuple:
        job = self.store.read(name)
        if job is None:
            return 404, _error("UserError", f"Job {name} not found.")
        if job["status"] in TERMINAL:
            return 200, None
        return 202, None, self._operation_headers(name)

    # -- run history
    def _run_details(self, name: str) -> tuple[int, Any]:
        job = self.store.read(name)
        if job is None:
            return 404, {"error": {"code": "UserError", "message": f"Run {name} was not found.", "details": []}}
        files = self._log_files(name)
        if files and self.expired_log_sas > 0:
            self.expired_log_sas -= 1
        return 200, run_details_body(self, job, files)

    def _log_files(self, name: str) -> dict[str, str]:
        """Upload what the job logged so far to Azurite (the artifact container) and hand out SAS URLs."""
        from azure.storage.blob import BlobSasPermissions, BlobServiceClient, generate_blob_sas

        logs = self.store.job_dir(name) / "logs"
        files = sorted(p for p in logs.rglob("*") if p.is_file()) if logs.is_dir() else []
        if not files:
            return {}
        service = BlobServiceClient(
            self.blob_url,
            credential={"account_name": self.account_name, "account_key": self.account_key or ""},
            retry_total=1,
        )
        container = service.get_container_client(LOG_CONTAINER)
        if not self._log_container_ready:
            if not container.exists():
                container.create_container()
            self._log_container_ready = True
        out = {}
        for path in files:
            rel = path.relative_to(logs).as_posix()
            blob = f"ExperimentRun/dcid.{name}/{rel}"
            data = path.read_bytes()
            if self._log_sizes.get((name, rel)) != len(data):
                container.upload_blob(blob, data, overwrite=True)
                self._log_sizes[(name, rel)] = len(data)
            lasts = dt.timedelta(hours=1) if self.expired_log_sas <= 0 else dt.timedelta(seconds=-60)
            sas = generate_blob_sas(self.account_name, LOG_CONTAINER, blob, account_key=self.account_key,
                                    permission=BlobSasPermissions(read=True),
                                    expiry=dt.datetime.now(dt.UTC) + lasts)  # fmt: skip
            sig = next(p for p in sas.split("&") if p.startswith("sig="))
            self.store.remember_sas(sig.removeprefix("sig="))
            out[rel] = f"{self.blob_url}/{LOG_CONTAINER}/{blob}?{sas}"
        return out


def _job_of(path: str) -> str | None:
    m = re.search(r"/(?:jobs|runs)/([^/]+)(?:/cancel|/details)?$|/mfeOperationResults/jc:([^/]+)$", path)
    return (m.group(1) or m.group(2)) if m else None


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def _canceled(job: dict[str, Any]) -> None:
    if job["status"] not in TERMINAL:
        job["status"] = "Canceled"
        job["end"] = now_iso()
