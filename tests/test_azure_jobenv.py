"""A remote job's environment is the project's lock: the build context installs exactly locks/cuda.txt (and the
ONNX builder's locks/cuda-builder.txt beside it) on an image of the lock's torch, CUDA line and Python, and the
fake node builds it from that context alone (its CPU stand-in: exactly locks/cpu.txt)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine.azure.jobenv import BUILDER_OLIVE, JobEnvironment, job_environment
from engine.config import AzureConfig
from engine.lock import AS_IS, BUILDER, LOCK_PYTHON, canonical, drift, lock_path, read_lock

pytestmark = pytest.mark.azure

LISTING = (
    "import json, sys, importlib.metadata as m; print(json.dumps([[d.metadata['Name'], d.version] "
    "for d in m.distributions(**({'path': sys.argv[1:]} if sys.argv[1:] else {}))]))"
)


def installed(python: Path, *path: str) -> dict[str, str]:
    out = subprocess.run([str(python), "-c", LISTING, *path], capture_output=True, text=True, check=True).stdout
    found: dict[str, str] = {}
    for name, version in json.loads(out):
        found.setdefault(canonical(name), version)
    return found


def pins_of(text: str) -> dict[str, str]:
    return {canonical(n): v for n, v in re.findall(r"(?m)^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)$", text)}


def test_the_job_installs_exactly_the_cuda_lock_on_an_image_of_its_torch_cuda_and_python() -> None:
    cuda = read_lock(lock_path("cuda"))
    env = job_environment(AzureConfig().image)
    files = env.files()
    # exactly the lock: its torch apart (kept from the image or installed), every other pin as it is
    assert pins_of(files["torch.txt"]) == {"torch": cuda["torch"]}
    assert pins_of(files["requirements.txt"]) == {n: v for n, v in cuda.items() if n != "torch"}
    assert pins_of(files["onnx-builder.txt"]) == read_lock(lock_path(BUILDER))
    assert env.no_deps == list(AS_IS) and env.lock == "locks/cuda.txt"
    # installed as the lock says, nothing resolved: every pip install is --no-deps -r, no conda
    installs = re.findall(r"-m pip install ([^;&]*)", env.dockerfile)
    assert len(installs) == 3 and all(i.startswith("--no-cache-dir --no-deps -r /olive-lab/") for i in installs)
    assert "conda" not in env.dockerfile
    # the default image is PyTorch's own of the lock's torch release and CUDA line (cuda-toolkit 13.0.x -> 13.0)
    tag = re.fullmatch(r"pytorch/pytorch:(\d+\.\d+\.\d+)-cuda(\d+\.\d+)-cudnn\d+-runtime", env.image)
    assert tag and tag.groups() == (cuda["torch"], ".".join(cuda["cuda-toolkit"].split(".")[:2])) == (
        cuda["torch"], env.cuda)  # fmt: skip
    # the build checks the image's Python against the lock's, and keeps its torch only where it is the lock's
    assert f"sys.version_info[:2] == {tuple(int(p) for p in LOCK_PYTHON.split('.'))!r}" in env.dockerfile
    assert f"torch.__version__.split('+')[0] == '{cuda['torch']}'" in env.dockerfile
    assert "(torch.version.cuda or '').split('.')[:2] == ['13', '0']" in env.dockerfile
    # the same context is the same environment version
    assert JobEnvironment.model_validate(env.model_dump()).digest == env.digest


def test_the_node_builds_the_job_environment_from_its_context_and_nothing_else(node_env_built: Path) -> None:
    from tests.fakes.azure_image import stand_in

    venv = node_env_built
    env = job_environment(AzureConfig().image)
    # the stand-in of the cuda lock is the cpu lock, name for name and version for version ...
    expected = {**pins_of(stand_in(env.files()["requirements.txt"])), "torch": read_lock(lock_path("cuda"))["torch"]}
    assert expected == read_lock(lock_path("cpu"))
    # ... and it is exactly what the node's environment holds: nothing missing, no other version, nothing more
    found = drift(expected, installed(venv / "bin" / "python"))
    assert found.clean, found.summary(20)
    # the ONNX builder: its own three pins, the app's packages behind them, its olive on the job's PATH
    builder_python = venv / "onnx-builder" / "bin" / "python"
    purelib = subprocess.run([str(builder_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    own = {n: v for n, v in installed(builder_python, purelib).items() if n not in ("pip", "setuptools")}
    assert own == read_lock(lock_path(BUILDER))
    assert (venv / "bin" / BUILDER_OLIVE).resolve() == (venv / "onnx-builder" / "bin" / "olive").resolve()
    seen = subprocess.run([str(builder_python), "-c", "import onnxruntime_genai, transformers, sys; "
                           "print(onnxruntime_genai.__version__, transformers.__version__); print(sys.path)"],
                          capture_output=True, text=True, check=True).stdout.splitlines()  # fmt: skip
    assert seen[0].split() == [read_lock(lock_path(BUILDER))["onnxruntime-genai"], expected["transformers"]]
    # nothing of the submitter's Python reaches either environment
    assert sys.prefix not in seen[1] and str(venv) in seen[1]


@pytest.mark.parametrize(
    ("version", "cuda", "kept"),
    [("2.13.0+cu130", "13.0", True), ("2.13.0", "13.0", True), ("2.13.0+cu126", "12.6", False),
     ("2.12.0+cu130", "13.0", False), ("2.13.0+cpu", None, False)],
)  # fmt: skip
def test_the_build_keeps_the_images_torch_only_where_it_is_the_locks_release_for_the_locks_cuda(
    tmp_path: Path, version: str, cuda: str | None, kept: bool
) -> None:
    """The Dockerfile's torch step under /bin/sh (as Docker runs RUN), on an image whose torch is `version` built
    for `cuda`; its pip is a stand-in that only says what it was asked."""
    step = next(
        line for line in job_environment(AzureConfig().image).dockerfile.splitlines() if "import sys, torch" in line
    )
    (tmp_path / "site" / "torch").mkdir(parents=True)
    (tmp_path / "site" / "torch" / "__init__.py").write_text(f"__version__ = {version!r}\nfrom . import version\n")
    (tmp_path / "site" / "torch" / "version.py").write_text(f"cuda = {cuda!r}\n")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").write_text(
        f'#!/bin/sh\nif [ "$1" = -m ] && [ "$2" = pip ]; then echo "$*"; exit 0; fi\nexec {sys.executable} "$@"\n'
    )
    (tmp_path / "bin" / "python").chmod(0o755)
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "PYTHONPATH": str(tmp_path / "site")}
    out = subprocess.run(["/bin/sh", "-c", step.removeprefix("RUN ")], env=env, capture_output=True, text=True,
                         check=True).stdout  # fmt: skip
    if kept:
        assert "keeping the image torch (2.13.0, CUDA 13.0)" in out and "pip" not in out
    else:
        assert out.splitlines() == ["-m pip uninstall --yes torchvision torchaudio",
                                    "-m pip install --no-cache-dir --no-deps -r /olive-lab/torch.txt"]  # fmt: skip
