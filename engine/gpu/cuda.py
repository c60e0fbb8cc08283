"""The CUDA flavour's prerequisites on this machine, each named when missing (read by `doctor`).

The pins allow one CUDA build of the chat runtime, onnxruntime-genai-cuda 0.14.1, and it needs CUDA 12's
runtime libraries (`engine.requirements.CUDA_LIBRARIES`), an NVIDIA driver new enough for CUDA 12, and
enough GPU memory for the profile's quantize and finetune steps. The library search follows the dynamic
loader (LD_LIBRARY_PATH, the loader cache, the usual folders) plus the `nvidia/*/lib` folders of pip's CUDA
packages; `search_path` replaces all of it (tests use a fake library folder).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.requirements import CUDA12_MIN_DRIVER, CUDA_LIBRARIES, GB, needs

STANDARD_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib", "/usr/local/cuda/lib64", "/lib64")


@dataclass(frozen=True)
class Finding:
    name: str
    status: str  # ok, warn, fail
    detail: str
    fix: str = ""


def library_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    """Where the dynamic loader (and onnxruntime's own preloading) looks for CUDA libraries."""
    env = os.environ if env is None else env
    dirs = [Path(p) for p in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
    for site in sys.path:
        nvidia = Path(site) / "nvidia"
        if nvidia.is_dir():
            dirs += sorted(p for p in nvidia.glob("*/lib") if p.is_dir())
    dirs += [Path(d) for d in STANDARD_DIRS]
    return dirs


def _loader_cache() -> set[str]:
    try:
        out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {line.split()[0] for line in out.splitlines()[1:] if line.strip()}


def find_libraries(names: Iterable[str], search_path: Sequence[Path] | None = None) -> dict[str, Path | None]:
    """Each soname's location, or None. With `search_path`, only those folders are searched."""
    cached = _loader_cache() if search_path is None else set()
    dirs = library_dirs() if search_path is None else list(search_path)
    found: dict[str, Path | None] = {}
    for name in names:
        hit = next((d / name for d in dirs if (d / name).exists()), None)
        if hit is None and name in cached:
            hit = Path(name)  # known to the loader cache
        found[name] = hit
    return found


def _driver_ok(version: str) -> bool:
    parts = [int(p) for p in version.split(".")[:2] if p.isdigit()]
    return tuple(parts + [0] * (2 - len(parts))) >= CUDA12_MIN_DRIVER


def cuda_findings(
    profile: str,
    *,
    driver: str | None,
    vram_gb: float | None,
    search_path: Sequence[Path] | None = None,
) -> list[Finding]:
    """The CUDA flavour's prerequisites: the driver, each CUDA 12 library, and GPU memory for the profile."""
    out: list[Finding] = []
    if driver is None:
        out.append(
            Finding(
                "cuda driver",
                "fail",
                "no NVIDIA driver answered",
                "install the NVIDIA driver (525.60 or newer)",
            )
        )
    elif not _driver_ok(driver):
        low = ".".join(map(str, CUDA12_MIN_DRIVER))
        out.append(
            Finding(
                "cuda driver",
                "fail",
                f"driver {driver} is older than CUDA 12 needs ({low})",
                "update the NVIDIA driver",
            )
        )
    else:
        out.append(Finding("cuda driver", "ok", f"driver {driver}"))
    for name, where in find_libraries(CUDA_LIBRARIES, search_path).items():
        if where is None:
            package = CUDA_LIBRARIES[name]
            out.append(
                Finding(
                    f"cuda {name}",
                    "fail",
                    f"{name} not found (onnxruntime-genai-cuda 0.14.1 needs CUDA 12's libraries)",
                    f"pip install {package}, or install the CUDA 12 runtime and add its lib64 to LD_LIBRARY_PATH",
                )
            )
        else:
            out.append(Finding(f"cuda {name}", "ok", str(where)))
    need = needs(profile).vram
    if vram_gb is not None and driver is not None:
        detail = f"{vram_gb:.0f} GB on the largest GPU; the {profile} profile needs about {need / GB:.0f} GB"
        if vram_gb * GB < need:
            out.append(
                Finding("gpu memory", "fail", detail, "use a GPU with more memory, or the demo profile")
            )
        else:
            out.append(Finding("gpu memory", "ok", detail))
    return out


def machine_findings(profile: str, search_path: Sequence[Path] | None = None) -> list[Finding]:
    """`cuda_findings` for this machine, read through the one NVML gateway."""
    from engine.gpu.nvml import NVML

    status = NVML.status()
    totals = [r.memory_total_mib for r in NVML.read_all(lambda _pid: None) if r.memory_total_mib]
    vram = max(totals) * 1024 * 1024 / GB if totals else None
    return cuda_findings(profile, driver=status.driver_version, vram_gb=vram, search_path=search_path)
