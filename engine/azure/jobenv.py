"""The environment a remote step's job runs in: a Docker build context (a Dockerfile `FROM` a pinned
PyTorch+CUDA image and the pip requirements), so that the job keeps the image's own Python and torch.

Azure ML turns `Environment(image=..., conda_file=...)` into a fresh conda environment on top of the image
(its own Python, torch re-resolved from PyPI); a build context instead runs the Dockerfile's steps on the image
itself. The steps: check that the image's Python is the one the project needs, pin the image's torch so pip
cannot replace it, pip install the project's pins, then autoawq without its dependencies (its metadata asks
for triton and an old torch; the scale search needs neither), as bootstrap.sh does on this machine.

The pins come from one place, `job_requirements()`: today the requirements in pyproject.toml (the CUDA
flavour); once the project has a lock file, that function reads it instead.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from pydantic import BaseModel

from engine.azure.errors import AzureError

# Requirements the image already has (its torch matches its CUDA) or that a job does not need (the app).
_NOT_IN_JOB = ("torch", "textual", "azure-", "pytest", "import-linter", "mypy", "ruff")
# Installed with --no-deps, after the pins (bootstrap.sh installs the same).
NO_DEPS = ("autoawq==0.2.9",)
MIN_PYTHON = (3, 11)  # pyproject.toml's requires-python
DOCKERFILE = "Dockerfile"
REQUIREMENTS = "requirements.txt"


def job_requirements() -> list[str]:
    """The pip requirements of a job: olive-lab's own with its CUDA flavour, as pyproject.toml states them
    (the one source of a job's pins; it reads the project's lock file once there is one)."""
    import tomllib

    from packaging.requirements import Requirement

    from engine.paths import PROJECT_ROOT

    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    py = ".".join(map(str, MIN_PYTHON))
    target = {"python_version": py, "python_full_version": f"{py}.0", "sys_platform": "linux",
              "platform_system": "Linux", "extra": "cuda"}  # fmt: skip
    wanted: list[str] = []
    for line in [*project["dependencies"], *project["optional-dependencies"]["cuda"]]:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate(target):
            continue
        if not req.name.lower().startswith(_NOT_IN_JOB):
            wanted.append(f"{req.name}{req.specifier}")
    return wanted


def check_image(image: str) -> None:
    """A job's base image must be pinned (a version tag or a digest): `:latest` moves under the job."""
    tail = image.rsplit("/", 1)[-1]
    if "@sha256:" in image:
        return
    if ":" not in tail or tail.endswith(":latest"):
        raise AzureError(
            f"[azure] image = {image!r} is not pinned: a remote job's image must name a version tag or a digest",
            "set [azure] image in lab.toml to a versioned tag (for example pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime) "
            "or to image@sha256:<digest>",
        )


class JobEnvironment(BaseModel):
    """A job's environment as `--dry-run` prints it and as its build context is written."""

    image: str
    requirements: list[str]
    no_deps: list[str]
    dockerfile: str

    @property
    def digest(self) -> str:
        """The environment's version: the same context is the same environment (built once by Azure ML)."""
        return hashlib.sha256(json.dumps(self.files(), sort_keys=True).encode()).hexdigest()[:32]

    def files(self) -> dict[str, str]:
        return {DOCKERFILE: self.dockerfile, REQUIREMENTS: "".join(f"{r}\n" for r in self.requirements)}

    def write(self, folder: Path) -> Path:
        """The build context in `folder` (the Dockerfile and the requirements it installs)."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in self.files().items():
            (folder / name).write_text(text)
        return folder


def job_environment(image: str) -> JobEnvironment:
    check_image(image)
    requirements = job_requirements()
    py = ".".join(map(str, MIN_PYTHON))
    no_deps = " ".join(f'"{r}"' for r in NO_DEPS)
    lines = [
        f"FROM {image}",
        f"COPY {REQUIREMENTS} /olive-lab/{REQUIREMENTS}",
        # the image's Python must be the project's; a wrong image fails the build here, in a line that says so
        f'RUN python -c "import sys; assert sys.version_info >= {MIN_PYTHON!r}, '
        f"'olive-lab needs Python {py} or newer; the image has ' + sys.version\"",
        # the image's torch (built for its CUDA) stays: pip may not replace it
        "RUN python -c \"import torch; print('torch==' + torch.__version__)\" > /olive-lab/keep-torch.txt",
        f"RUN python -m pip install --no-cache-dir -r /olive-lab/{REQUIREMENTS} -c /olive-lab/keep-torch.txt",
        f"RUN python -m pip install --no-cache-dir --no-deps {no_deps}",
    ]
    return JobEnvironment(
        image=image, requirements=requirements, no_deps=list(NO_DEPS), dockerfile="\n".join(lines) + "\n"
    )


def context_url(container_url: str, datastore_uri: str) -> str:
    """The blob URL of an uploaded build context (what azure-ai-ml itself puts in `build.path`)."""
    m = re.match(r"^azureml://datastores/[^/]+/paths/(.+?)/?$", datastore_uri)
    if not m:
        raise AzureError(f"{datastore_uri} is not a datastore path")
    return f"{container_url.rstrip('/')}/{m.group(1)}/"
