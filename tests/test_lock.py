"""The locked package sets (locks/): they match pyproject.toml, and `doctor` says when an environment differs."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement

from engine.lock import (
    BUILDER,
    LOCK_EXTRAS,
    LOCKS,
    builder_env,
    check_builder,
    check_lock,
    dependencies_hash,
    drift,
    lock_path,
    pyproject_dependencies,
    read_lock,
    recorded_hash,
)
from engine.paths import PROJECT_ROOT
from engine.requirements import CUDA_LIBRARIES
from engine.steps.commands import find_olive

TARGET = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux",
          "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix"}  # fmt: skip
CPU_GET = {"onnxruntime-genai": "0.14.1"}.get
CUDA_GET = {"onnxruntime-genai-cuda": "0.18.0"}.get


@pytest.mark.parametrize("flavour", sorted(LOCK_EXTRAS))
def test_each_lock_satisfies_pyproject(flavour: str) -> None:
    """The test command's lock check: made from today's pyproject.toml, and every requirement it names is met."""
    path = lock_path(flavour)
    deps = pyproject_dependencies()
    assert recorded_hash(path) == dependencies_hash(deps), "pyproject.toml changed: run python scripts/lock.py"
    pins = read_lock(path)
    for spec in deps["base"] + [d for extra in LOCK_EXTRAS[flavour] for d in deps[extra]]:
        req = Requirement(spec)
        if req.marker and not req.marker.evaluate(TARGET):
            continue
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{path.name} lacks {req.name} (pyproject.toml: {spec})"
        assert req.specifier.contains(pins[name], prereleases=True), f"{path.name}: {name}=={pins[name]} ∉ {spec}"


def test_the_flavours_hold_their_own_runtimes_and_torch_is_one_release() -> None:
    cpu, cuda, builder = (read_lock(lock_path(n)) for n in ("cpu", "cuda", BUILDER))
    assert cpu["torch"] == cuda["torch"]  # `torch==X`: the CPU build where pip finds one, else the CUDA build
    assert "onnxruntime-genai-cuda" not in cpu and "onnxruntime-genai" not in cuda
    assert not [n for n in cpu if n.startswith(("nvidia-cu", "nvidia-cudnn", "cuda-", "triton"))]
    # the cuda lock ships every library the chat runtime loads, through torch's CUDA dependencies
    assert {package for package, _ in CUDA_LIBRARIES.values()} <= set(cuda)
    # the builder is Olive's ModelBuilder at the cpu flavour's versions (onnxruntime-genai 0.14)
    assert builder == {n: cpu[n] for n in builder} and builder["onnxruntime-genai"].startswith("0.14.")
    assert Marker("python_version >= '3.11'").evaluate(TARGET)


def test_a_bad_lock_line_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "cpu.txt"
    bad.write_text("# header\ntorch==2.13.0\ntextual>=8\n")
    with pytest.raises(ValueError, match=r"cpu.txt, line 3: 'textual>=8' is not a 'name==version' pin"):
        read_lock(bad)


def test_drift_names_what_is_missing_other_and_extra() -> None:
    pins = {"torch": "2.13.0", "textual": "8.2.8", "rich": "15.0.0"}
    installed = {
        "torch": "2.13.0+cpu",
        "textual": "8.2.7",
        "hypothesis": "6.1",
        "pip": "25.0",
        "olive-lab": "0.1",
    }
    found = drift(pins, installed)
    assert (found.missing, found.other, found.extra) == (
        ["rich"],
        ["textual 8.2.7 (locked 8.2.8)"],
        ["hypothesis"],
    )
    assert "missing: rich" in found.summary() and "not in the lock: hypothesis" in found.summary()
    assert drift(pins, {**installed, "rich": "15.0.0", "textual": "8.2.8"}, complete=False).clean


def _locks(tmp_path: Path) -> Path:
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(LOCKS, tmp_path / "locks")
    return tmp_path / "locks"


def test_doctor_says_when_the_installed_set_differs_from_the_lock(tmp_path: Path) -> None:
    locks = _locks(tmp_path)
    pins = read_lock(lock_path("cpu", locks))
    assert check_lock(CPU_GET, pins, locks)[1:3] == ("ok", "the installed set matches locks/cpu.txt")
    _, status, detail, fix = check_lock(CPU_GET, {**pins, "textual": "8.1.0"}, locks)
    assert status == "warn" and f"textual 8.1.0 (locked {pins['textual']})" in detail and "bootstrap.sh" in fix
    assert "locks/cuda.txt" in check_lock(CUDA_GET, pins, locks)[2]  # the cuda app follows its own lock


def test_doctor_says_when_the_lock_is_older_than_pyproject(tmp_path: Path) -> None:
    locks = _locks(tmp_path)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"psutil>=5.9"', '"psutil>=6"'))
    _, status, detail, fix = check_lock(CPU_GET, {}, locks)
    assert status == "warn" and "another pyproject.toml" in detail and fix == "python scripts/lock.py"


def test_doctor_checks_the_cuda_flavours_onnx_builder(tmp_path: Path) -> None:
    assert check_builder(CPU_GET)[1] == "ok"  # the cpu flavour builds in its own environment
    builder = tmp_path / "venv" / "onnx-builder"
    _, status, detail, _ = check_builder(CUDA_GET, builder)
    assert status == "fail" and "the optimize step has no ONNX builder" in detail
    (builder / "bin").mkdir(parents=True)
    python = builder / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')  # this environment holds the builder's set
    python.chmod(0o755)
    _, status, detail, _ = check_builder(CUDA_GET, builder)
    assert status == "ok" and "onnxruntime-genai 0.14.1" in detail


def test_the_optimize_step_runs_the_builders_olive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.delenv("OLIVE_LAB_OLIVE", raising=False)
    env = {"PATH": ""}
    assert find_olive(None, env, builds_onnx=True)[1] != "the ONNX builder's environment"
    olive = builder_env() / "bin" / "olive"
    olive.parent.mkdir(parents=True)
    olive.write_text("#!/bin/sh\n")
    assert find_olive(None, env, builds_onnx=True) == (str(olive), "the ONNX builder's environment")
    assert find_olive(None, env)[0] != str(olive)  # finetune keeps the app's olive
    assert find_olive("/opt/olive", env, builds_onnx=True)[0] == "/opt/olive"  # a setting still wins


def test_over_the_machines_torch_doctor_compares_the_rest_and_says_whose_torch_runs(tmp_path: Path) -> None:
    from engine.lock import MACHINE_MARKER, check_machine_torch, machine_torch, without_machine

    locks = _locks(tmp_path)
    pins = read_lock(lock_path("cuda", locks))
    rest = without_machine(pins)
    assert "torch" not in rest and "triton" not in rest and "nvidia-cublas" not in rest
    assert "nvidia-ml-py" in rest and "onnxruntime-gpu" in rest  # NVML's binding and the runtimes are the lab's
    machine = tmp_path / "image" / "site-packages"
    # the image's torch 2.11 (CUDA 13.0) and its CUDA libraries under the lab's locked set: green, and said
    image = {**rest, "torch": "2.11.0+cu130", "triton": "3.6.0", "nvidia-cublas": "13.0.0"}
    _, status, detail, _ = check_lock(CUDA_GET, image, locks, machine=machine)
    assert status == "ok" and "matches locks/cuda.txt" in detail and "are the machine's" in detail
    assert check_lock(CUDA_GET, image, locks, machine=None)[1] == "warn"  # without the choice it is drift
    _, status, detail, _ = check_lock(CUDA_GET, {**image, "transformers": "5.17.0"}, locks, machine=machine)
    assert status == "warn" and f"transformers 5.17.0 (locked {pins['transformers']})" in detail
    get = {**image, "onnxruntime-genai-cuda": "0.18.0"}.get
    _, status, detail, _ = check_machine_torch(get, machine, "13.0", locks)  # type: ignore[misc]
    assert status == "ok" and f"torch 2.11.0+cu130 is the machine's ({machine}" in detail
    assert f"not the lock's {pins['torch']}" in detail
    assert check_machine_torch(get, machine, "12.8", locks)[1] == "warn"  # type: ignore[index]
    assert check_machine_torch(get, None, "13.0", locks) is None  # the lock's own torch: nothing to say
    venv = tmp_path / "venv"
    venv.mkdir()
    assert machine_torch(str(venv)) is None
    (venv / MACHINE_MARKER).write_text(f"{machine}\n")
    assert machine_torch(str(venv)) == machine


def test_bootstrap_leaves_the_machines_torch_and_cuda_packages_out_of_what_it_installs() -> None:
    import subprocess

    out = subprocess.run(
        [sys.executable, "-m", "engine.lock", "without-machine", str(lock_path("cuda"))],
        capture_output=True, text=True, cwd=PROJECT_ROOT, check=True,
    ).stdout  # fmt: skip
    names = {line.split("==")[0] for line in out.splitlines() if "==" in line}
    assert names == set(
        without_machine_names := {n for n in read_lock(lock_path("cuda"))}
        - {n for n in read_lock(lock_path("cuda")) if n in ("torch", "triton") or n.startswith(("cuda-", "nvidia-"))}
        | {"nvidia-ml-py"}
    )
    assert "onnxruntime-gpu" in without_machine_names
