"""Checks that the machine can run the lab, each with a plain-words fix: Python, packages and the version
sets known to break Olive, the olive executable, AWQ, the GPU, memory, disk, the model hub and Azure.

Nothing heavy is imported: package versions come from installed metadata, modules are found with
`find_spec`, and NVML is loaded only inside its check. A check never raises; it reports.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from engine import hub
from engine.config import LabConfig
from engine.gpu.cuda import machine_findings
from engine.gpu.nvml import NVML
from engine.lock import check_builder, check_lock, machine_torch_finding, own_lookup
from engine.paths import LabPaths, nearest_existing
from engine.requirements import PIN_GENAI, REQUIRED, resource_verdict
from engine.steps.commands import find_olive, olive_program

Status = Literal["ok", "warn", "fail"]
VersionLookup = Callable[[str], str | None]

AZURE_ENV = ("AZURE_CLIENT_ID", "AZURE_TENANT_ID")
AZURE_SECRET_ENV = ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE")


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def installed_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _lookup(versions: Mapping[str, str | None] | VersionLookup | None) -> VersionLookup:
    if versions is None:
        return installed_version
    if callable(versions):
        return versions
    return lambda dist: versions.get(dist)


def _v(version: str) -> tuple[int, ...]:
    """Leading numeric release parts: '0.15.0rc1' -> (0, 15, 0), '2.13.0+cpu' -> (2, 13, 0)."""
    parts = []
    for piece in version.split("."):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
        if m.end() != len(piece):
            break
    return tuple(parts)


# ---------------------------------------------------------------- packages


def check_python() -> Check:
    v = sys.version_info
    text = f"Python {v.major}.{v.minor}.{v.micro} ({sys.executable})"
    if v < (3, 11):
        return Check("python", "fail", text, "install Python 3.11 or newer and recreate the virtual environment")
    return Check("python", "ok", text)


def check_packages(versions: Mapping[str, str | None] | VersionLookup | None = None) -> list[Check]:
    """Installed versions, then the combinations known to break the pipeline (see the README's pins)."""
    get = _lookup(versions)
    checks: list[Check] = []
    for dist, why in REQUIRED.items():
        found = get(dist)
        if found is None:
            checks.append(Check(f"package {dist}", "fail", f"not installed ({why})", f"pip install '{dist}'"))
        else:
            checks.append(Check(f"package {dist}", "ok", found))
    own = own_lookup(get) if versions is None else get
    ort, ort_gpu = own("onnxruntime"), own("onnxruntime-gpu")
    genai, genai_cuda = own("onnxruntime-genai"), own("onnxruntime-genai-cuda")
    checks.append(_flavour_check("onnxruntime", ort, ort_gpu, "runs the ONNX model"))
    checks.append(_flavour_check("onnxruntime-genai", genai, genai_cuda, "chat with the optimized model"))

    olive = get("olive-ai")
    transformers = get("transformers")
    # The cuda flavour's chat runtime is newer than Olive's builder accepts: it builds in its own environment.
    for name, version in [("onnxruntime-genai", genai)] if genai else []:
        if olive and _v(olive)[:2] == (0, 13) and _v(version) >= (0, 15):
            checks.append(
                Check(
                    "olive-ai + onnxruntime-genai",
                    "fail",
                    f"{name} {version} breaks Olive {olive}'s model builder pass (optimize fails)",
                    f"pip install '{name}>=0.14.1,<0.15'",
                )
            )
        if transformers and _v(transformers)[:2] == (4, 51) and _v(version)[:2] == (0, 14):
            checks.append(
                Check(
                    "transformers + onnxruntime-genai",
                    "fail",
                    f"{name} {version}'s model builder needs a newer transformers than {transformers}",
                    "pip install 'transformers>=4.57.6'",
                )
            )
    return checks


def _flavour_check(base: str, cpu: str | None, gpu: str | None, why: str) -> Check:
    gpu_name = "onnxruntime-gpu" if base == "onnxruntime" else "onnxruntime-genai-cuda"
    pin = "" if base == "onnxruntime" else PIN_GENAI.removeprefix("onnxruntime-genai")
    if cpu and gpu:
        return Check(
            f"package {base}",
            "fail",
            f"both {base} {cpu} and {gpu_name} {gpu} are installed; they share one module and overwrite each other",
            f"pip uninstall -y {base} {gpu_name}, then ./bootstrap.sh install (the cuda flavour on an NVIDIA "
            f"machine, else cpu)",
        )
    if not cpu and not gpu:
        return Check(f"package {base}", "fail", f"not installed ({why})", f"pip install '{base}{pin}'")
    return Check(f"package {base}", "ok", f"{cpu} (CPU build)" if cpu else f"{gpu} ({gpu_name})")


# ---------------------------------------------------------------- tools


def olive_executable(config: LabConfig | None = None, env: Mapping[str, str] | None = None) -> tuple[str | None, str]:
    """Where `olive` is and how it was found: the same choice the steps make."""

    override = config.finetune.olive if config is not None else None
    return find_olive(override, env, setting="the finetune.olive setting")


def check_olive(config: LabConfig, env: Mapping[str, str] | None = None) -> Check:
    path, how = olive_executable(config, env)
    fix = "pip install 'olive-ai==0.13.0' in this environment, or set OLIVE_LAB_OLIVE to the olive executable"
    if path is None:
        return Check("olive command", "fail", "no 'olive' executable on PATH", fix)
    program, found = olive_program(path, env)
    if found is None:
        what = "does not exist" if not Path(program).exists() else "is not executable"
        return Check("olive command", "fail", f"{program} (from {how}) {what}", fix)
    return Check("olive command", "ok", f"{path} (from {how})")


def check_autoawq(config: LabConfig, versions: Mapping[str, str | None] | VersionLookup | None = None) -> Check:
    version = _lookup(versions)("autoawq")
    if not config.quantize.enabled:
        return Check("autoawq", "ok", f"{version or 'not installed'}; not needed (quantize is off)")
    fix = "pip install --no-deps 'autoawq==0.2.9' (or turn the quantize step off)"
    if version is None:
        return Check("autoawq", "warn", "not installed: the quantize (AWQ) step cannot run", fix)
    if versions is None and importlib.util.find_spec("awq") is None:
        return Check("autoawq", "warn", f"{version} is installed but its 'awq' module is missing", fix)
    return Check("autoawq", "ok", version)


# ---------------------------------------------------------------- hardware


def check_gpu(config: LabConfig) -> Check:

    status = NVML.status()
    if not status.available:
        return _no_gpu(config, status.reason)
    names = ", ".join(sorted(set(status.names)))
    return Check("gpu", "ok", f"{status.device_count} × {names}, driver {status.driver_version}")


def check_cuda(
    config: LabConfig,
    versions: Mapping[str, str | None] | VersionLookup | None = None,
    search_path: Sequence[Path] | None = None,
) -> list[Check]:
    """The cuda flavour's prerequisites (driver, CUDA 13 libraries, GPU memory), when CUDA is in play."""
    lookup = _lookup(versions)
    flavour = lookup("onnxruntime-genai-cuda") or lookup("onnxruntime-gpu")
    if not flavour and config.optimize.device != "gpu":
        return []

    checks = [Check(f.name, f.status, f.detail, f.fix) for f in machine_findings(config.profile, search_path)]  # type: ignore[arg-type]
    if not lookup("onnxruntime-genai-cuda"):
        fix = "OLIVE_LAB_FLAVOUR=cuda ./bootstrap.sh install (chat on CUDA: onnxruntime-genai-cuda)"
        checks.append(Check("cuda chat", "warn", "the ONNX target is the GPU, but chat runs on the CPU build", fix))
    return checks


def _no_gpu(config: LabConfig, why: str) -> Check:
    if config.quantize.device == "cuda" or config.optimize.device == "gpu":
        return Check(
            "gpu",
            "fail",
            f"no NVIDIA GPU ({why}), but the settings ask for one",
            "set quantize.device to 'cpu' or 'auto' and optimize.device to 'cpu', or use a machine with an NVIDIA GPU",
        )
    fix = "nothing to do for the demo" if config.profile == "demo" else "phi35 on a CPU is very slow: use an NVIDIA GPU"
    return Check("gpu", "warn", f"no NVIDIA GPU, the demo runs on CPU ({why})", fix)


def check_memory(config: LabConfig, free: float | None = None) -> Check:
    import psutil

    available = psutil.virtual_memory().available if free is None else free
    found = resource_verdict("memory", config.profile, available)
    fix = "close other programs, or use a machine with more memory"
    return _resource_check("memory", found.verdict, found.detail, fix)


def check_disk(lab: LabPaths, config: LabConfig, free: float | None = None) -> Check:
    where = nearest_existing(lab.root)
    available = shutil.disk_usage(where).free if free is None else free
    found = resource_verdict("disk", config.profile, available, str(where))
    fix = "free some space (`olive-lab cache clear` and old runs), or use another lab folder"
    return _resource_check("disk", found.verdict, found.detail, fix)


def check_lab_folder(lab: LabPaths) -> Check:
    """Whether runs, chats and settings can be written in the lab folder."""
    problem = lab.write_problem()
    if problem is None:
        return Check("lab folder", "ok", f"{lab.root} can be written")
    fix = "open a folder you can write (olive-lab --lab DIR), or remount this one read-write"
    return Check("lab folder", "fail", f"{problem} — a run will refuse to start", fix)


def _resource_check(name: str, verdict: Status, detail: str, fix: str) -> Check:
    if verdict == "fail":
        return Check(name, "fail", detail + " — a run will refuse to start", fix)
    return Check(name, verdict, detail, fix if verdict == "warn" else "")


# ---------------------------------------------------------------- network and logins


def hub_model(lab: LabPaths, config: LabConfig) -> bool:
    """Whether the model is a hub id (not `demo`, not a local folder, not an azureml:// asset)."""
    model = config.model
    return "/" in model and not model.startswith("azureml:") and lab.local_model(model) is None


def check_hub(lab: LabPaths, config: LabConfig, env: Mapping[str, str] | None = None, *, timeout: float = 2.0) -> Check:
    env = os.environ if env is None else env
    reachable = hub.reachable(env, timeout)
    needed = config.profile == "phi35" and hub_model(lab, config)
    offline_env = " (HF_HUB_OFFLINE is set)" if hub.offline(env) else ""
    name = hub.host(env)
    if reachable:
        return Check("model hub", "ok", f"{name} reachable{offline_env}")
    if not needed:
        return Check("model hub", "ok", f"{name} unreachable; not needed for '{config.model}'")
    if hub.cached(config.model, env):
        return Check("model hub", "ok", f"{name} unreachable, but {config.model} is in the local cache")
    return Check(
        "model hub",
        "warn",
        f"{name} unreachable and {config.model} is not in the local cache",
        "connect to the internet for the first run, or set `model` to a local folder holding the model",
    )


def check_azure(config: LabConfig, env: Mapping[str, str] | None = None, *, timeout: float = 15.0) -> Check:
    env = os.environ if env is None else env
    from engine.steps.spec import STEP_NAMES, remote_cluster

    reasons = [why for why, on in (
        ("the azureml:// model", config.model.startswith("azureml:")),
        ("the steps set to run on Azure ML compute", any(remote_cluster(s, config) for s in STEP_NAMES)),
        ("the register step", config.registration.enabled),
    ) if on]  # fmt: skip
    needed = bool(reasons)
    bad: Status = "fail" if needed else "warn"
    use = (
        "needed for " + " and ".join(reasons)
        if needed
        else "only needed for Azure ML: azureml:// models, steps on compute clusters, registering models"
    )
    az = shutil.which("az", path=env.get("PATH"))
    if az:
        try:
            out = subprocess.run(
                [az, "account", "show", "--output", "json"],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return Check("azure login", bad, f"`az account show` did not answer ({exc}); {use}", "run `az login`")
        if out.returncode == 0:
            try:
                account = json.loads(out.stdout)
                who = f"{account.get('user', {}).get('name', '?')}, subscription {account.get('name', '?')}"
            except (ValueError, AttributeError):
                who = "logged in"
            return Check("azure login", "ok", f"az: {who}")
        return Check("azure login", bad, f"az is installed but not logged in; {use}", "run `az login`")
    if all(env.get(k) for k in AZURE_ENV) and any(env.get(k) for k in AZURE_SECRET_ENV):
        return Check("azure login", "ok", f"service principal from environment ({env['AZURE_CLIENT_ID']})")
    return Check(
        "azure login",
        bad,
        f"no az CLI and no AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET in the environment; {use}",
        "install the Azure CLI and run `az login`, or set the service principal variables",
    )


# ---------------------------------------------------------------- all together


def run_checks(
    lab: LabPaths,
    config: LabConfig,
    quick: bool = False,
    *,
    versions: Mapping[str, str | None] | VersionLookup | None = None,
    env: Mapping[str, str] | None = None,
) -> list[Check]:
    """Every check in a fixed order. `quick` skips the network and the `az` call (about a second saved, up
    to 15 s when az is slow). `versions` replaces installed-package metadata (name -> version or None)."""
    checks = [
        check_python(),
        *check_packages(versions),
        check_olive(config, env),
        check_autoawq(config, versions),
    ]
    checks.append(_guarded("gpu", lambda: check_gpu(config)))
    try:
        checks += check_cuda(config, versions)
    except Exception as exc:  # a broken probe is itself a finding, not a crash
        checks.append(Check("cuda", "warn", f"could not check ({type(exc).__name__}: {exc})"))

    get = _lookup(versions)
    checks.append(_guarded("package lock", lambda: Check(*check_lock(get))))
    if (machine := machine_torch_finding(get)) is not None:  # installed over the machine's torch
        checks.append(Check(*machine))
    checks.append(_guarded("onnx builder", lambda: Check(*check_builder(get))))
    checks.append(_guarded("memory", lambda: check_memory(config)))
    checks.append(_guarded("disk", lambda: check_disk(lab, config)))
    checks.append(_guarded("lab folder", lambda: check_lab_folder(lab)))
    if not quick:
        checks.append(_guarded("model hub", lambda: check_hub(lab, config, env)))
        checks.append(_guarded("azure login", lambda: check_azure(config, env)))
    return checks


def _guarded(name: str, probe: Callable[[], Check]) -> Check:
    try:
        return probe()
    except Exception as exc:  # a broken probe is itself a finding, not a crash
        return Check(name, "warn", f"could not check ({type(exc).__name__}: {exc})")


def worst(checks: list[Check]) -> Status:
    statuses = {c.status for c in checks}
    return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "ok"
