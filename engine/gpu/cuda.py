"""The CUDA flavour's prerequisites on this machine, each named when missing (read by `doctor`).

The cuda flavour's chat runtime (onnxruntime-gpu and onnxruntime-genai-cuda of the CUDA 13 line) needs CUDA
13's runtime libraries (`engine.requirements.CUDA_LIBRARIES`, each with the pip package that ships it), an
NVIDIA driver new enough for the newest CUDA in play (the chat runtime's and the installed torch's, read from
torch's own `version.py` without importing torch), and enough GPU memory for the profile's quantize and
finetune steps. The library search follows the dynamic
loader (LD_LIBRARY_PATH, the loader cache, the usual folders) plus the `nvidia/*/lib` folders of pip's CUDA
packages; `search_path` replaces all of it (tests use a fake library folder).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.gpu.nvml import NVML
from engine.requirements import CHAT_RUNTIME_CUDA, CUDA_LIBRARIES, CUDA_MIN_DRIVER, GB, needs

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


def torch_cuda() -> str | None:
    """The CUDA version the installed torch was built for ('13.0'), None for a CPU build or no torch.

    Read from torch/version.py (which the build writes) so that `doctor` does not import torch."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    version = Path(next(iter(spec.submodule_search_locations))) / "version.py"
    try:
        found = re.search(r"^cuda\s*(?::[^=]*)?=\s*['\"]([\d.]+)['\"]", version.read_text(), re.MULTILINE)
    except OSError:
        return None
    return found.group(1) if found else None


def driver_floor(in_play: Mapping[str, int]) -> tuple[tuple[int, int], str]:
    """The oldest driver that runs every CUDA major in play ({what: major}) and the one that sets it."""
    what, major = max(in_play.items(), key=lambda kv: CUDA_MIN_DRIVER.get(kv[1], (0, 0)))
    return CUDA_MIN_DRIVER.get(major, (0, 0)), f"{what} (CUDA {major})"


def _version(text: str) -> tuple[int, int]:
    parts = [int(p) for p in text.split(".")[:2] if p.isdigit()]
    padded = [*parts, 0, 0]
    return padded[0], padded[1]


def cuda_findings(
    profile: str,
    *,
    driver: str | None,
    vram_gb: float | None,
    search_path: Sequence[Path] | None = None,
    in_play: Mapping[str, int] | None = None,
) -> list[Finding]:
    """The driver against the floor of the CUDA releases in play, each library the chat runtime loads, and GPU
    memory for the profile. `in_play` maps what needs CUDA to its major release (default: the chat runtime)."""
    in_play = in_play or {"the chat runtime": CHAT_RUNTIME_CUDA}
    floor, why = driver_floor(in_play)
    low = ".".join(map(str, floor))
    out: list[Finding] = []
    if driver is None:
        out.append(
            Finding("cuda driver", "fail", "no NVIDIA driver answered", f"install the NVIDIA driver ({low} or newer)")
        )
    elif _version(driver) < floor:
        out.append(
            Finding(
                "cuda driver",
                "fail",
                f"driver {driver} is older than {why} needs ({low})",
                f"update the NVIDIA driver to {low} or newer",
            )
        )
    else:
        out.append(Finding("cuda driver", "ok", f"driver {driver} (at least {low} for {why})"))
    for name, where in find_libraries(CUDA_LIBRARIES, search_path).items():
        package, users = CUDA_LIBRARIES[name]
        if where is None:
            out.append(
                Finding(
                    f"cuda {name}",
                    "fail",
                    f"{name} not found ({users} load it)",
                    f"pip install {package} (its lib folder is found under site-packages/nvidia), or add a CUDA "
                    f"{CHAT_RUNTIME_CUDA} runtime's lib64 to LD_LIBRARY_PATH",
                )
            )
        else:
            out.append(Finding(f"cuda {name}", "ok", f"{where} ({package}; {users})"))
    need = needs(profile).vram
    if vram_gb is not None and driver is not None:
        detail = f"{vram_gb:.0f} GB on the largest GPU; the {profile} profile needs about {need / GB:.0f} GB"
        if vram_gb * GB < need:
            out.append(Finding("gpu memory", "fail", detail, "use a GPU with more memory, or the demo profile"))
        else:
            out.append(Finding("gpu memory", "ok", detail))
    return out


def machine_findings(profile: str, search_path: Sequence[Path] | None = None) -> list[Finding]:
    """`cuda_findings` for this machine, read through the one NVML gateway."""

    status = NVML.status()
    totals = [r.memory_total_mib for r in NVML.read_all(lambda _pid: None) if r.memory_total_mib]
    vram = max(totals) * 1024 * 1024 / GB if totals else None
    in_play = {"the chat runtime": CHAT_RUNTIME_CUDA}
    built_for = torch_cuda()
    if built_for:
        in_play["torch"] = _version(built_for)[0]
    return cuda_findings(profile, driver=status.driver_version, vram_gb=vram, search_path=search_path, in_play=in_play)
