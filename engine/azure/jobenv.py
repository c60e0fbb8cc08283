"""The environment a remote step's job runs in: a Docker build context (a Dockerfile `FROM` a pinned PyTorch+CUDA
image, and the project's lock), so that the job runs exactly the package set this project is tested with.

Azure ML turns `Environment(image=..., conda_file=...)` into a fresh conda environment on top of the image (its own
Python, everything re-resolved); a build context instead runs the Dockerfile's steps on the image itself. The job's
set is `locks/cuda.txt` (the cuda flavour's app environment, made by `scripts/lock.py` with uv for Python 3.11 and
the index's torch, a CUDA 13.0 build) with `locks/cuda-builder.txt` laid over it in an environment of its own for
the optimize step, as `bootstrap.sh` installs them on a GPU machine. The Dockerfile's steps:
1. the image's Python must be the one the lock is resolved for (3.11): a wrong image fails the build in a line
   that says so;
2. the image's torch is kept where it is the lock's release built for the lock's CUDA line (read from the lock's
   `cuda-toolkit`), else the locked torch is installed;
3. `pip install --no-deps -r` the lock's other pins: exactly the locked set, nothing resolved (autoawq, whose
   metadata asks for an old torch and triton, is one of them);
4. the ONNX builder (Olive 0.13's ModelBuilder pass needs onnxruntime-genai 0.14, the CUDA chat runtime is 0.18):
   a virtual environment `onnx-builder` in the image's Python prefix, its three pins installed the same way, the
   app's packages behind them through a .pth file, and its `olive` on PATH as `olive-onnx-builder`, which the job's
   optimize step runs.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from pydantic import BaseModel

from engine.azure.errors import AzureError
from engine.lock import AS_IS, BUILDER, LOCK_PYTHON, canonical, lock_path, read_lock

JOB_LOCK = "cuda"  # the job's package set: locks/cuda.txt
BUILDER_OLIVE = "olive-onnx-builder"  # the ONNX builder's `olive`, on the job's PATH
DOCKERFILE = "Dockerfile"
REQUIREMENTS = "requirements.txt"
TORCH = "torch.txt"
BUILDER_REQUIREMENTS = "onnx-builder.txt"
# Where the image's CUDA line is read from in a lock: torch's own CUDA toolkit pin (the first one present)
_CUDA_PINS = ("cuda-toolkit", "nvidia-cuda-runtime", "nvidia-cuda-runtime-cu12")


def lock_cuda(pins: dict[str, str]) -> str:
    """The CUDA line (major.minor) the lock's torch is built for: '13.0' for cuda-toolkit 13.0.3.0."""
    for name in _CUDA_PINS:
        if name in pins:
            return ".".join(pins[name].split(".")[:2])
    raise AzureError(f"locks/{JOB_LOCK}.txt names no CUDA toolkit ({', '.join(_CUDA_PINS)}): it is not a CUDA lock")


def check_image(image: str) -> None:
    """A job's base image must be pinned (a version tag or a digest): `:latest` moves under the job."""
    tail = image.rsplit("/", 1)[-1]
    if "@sha256:" in image:
        return
    if ":" not in tail or tail.endswith(":latest"):
        raise AzureError(
            f"[azure] image = {image!r} is not pinned: a remote job's image must name a version tag or a digest",
            "set [azure] image in lab.toml to a versioned tag "
            "(for example pytorch/pytorch:2.13.0-cuda13.0-cudnn9-runtime) or to image@sha256:<digest>",
        )


class JobEnvironment(BaseModel):
    """A job's environment as `--dry-run` prints it and as its build context is written."""

    image: str
    lock: str  # the lock file it installs, relative to the project
    torch: str  # the lock's torch: the image's where it is that release for `cuda`, else installed
    cuda: str  # the lock's CUDA line
    requirements: list[str]  # the lock's other pins, installed with --no-deps
    no_deps: list[str]  # of those, the ones whose own metadata asks for what the lock does not hold
    builder: list[str]  # the ONNX builder's pins, laid over the app's packages
    dockerfile: str

    @property
    def digest(self) -> str:
        """The environment's version: the same context is the same environment (built once by Azure ML)."""
        return hashlib.sha256(json.dumps(self.files(), sort_keys=True).encode()).hexdigest()[:32]

    def files(self) -> dict[str, str]:
        return {
            DOCKERFILE: self.dockerfile,
            REQUIREMENTS: "".join(f"{r}\n" for r in self.requirements),
            TORCH: f"{self.torch}\n",
            BUILDER_REQUIREMENTS: "".join(f"{r}\n" for r in self.builder),
        }

    def write(self, folder: Path) -> Path:
        """The build context in `folder` (the Dockerfile and the pins it installs)."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in self.files().items():
            (folder / name).write_text(text)
        return folder


def _pins(name: str) -> list[str]:
    path = lock_path(name)
    try:
        return [f"{n}=={v}" for n, v in read_lock(path).items()]
    except (OSError, ValueError) as exc:
        raise AzureError(f"cannot read the job's package set: {exc}", "python scripts/lock.py writes it") from None


def dockerfile(image: str, torch: str, cuda: str) -> str:
    release = torch.split("==", 1)[1]
    py = tuple(int(p) for p in LOCK_PYTHON.split("."))
    ctx = "/olive-lab"
    builder_python = '"$prefix/onnx-builder/bin/python"'
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    lines = [
        f"FROM {image}",
        f"COPY {REQUIREMENTS} {TORCH} {BUILDER_REQUIREMENTS} {ctx}/",
        # 1. the lock is resolved for one Python: the image's must be it
        f'RUN python -c "import sys; sys.exit(0 if sys.version_info[:2] == {py!r} '
        f"else 'olive-lab: locks/{JOB_LOCK}.txt is resolved for Python {LOCK_PYTHON}; "
        "the image has Python ' + sys.version.split()[0])\"",
        # 2. the image's torch stays where it is the lock's release for the lock's CUDA line
        f"RUN if python -c \"import sys, torch; sys.exit(0 if torch.__version__.split('+')[0] == '{release}' and "
        f"(torch.version.cuda or '').split('.')[:2] == {cuda.split('.')!r} else 1)\"; "
        f"then echo 'olive-lab: keeping the image torch ({release}, CUDA {cuda})'; "
        # (the image's torchvision and torchaudio are built against its own torch: they go with it)
        f"else python -m pip uninstall --yes torchvision torchaudio && "
        f"python -m pip install --no-cache-dir --no-deps -r {ctx}/{TORCH}; fi",
        # 3. exactly the locked set, nothing resolved
        f"RUN python -m pip install --no-cache-dir --no-deps -r {ctx}/{REQUIREMENTS}",
        # 4. the ONNX builder laid over the app's packages; its olive on PATH
        'RUN prefix="$(python -c \'import sys; print(sys.prefix)\')" && python -m venv "$prefix/onnx-builder" && '
        f"{builder_python} -m pip install --no-cache-dir --no-deps -r {ctx}/{BUILDER_REQUIREMENTS} && "
        f'python -c "{purelib}" > "$({builder_python} -c "{purelib}")/olive-lab-app.pth" && '
        f'ln -s "$prefix/onnx-builder/bin/olive" "$(dirname "$(command -v python)")/{BUILDER_OLIVE}"',
    ]
    return "\n".join(lines) + "\n"


def job_environment(image: str) -> JobEnvironment:
    check_image(image)
    pins = _pins(JOB_LOCK)
    by_name = {canonical(p.split("==", 1)[0]): p for p in pins}
    if "torch" not in by_name:
        raise AzureError(f"locks/{JOB_LOCK}.txt pins no torch", "python scripts/lock.py writes it")
    torch = by_name["torch"]
    cuda = lock_cuda({n: p.split("==", 1)[1] for n, p in by_name.items()})
    as_is = {canonical(p.split("==", 1)[0]) for p in AS_IS}
    return JobEnvironment(
        image=image,
        lock=f"locks/{JOB_LOCK}.txt",
        torch=torch,
        cuda=cuda,
        requirements=[p for n, p in by_name.items() if n != "torch"],
        no_deps=[p for n, p in by_name.items() if n in as_is],
        builder=_pins(BUILDER),
        dockerfile=dockerfile(image, torch, cuda),
    )


def context_url(container_url: str, datastore_uri: str) -> str:
    """The blob URL of an uploaded build context (what azure-ai-ml itself puts in `build.path`)."""
    m = re.match(r"^azureml://datastores/[^/]+/paths/(.+?)/?$", datastore_uri)
    if not m:
        raise AzureError(f"{datastore_uri} is not a datastore path")
    return f"{container_url.rstrip('/')}/{m.group(1)}/"
