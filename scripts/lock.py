"""Refresh the locked package sets in locks/ from pyproject.toml (uv resolves; needs the package index).

    python scripts/lock.py            # rewrite locks/cpu.txt, locks/cuda.txt, locks/cuda-builder.txt

Each flavour is resolved for Linux x86-64 and Python 3.11, with torch held at TORCH:
- cuda.txt: the cuda flavour's app environment, with the index's torch (a CUDA 13 build) and the CUDA 13
  libraries it brings (the same ones onnxruntime-gpu and onnxruntime-genai-cuda load);
- cpu.txt: the cpu flavour, with torch's CUDA-only dependencies left out (a CPU build of torch needs none);
- cuda-builder.txt: the ONNX builder laid over the cuda app environment: olive-ai, onnxruntime and
  onnxruntime-genai at cpu.txt's versions (Olive 0.13's ModelBuilder pass needs onnxruntime-genai 0.14).
autoawq is added to both flavours as is (installed without its dependencies; its metadata asks for an old torch).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.lock import (
    AS_IS,
    BUILDER,
    LOCK_EXTRAS,
    LOCK_PYTHON,
    LOCKS,
    ROOT,
    dependencies_hash,
    lock_path,
    pyproject_dependencies,
    read_lock,
)

TORCH = "2.13.0"  # a CPU build of it lies in these machines' local wheel folder
PYTHON = LOCK_PYTHON
PLATFORM = "x86_64-manylinux_2_28"
NO_DEPS = list(AS_IS)
# The index's torch is a CUDA build; these of its dependencies serve CUDA alone, so the cpu lock leaves them out.
CUDA_ONLY = [
    "cuda-toolkit",
    "cuda-bindings",
    "nvidia-cudnn-cu13",
    "nvidia-cusparselt-cu13",
    "nvidia-nccl-cu13",
    "nvidia-nvshmem-cu13",
    "triton",
]
BUILDER_PACKAGES = ("olive-ai", "onnxruntime", "onnxruntime-genai")


def uv() -> str:
    found = shutil.which("uv", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if not found:
        sys.exit("uv is not installed: pip install 'uv>=0.13,<0.14' (the dev extra has it)")
    return found


def header(name: str, what: str, digest: str) -> str:
    return (
        f"# olive-lab's locked set: {what}.\n"
        "# Made by `python scripts/lock.py` from pyproject.toml; bootstrap.sh installs exactly these with\n"
        "# `pip install --no-deps -r`. Do not edit by hand.\n"
        f"# pyproject-dependencies-sha256: {digest}\n"
    )


def compile_flavour(flavour: str, work: Path) -> list[str]:
    constraints = work / "constraints.txt"
    constraints.write_text(f"torch=={TORCH}\n")
    overrides = work / "overrides.txt"
    overrides.write_text("".join(f"{n} ; sys_platform == 'never'\n" for n in CUDA_ONLY) if flavour == "cpu" else "")
    out = work / f"{flavour}.txt"
    if lock_path(flavour).exists():  # uv keeps the versions its output file already names, where they still fit
        shutil.copyfile(lock_path(flavour), out)
    argv = [uv(), "pip", "compile", str(ROOT / "pyproject.toml"), "--python-version", PYTHON, "--python-platform",
            PLATFORM, "--no-header", "--no-annotate", "--quiet", "-c", str(constraints), "--override",
            str(overrides), "-o", str(out)]  # fmt: skip
    for extra in LOCK_EXTRAS[flavour]:
        argv += ["--extra", extra]
    subprocess.run(argv, check=True)
    return [line for line in out.read_text().splitlines() if line and not line.startswith("#")]


def main() -> int:
    digest = dependencies_hash(pyproject_dependencies())
    LOCKS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for flavour, what in (("cpu", "the cpu flavour"), ("cuda", "the cuda flavour's app environment")):
            pins = compile_flavour(flavour, Path(tmp))
            body = "\n".join(sorted(pins + NO_DEPS, key=str.lower)) + "\n"
            lock_path(flavour).write_text(header(flavour, what, digest) + body)
    cpu = read_lock(lock_path("cpu"))
    builder = "".join(f"{name}=={cpu[name]}\n" for name in BUILDER_PACKAGES)
    lock_path(BUILDER).write_text(
        header(BUILDER, "the cuda flavour's ONNX builder, laid over its app environment", digest) + builder
    )
    for name in ("cpu", "cuda", BUILDER):
        print(f"{lock_path(name).relative_to(ROOT)}: {len(read_lock(lock_path(name)))} packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
