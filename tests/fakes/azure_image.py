"""The fake node's image builder: a job runs only in an environment built from the job's own environment spec,
never in the submitter's interpreter.

- A Docker build context (the environment's `build`): its Dockerfile is followed step by step. `FROM` must be
  pinned (a version tag or a digest); the image it names is stood in for by a fresh virtual environment (no
  system site-packages) holding this machine's Python and its CPU torch, as the image holds its own Python and
  torch. `COPY` copies from the context, `RUN` runs with that environment first on PATH; absolute paths the
  Dockerfile creates (`COPY` destinations, such as /olive-lab/) are folders of the environment instead.
- An image with a conda file (`image` + `condaFile`): Azure ML creates a new environment from the conda file,
  so the image's torch is not used; the stand-in is a fresh virtual environment with the conda file's pip list.

This machine has no CUDA and its package index no CUDA builds, so a copied requirements file is stood in for by its
CPU twin (`stand_in`): of the project's cuda lock, the CUDA-only wheels (in locks/cuda.txt, not in locks/cpu.txt:
torch's nvidia-*, cuda-* and triton) are dropped, and `onnxruntime-gpu` / `onnxruntime-genai-cuda` become
`onnxruntime` / `onnxruntime-genai` at the cpu lock's versions; every other pin is installed exactly as written. The
cuda lock's job environment stood in for this way is exactly locks/cpu.txt (tests/test_azure_jobenv.py checks it).
The image's CUDA torch is stood in for by the CPU one; it is not a CUDA build, so a Dockerfile that keeps the
image's torch only when it is built for the lock's CUDA line installs the locked release instead (its CPU build,
which pip's configuration finds in this machine's wheel folder).

`pip install` steps run through uv (`uv pip install`, the same arguments, with pip's find-links): for pinned
requirements with --no-deps both install the same versions, and uv does it from its cache in seconds where pip
takes minutes. Nothing else of a step is changed.

Environments are built once and kept in the cache folder under the hash of what they are built from (the
fixtures give one cache a test session); concurrent nodes wait for one build.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

CPU_BUILDS = {"onnxruntime-gpu": "onnxruntime", "onnxruntime-genai-cuda": "onnxruntime-genai"}
BUILT = ".built"
RECIPE = 2  # the stand-in rules' version: an environment cached by older rules is built again
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\s*(?:\[[^\]]*\])?\s*)(.*)$")
PIP_INSTALL = re.compile(r'("[^"]*"|[^\s"]+) -m pip install')


class BuildFailed(Exception):
    def __init__(self, step: str, tail: str) -> None:
        super().__init__(f"{step}: {tail}")
        self.step = step
        self.tail = tail


@functools.cache
def _locks() -> tuple[frozenset[str], dict[str, str]]:
    """(the cuda lock's CUDA-only packages, the cpu lock's pins) from the project's locks."""
    from engine.lock import lock_path, read_lock

    cpu, cuda = read_lock(lock_path("cpu")), read_lock(lock_path("cuda"))
    return frozenset(n for n in cuda if n not in cpu and n not in CPU_BUILDS), cpu


def stand_in(text: str) -> str:
    """A requirements file as this machine can install it: CUDA-only pins dropped, the CUDA builds of ONNX Runtime
    replaced by their CPU twins at the cpu lock's versions (or the same specifier where it pins none)."""
    from engine.lock import canonical

    cuda_only, cpu = _locks()
    out = []
    for line in text.splitlines():
        m = PIN.match(line.strip())
        name = canonical(m.group(1)) if m else ""
        if name in cuda_only:
            out.append(f"# {line.strip()}: a CUDA library, stood in for by nothing (the CPU torch needs none)")
        elif name in CPU_BUILDS:
            twin = CPU_BUILDS[name]
            out.append(f"{twin}=={cpu[twin]}" if twin in cpu else f"{twin}{m.group(2)}{m.group(3)}")  # type: ignore[union-attr]
        else:
            out.append(line)
    return "".join(f"{line}\n" for line in out)


def uv() -> str:
    found = shutil.which("uv", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if not found:
        raise BuildFailed("(builder)", "the fake image builder needs uv (the dev extra installs it)")
    return found


@functools.cache
def _find_links() -> str:
    """pip's find-links (this machine's wheel folder, where the CPU torch lies), for uv, which reads no pip config."""
    if os.environ.get("PIP_FIND_LINKS"):
        return os.environ["PIP_FIND_LINKS"]
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                            check=False).stdout  # fmt: skip
    found = re.findall(r"^[^=]*find-links='([^']*)'", listed, re.MULTILINE)
    return found[0] if found else ""


def _pip_through_uv(command: str) -> str:
    """`<python> -m pip install ARGS` as `uv pip install --python <python> ARGS` (pip's --no-cache-dir dropped)."""
    if not PIP_INSTALL.search(command):
        return command
    command = PIP_INSTALL.sub(lambda m: f'"{uv()}" pip install --python "$(command -v {m.group(1)})"', command)
    return command.replace(" --no-cache-dir", "")


def local_torch() -> str:
    return importlib.metadata.version("torch")


def clean_env(venv: Path | None = None) -> dict[str, str]:
    """This process's environment without anything of the submitter's Python: no PYTHONPATH, no virtual
    environment on PATH; `venv` first on PATH when given."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.exec_prefix)}
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and not any(
        os.path.realpath(p).startswith(x + os.sep) or os.path.realpath(p) == x for x in prefixes)]  # fmt: skip
    if venv is not None:
        path.insert(0, str(venv / "bin"))
        env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = os.pathsep.join(path)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


def job_env(venv: Path, work: Path) -> dict[str, str]:
    """The environment a job's command starts with on a node: the built environment first on PATH with the
    system's folders after it, a fresh home and temporary folder under the job's own folder, a UTF-8 locale.
    A whitelist: nothing of the submitter's (or the node process's) environment."""
    home, tmp = work / "home", work / "tmp"
    home.mkdir(parents=True, exist_ok=True)
    tmp.mkdir(parents=True, exist_ok=True)
    return {"PATH": os.pathsep.join([str(venv / "bin"), *SYSTEM_PATH]), "HOME": str(home), "TMPDIR": str(tmp),
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}  # fmt: skip


def environment(spec: dict[str, Any], context: Path | None, cache: Path, log: Path) -> Path:
    """The virtual environment the job runs in (built now unless the cache has it). `spec` is the stored
    environment version's properties; `context` the downloaded build context, if it has one."""
    if spec.get("build"):
        assert context is not None
        dockerfile = (context / (spec["build"].get("dockerfilePath") or "Dockerfile")).read_text()
        files = {p.relative_to(context).as_posix(): p.read_text(errors="replace")
                 for p in sorted(context.rglob("*")) if p.is_file()}  # fmt: skip
        recipe: dict[str, object] = {"kind": "build", "files": files}
    else:
        recipe = {"kind": "conda", "conda": spec.get("condaFile") or "", "image": spec.get("image") or ""}
    recipe.update(python=sys.version, torch=local_torch(), rules=RECIPE)
    key = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    venv = cache / key
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / BUILT).is_file():
            with open(log, "a") as out:
                out.write(f"Using the environment built before ({key})\n")
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        if recipe["kind"] == "build":
            _follow_dockerfile(dockerfile, context, venv, log)  # type: ignore[arg-type]
        else:
            _conda_env(str(recipe["conda"]), venv, log)
        (venv / BUILT).write_text(key)
    return venv


def _run(step: str, argv: list[str], venv: Path | None, log: Path, cwd: Path | None = None) -> None:
    with open(log, "a") as out:
        out.write(f"Step: {step}\n")
        out.flush()
        env = {**clean_env(venv), "UV_NO_PROGRESS": "1", **({"UV_FIND_LINKS": _find_links()} if _find_links() else {})}
        code = subprocess.call(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, cwd=cwd)  # fmt: skip
        if code:
            out.write(f"The command '{step}' returned a non-zero code: {code}\n")
    if code:
        tail = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()][-6:]
        raise BuildFailed(step, "\n".join(tail))


def _base(venv: Path, log: Path) -> None:
    """The stand-in for the image: this machine's Python in a fresh environment, with its CPU torch."""
    base = getattr(sys, "_base_executable", sys.executable)
    _run(f"(image) {base} -m venv", [base, "-m", "venv", str(venv)], None, log)
    _run(f"(image) torch=={local_torch()}", [uv(), "pip", "install", "--python", str(venv / "bin" / "python"),
                                              f"torch=={local_torch()}"], venv, log)  # fmt: skip


def _follow_dockerfile(dockerfile: str, context: Path, venv: Path, log: Path) -> None:
    root = venv / "image-root"
    places: list[str] = []  # absolute folders the Dockerfile puts things in: folders of `root` here
    started = False
    for raw in re.sub(r"\\\n", " ", dockerfile).splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        op = op.upper()
        if op == "FROM":
            image = rest.split()[0]
            tail = image.rsplit("/", 1)[-1]
            if "@sha256:" not in image and (":" not in tail or tail.endswith(":latest")):
                with open(log, "a") as out:
                    out.write(f"Step: FROM {image}\nThe image is not pinned (no version tag or digest)\n")
                raise BuildFailed(f"FROM {image}", f"the base image {image} is not pinned to a version or digest")
            _base(venv, log)
            started = True
        elif not started:
            raise BuildFailed(line, "a Dockerfile starts with FROM")
        elif op == "COPY":
            *sources, dest = rest.split()
            top = "/" + dest.strip("/").split("/")[0]
            places.append(top)
            target = root / dest.lstrip("/")
            for src in sources:
                data = stand_in((context / src).read_text())
                out_path = target / Path(src).name if dest.endswith("/") else target
                out_path.parent.mkdir(parents=True, exist_ok=True)
                out_path.write_text(data)
        elif op == "RUN":
            command = _pip_through_uv(rest)
            for top in places:
                command = re.sub(rf"(?<![\w/]){re.escape(top)}(?=/)", str(root) + top, command)
            _run(f"RUN {rest}", ["bash", "-c", command], venv, log, cwd=root)
        elif op in ("ENV", "WORKDIR", "LABEL", "ARG", "USER"):
            continue  # not needed by the project's Dockerfile; accepted as Docker does
        else:
            raise BuildFailed(line, f"the fake image builder does not follow {op}")


def _conda_env(conda: str, venv: Path, log: Path) -> None:
    """A conda file's pip list in a fresh environment (Azure ML re-resolves everything on top of the image)."""
    import yaml  # a conda file is YAML

    data = yaml.safe_load(conda) or {}
    pips: list[str] = []
    for dep in data.get("dependencies") or []:
        if isinstance(dep, dict):
            pips += [str(p) for p in dep.get("pip") or []]
    _base(venv, log)
    reqs = venv / "conda-pip.txt"
    reqs.write_text(stand_in("".join(f"{p}\n" for p in pips)))
    _run("conda env create (pip section)", [uv(), "pip", "install", "--python", str(venv / "bin" / "python"),
                                            "-r", str(reqs)], venv, log)  # fmt: skip
