"""The locked package sets (locks/*.txt): which one an environment uses, whether it still matches
pyproject.toml, and how the installed set differs from it.

`bootstrap.sh` installs exactly one lock per environment with `pip install --no-deps -r`: `cpu.txt` (the cpu
flavour, one environment), `cuda.txt` (the cuda flavour's app: chat, monitoring, quantize and finetune) and
`cuda-builder.txt` (the cuda flavour's ONNX builder, a small environment laid over the app's that holds the
onnxruntime and onnxruntime-genai that Olive 0.13's ModelBuilder pass needs). `python scripts/lock.py`
writes them; each records the hash of the pyproject.toml dependencies it was made from.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from engine.gpu.cuda import torch_cuda
from engine.paths import PROJECT_ROOT

LOCKS = PROJECT_ROOT / "locks"
FLAVOURS = ("cpu", "cuda")
BUILDER = "cuda-builder"
# The environment each lock describes: the extras of pyproject.toml it covers, and whether it is complete
# (every installed distribution is in the lock) or laid over another environment.
LOCK_EXTRAS: dict[str, tuple[str, ...]] = {"cpu": ("cpu", "dev"), "cuda": ("cuda", "dev")}
HASH_LINE = re.compile(r"^# pyproject-dependencies-sha256: ([0-9a-f]{64})$", re.MULTILINE)
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)")
# The Python every lock is resolved for (scripts/lock.py), and the pins added to both flavours as they are: their
# own metadata asks for what the lock does not hold (autoawq: an old torch and triton), so every lock is installed
# with --no-deps.
LOCK_PYTHON = "3.11"
AS_IS = ("autoawq==0.2.9",)
# Installed but never locked: the packaging tools themselves and olive-lab (installed from the checkout).
UNLOCKED = {"pip", "setuptools", "wheel", "olive-lab"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pyproject_dependencies(pyproject: Path = PROJECT_ROOT / "pyproject.toml") -> dict[str, list[str]]:
    """`[project] dependencies` under "base" and each optional-dependencies extra under its name."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    return {"base": list(project.get("dependencies", [])), **project.get("optional-dependencies", {})}


def dependencies_hash(deps: Mapping[str, list[str]]) -> str:
    return hashlib.sha256(json.dumps(deps, sort_keys=True).encode()).hexdigest()


def lock_path(name: str, locks: Path = LOCKS) -> Path:
    return locks / f"{name}.txt"


def read_lock(path: Path) -> dict[str, str]:
    """canonical name -> pinned version. Raises ValueError naming the file and line of a line that is no pin."""
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        found = PIN.match(line)
        if not found:
            raise ValueError(f"{path}, line {number}: '{raw.strip()}' is not a 'name==version' pin")
        pins[canonical(found.group(1))] = found.group(2)
    return pins


def recorded_hash(path: Path) -> str | None:
    found = HASH_LINE.search(path.read_text(encoding="utf-8"))
    return found.group(1) if found else None


def base_version(version: str) -> str:
    """'2.13.0+cpu' -> '2.13.0': a local build of the locked release (the CPU torch) counts as that release."""
    return version.split("+", 1)[0]


@dataclass(frozen=True)
class Drift:
    missing: list[str]  # locked, not installed
    other: list[str]  # installed at another version: "name installed (locked X)"
    extra: list[str]  # installed, not locked (only for a complete environment)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.other or self.extra)

    def summary(self, most: int = 4) -> str:
        parts = []
        for label, items in (
            ("missing", self.missing),
            ("other versions", self.other),
            ("not in the lock", self.extra),
        ):
            if items:
                shown = ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")
                parts.append(f"{label}: {shown}")
        return "; ".join(parts)


def drift(pins: Mapping[str, str], installed: Mapping[str, str], *, complete: bool = True) -> Drift:
    """How `installed` (canonical name -> version) differs from the lock's pins."""
    missing = sorted(n for n in pins if n not in installed)
    other = sorted(
        f"{n} {installed[n]} (locked {v})"
        for n, v in pins.items()
        if n in installed and base_version(installed[n]) != base_version(v)
    )
    extra = sorted(n for n in installed if n not in pins and n not in UNLOCKED) if complete else []
    return Drift(missing, other, extra)


def installed_distributions(*, outside: Path | None = None) -> dict[str, str]:
    """canonical name -> version of every distribution on this interpreter's path (the first of a name wins);
    with `outside`, only those whose first copy does not lie in that folder (the machine's, see below)."""
    from importlib import metadata

    found: dict[str, str] = {}
    place: dict[str, Path] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and canonical(name) not in found:
            found[canonical(name)] = dist.version
            place[canonical(name)] = Path(str(dist.locate_file("")))
    if outside is None:
        return found
    return {n: v for n, v in found.items() if not _under(place[n], outside)}


def _under(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except OSError:
        return False


# ---------------------------------------------------------------- the machine's torch

# `OLIVE_LAB_SYSTEM_TORCH=1 ./bootstrap.sh` (the cuda flavour on a GPU image that brings its own torch, built
# for the image's CUDA and driver): torch, triton and the CUDA libraries are the machine's, not the lock's.
# bootstrap.sh lays the folder that holds the machine's torch under the environment (a .pth file, so every
# locked package installed in the environment comes first), installs the rest of the lock there, and writes
# that folder into MACHINE_MARKER; `doctor` then compares the lock without these packages and says whose torch
# runs.
MACHINE_MARKER = "olive-lab-machine-torch"
MACHINE_PACKAGES = re.compile(r"^(torch|torchvision|torchaudio|triton|cuda-[a-z0-9-]+|nvidia-(?!ml-py$)[a-z0-9-]+)$")


def machine_torch(prefix: str | None = None) -> Path | None:
    """The folder of the machine's torch this environment was installed over, or None (the lock's torch)."""
    import sys

    marker = Path(prefix or sys.prefix) / MACHINE_MARKER
    try:
        folder = marker.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return Path(folder) if folder else None


def without_machine(pins: Mapping[str, str]) -> dict[str, str]:
    """The lock's pins less the packages that come with the machine's torch."""
    return {n: v for n, v in pins.items() if not MACHINE_PACKAGES.match(n)}


def check_machine_torch(
    get: Callable[[str], str | None], machine: Path | None, cuda: str | None, locks: Path = LOCKS
) -> Finding | None:
    """Whose torch runs, where the environment was installed over the machine's (None: the lock's torch)."""
    if machine is None:
        return None
    name = environment_lock(get)
    locked = read_lock(lock_path(name, locks)).get("torch", "?") if lock_path(name, locks).exists() else "?"
    found = get("torch")
    if found is None:
        return ("machine torch", "fail", f"no torch in {machine} (the install was told to take the machine's)",
                "OLIVE_LAB_SYSTEM_TORCH=1 " + REINSTALL + " where the machine's python3 imports torch")  # fmt: skip
    why = (
        f"torch {found} is the machine's ({machine}; installed with OLIVE_LAB_SYSTEM_TORCH=1), not the lock's {locked}"
    )
    if name == "cuda" and (cuda or "").split(".")[0] != "13":
        return (
            "machine torch",
            "warn",
            f"{why}, and it is built for CUDA {cuda or 'none'}: the chat runtime is CUDA 13",
            "use a CUDA 13 torch, or install without OLIVE_LAB_SYSTEM_TORCH (the lock's torch)",
        )
    return ("machine torch", "ok", f"{why}; built for CUDA {cuda}, the chat runtime's CUDA", "")


def own_lookup(get: Callable[[str], str | None]) -> Callable[[str], str | None]:
    """Installed over the machine's torch, the runtimes are the environment's own and shadow any the machine
    has (an image's CPU onnxruntime): `doctor`'s flavour check reads this environment's packages only."""
    machine = machine_torch()
    if machine is None:
        return get
    own = installed_distributions(outside=machine)
    return lambda dist: own.get(canonical(dist))


def machine_torch_finding(get: Callable[[str], str | None]) -> Finding | None:
    """`check_machine_torch` for this environment (torch's CUDA read from its version.py, not imported)."""

    machine = machine_torch()
    return check_machine_torch(get, machine, torch_cuda()) if machine is not None else None


def environment_lock(get: Callable[[str], str | None]) -> str:
    """Which lock this environment follows: the cuda app's where onnxruntime-genai-cuda is installed."""
    return "cuda" if get("onnxruntime-genai-cuda") else "cpu"


# ---------------------------------------------------------------- the checks `doctor` shows

Finding = tuple[str, Literal["ok", "warn", "fail"], str, str]  # name, status, detail, fix
REINSTALL = "./bootstrap.sh install (it installs the locked set again)"
BUILDER_ENV = "onnx-builder"
BUILDER_PROBE = """
import json, importlib.metadata as m
import onnxruntime_genai
found = {}
for d in m.distributions():  # in sys.path order: the builder's own packages before the app's
    found.setdefault(d.metadata["Name"], d.version)
print(json.dumps(found))
"""


def builder_env(prefix: str | None = None) -> Path:
    """The cuda flavour's ONNX builder environment: `onnx-builder` inside the app's virtual environment."""
    import sys

    return Path(prefix or sys.prefix) / BUILDER_ENV


def builder_olive(prefix: str | None = None) -> Path | None:
    """The builder environment's `olive`, where bootstrap.sh made one (the optimize step's default)."""
    olive = builder_env(prefix) / "bin" / "olive"
    return olive if olive.exists() else None


_UNSET = Path("\0unset")


def check_lock(
    get: Callable[[str], str | None],
    installed: Mapping[str, str] | None = None,
    locks: Path = LOCKS,
    machine: Path | None = _UNSET,
) -> Finding:
    """Whether this environment holds exactly its locked set, and whether the lock matches pyproject.toml."""
    name = environment_lock(get)
    path = lock_path(name, locks)
    if not path.exists():
        return (
            "package lock",
            "ok",
            f"no {path.name} beside this installation (not a checkout): not compared",
            "",
        )
    where = f"locks/{path.name}"
    if recorded_hash(path) != dependencies_hash(pyproject_dependencies(locks.parent / "pyproject.toml")):
        return (
            "package lock",
            "warn",
            f"{where} was made from another pyproject.toml",
            "python scripts/lock.py",
        )
    machine = machine_torch() if machine is _UNSET else machine
    pins = read_lock(path)
    theirs = ""
    if machine is not None:  # the machine's torch and CUDA packages are not compared; its other packages are
        theirs = (
            f" (torch and the {len(pins) - len(without_machine(pins)) - 1} packages that come with it "
            "are the machine's)"
        )
        pins = without_machine(pins)
    if installed is None:
        found = drift(pins, installed_distributions(), complete=machine is None)
        if machine is not None:  # what this environment itself holds must all be locked
            extra = drift(pins, installed_distributions(outside=machine)).extra
            found = Drift(found.missing, found.other, extra)
    else:
        found = drift(pins, installed, complete=machine is None)
    if found.clean:
        return ("package lock", "ok", f"the installed set matches {where}{theirs}", "")
    return ("package lock", "warn", f"the installed set differs from {where}: {found.summary()}", REINSTALL)


def check_builder(
    get: Callable[[str], str | None], builder: Path | None = None, locks: Path = LOCKS, timeout: float = 60
) -> Finding:
    """The cuda flavour's ONNX builder environment: there, its onnxruntime-genai importable, at the locked set."""
    import subprocess

    if environment_lock(get) != "cuda":
        return ("onnx builder", "ok", "this environment builds ONNX models itself (the cpu flavour)", "")
    builder = builder or builder_env()
    python = builder / "bin" / "python"
    fix = "OLIVE_LAB_FLAVOUR=cuda " + REINSTALL
    if not python.exists():
        return ("onnx builder", "fail", f"{builder} is missing: the optimize step has no ONNX builder", fix)
    probe = subprocess.run(
        [str(python), "-c", BUILDER_PROBE], capture_output=True, text=True, timeout=timeout, check=False
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
        return ("onnx builder", "fail", f"{builder}: onnxruntime_genai does not import ({last})", fix)
    versions = {canonical(k): v for k, v in json.loads(probe.stdout.strip().splitlines()[-1]).items()}
    pins = read_lock(lock_path(BUILDER, locks)) if lock_path(BUILDER, locks).exists() else {}
    found = drift(pins, versions, complete=False)
    detail = ", ".join(f"{n} {versions.get(n, '-')}" for n in ("olive-ai", "onnxruntime", "onnxruntime-genai"))
    if not found.clean:
        return ("onnx builder", "warn", f"{builder} differs from locks/{BUILDER}.txt: {found.summary()}", fix)
    return ("onnx builder", "ok", f"{detail} ({builder})", "")


if __name__ == "__main__":  # bootstrap.sh: `python -m engine.lock without-machine LOCK` (the lines it installs)
    import sys

    if sys.argv[1:2] != ["without-machine"] or len(sys.argv) != 3:
        sys.exit("usage: python -m engine.lock without-machine LOCK")
    for line in Path(sys.argv[2]).read_text(encoding="utf-8").splitlines():
        pin = PIN.match(line.strip())
        if not (pin and MACHINE_PACKAGES.match(canonical(pin.group(1)))):
            print(line)
