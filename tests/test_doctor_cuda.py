"""`doctor`'s CUDA prerequisites, each named when missing (engine/gpu/cuda.py), against a fake library path."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine.config import build_config
from engine.doctor import check_cuda, check_packages
from engine.gpu.cuda import cuda_findings, find_libraries
from engine.requirements import CUDA_LIBRARIES


def _libs(folder: Path, names) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"\x7fELF")
    return folder


def _by_name(findings):
    return {f.name: f for f in findings}


def test_all_present_on_a_good_machine(tmp_path):
    libs = _libs(tmp_path / "lib", CUDA_LIBRARIES)
    found = _by_name(cuda_findings("phi35", driver="580.159.04", vram_gb=141, search_path=[libs]))
    assert {f.status for f in found.values()} == {"ok"}
    assert found["cuda libcufft.so.12"].detail.startswith(f"{libs / 'libcufft.so.12'} (nvidia-cufft;")
    assert "141 GB" in found["gpu memory"].detail


@pytest.mark.parametrize("missing", sorted(CUDA_LIBRARIES))
def test_each_missing_library_is_named_with_its_package(tmp_path, missing):
    libs = _libs(tmp_path / "lib", [n for n in CUDA_LIBRARIES if n != missing])
    found = _by_name(cuda_findings("demo", driver="580.159.04", vram_gb=24, search_path=[libs]))
    failed = [f for f in found.values() if f.status == "fail"]
    assert [f.name for f in failed] == [f"cuda {missing}"]
    package, users = CUDA_LIBRARIES[missing]
    assert missing in failed[0].detail and users in failed[0].detail and f"pip install {package}" in failed[0].fix


def test_a_cuda12_only_machine_lacks_the_cuda13_libraries(tmp_path):
    """CUDA 12's libraries (what onnxruntime-genai-cuda 0.14.1 linked) are none of the sonames the chat runtime
    needs."""
    libs = _libs(tmp_path / "cuda12", ["libcublas.so.12", "libcublasLt.so.12", "libcudart.so.12", "libcufft.so.11"])
    assert set(find_libraries(CUDA_LIBRARIES, [libs]).values()) == {None}


def test_the_library_search_reads_every_folder_in_order(tmp_path):
    first = _libs(tmp_path / "a", ["libcudart.so.12"])
    second = _libs(tmp_path / "b", ["libcudart.so.12", "libcufft.so.11"])
    found = find_libraries(["libcudart.so.12", "libcufft.so.11", "libcublas.so.12"], [first, second])
    assert found == {
        "libcudart.so.12": first / "libcudart.so.12",
        "libcufft.so.11": second / "libcufft.so.11",
        "libcublas.so.12": None,
    }


@pytest.mark.parametrize(
    ("driver", "status"),
    [(None, "fail"), ("470.256.02", "fail"), ("550.54.15", "fail"), ("580.65.06", "ok"), ("580.159.04", "ok")],
)
def test_the_driver_must_be_new_enough_for_cuda13(tmp_path, driver, status):
    found = _by_name(cuda_findings("demo", driver=driver, vram_gb=None, search_path=[tmp_path]))
    assert found["cuda driver"].status == status
    if status == "fail" and driver:
        assert "the chat runtime (CUDA 13) needs (580.65)" in found["cuda driver"].detail


def test_the_driver_floor_is_the_newest_cuda_in_play(tmp_path):
    """A CUDA 12 torch beside the CUDA 13 chat runtime still needs CUDA 13's driver; torch's own is named too."""
    both = {"the chat runtime": 13, "torch": 12}
    found = _by_name(cuda_findings("demo", driver="550.54.15", vram_gb=None, search_path=[tmp_path], in_play=both))
    assert found["cuda driver"].status == "fail" and "(CUDA 13)" in found["cuda driver"].detail
    old = _by_name(
        cuda_findings("demo", driver="530.30.02", vram_gb=None, search_path=[tmp_path], in_play={"torch": 12})
    )
    assert old["cuda driver"].status == "ok" and "torch (CUDA 12)" in old["cuda driver"].detail


def test_torch_cuda_is_read_from_torch_without_importing_it(tmp_path, monkeypatch):
    from engine.gpu import cuda

    package = tmp_path / "torch"
    package.mkdir()
    (package / "__init__.py").write_text("raise ImportError('torch must not be imported')\n")
    (package / "version.py").write_text("__version__ = '2.13.0'\ncuda: Optional[str] = '13.0'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert cuda.torch_cuda() == "13.0"
    (package / "version.py").write_text("__version__ = '2.13.0+cpu'\ncuda: Optional[str] = None\n")
    assert cuda.torch_cuda() is None


def test_gpu_memory_for_the_profile(tmp_path):
    small = _by_name(cuda_findings("phi35", driver="580.1", vram_gb=8, search_path=[tmp_path]))
    assert small["gpu memory"].status == "fail" and "needs about 16 GB" in small["gpu memory"].detail
    assert (
        _by_name(cuda_findings("demo", driver="550.1", vram_gb=8, search_path=[tmp_path]))["gpu memory"].status == "ok"
    )


def test_doctor_checks_cuda_only_where_cuda_is_in_play(tmp_path):
    cpu = build_config("phi35")
    assert check_cuda(cpu, {"onnxruntime-genai-cuda": None, "onnxruntime-gpu": None}, [tmp_path]) == []
    checks = check_cuda(cpu, {"onnxruntime-genai-cuda": "0.18.0", "onnxruntime-gpu": "1.31.1"}, [tmp_path])
    names = {c.name for c in checks}
    assert {f"cuda {n}" for n in CUDA_LIBRARIES} <= names and "cuda driver" in names
    assert all(c.status == "fail" for c in checks if c.name.startswith("cuda lib"))


def test_a_gpu_target_without_the_cuda_chat_runtime_is_a_warning(tmp_path):
    gpu = build_config("phi35", {"optimize": {"device": "gpu", "provider": "CUDAExecutionProvider"}})
    checks = {c.name: c for c in check_cuda(gpu, {"onnxruntime-genai-cuda": None}, [tmp_path])}
    assert checks["cuda chat"].status == "warn" and "onnxruntime-genai-cuda" in checks["cuda chat"].fix


def test_onnxruntime_and_onnxruntime_gpu_together_fail():
    versions = {"onnxruntime": "1.22.0", "onnxruntime-gpu": "1.22.0", "onnxruntime-genai": "0.14.1"}
    checks = {c.name: c for c in check_packages(lambda d: versions.get(d, "1.0"))}
    assert checks["package onnxruntime"].status == "fail"
    assert "onnxruntime-gpu" in checks["package onnxruntime"].detail
