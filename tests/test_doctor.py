"""`olive-lab doctor`: the version sets known to break the pipeline, and a real run on this machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from engine.config import PHI35_MODEL, build_config
from engine.doctor import (
    Check,
    VersionLookup,
    check_azure,
    check_hub,
    check_olive,
    check_packages,
    olive_executable,
    run_checks,
    worst,
)
from engine.paths import PROJECT_ROOT, LabPaths

GOOD = {
    "olive-ai": "0.13.0",
    "torch": "2.13.0+cpu",
    "transformers": "5.24.0",
    "peft": "0.21.2",
    "datasets": "5.2.0",
    "pydantic": "2.14.4",
    "psutil": "7.2.2",
    "onnxruntime": "1.32.0",
    "onnxruntime-genai": "0.14.1",
    "autoawq": "0.2.9",
}


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.name: c for c in checks}


def failures(versions: Mapping[str, str | None] | VersionLookup) -> list[Check]:
    return [c for c in check_packages(versions) if c.status == "fail"]


def test_the_working_set_passes() -> None:
    assert failures(GOOD) == []


@pytest.mark.parametrize("genai", ["0.15.0", "0.16.2", "0.18.0rc1"])
def test_genai_015_and_newer_with_olive_013_fails_with_the_pin(genai: str) -> None:
    (fail,) = failures({**GOOD, "onnxruntime-genai": genai})
    assert fail.name == "olive-ai + onnxruntime-genai" and genai in fail.detail
    assert fail.fix == "pip install 'onnxruntime-genai>=0.14.1,<0.15'"


def test_the_cuda_flavours_newer_chat_runtime_is_no_failure() -> None:
    """The cuda app environment's onnxruntime-genai-cuda is of the CUDA 13 line (0.15+): its ONNX builder lives in
    its own environment (the 'onnx builder' check), so only a CPU onnxruntime-genai that Olive builds with fails."""
    cuda = {**GOOD, "onnxruntime-genai": None, "onnxruntime-genai-cuda": "0.18.0", "onnxruntime": None,
            "onnxruntime-gpu": "1.31.1"}  # fmt: skip
    assert failures(cuda) == []
    (fail,) = failures({**GOOD, "onnxruntime-genai": "0.16.0"})
    assert fail.fix == "pip install 'onnxruntime-genai>=0.14.1,<0.15'"


def test_genai_015_is_fine_with_a_newer_olive() -> None:
    assert failures({**GOOD, "olive-ai": "0.14.0", "onnxruntime-genai": "0.15.0"}) == []


def test_transformers_451_with_genai_0141_fails() -> None:
    (fail,) = failures({**GOOD, "transformers": "4.51.3"})
    assert fail.name == "transformers + onnxruntime-genai" and "4.51.3" in fail.detail
    assert "transformers>=4.57.6" in fail.fix
    assert failures({**GOOD, "transformers": "4.57.6"}) == []


@pytest.mark.parametrize(
    ("base", "other"), [("onnxruntime", "onnxruntime-gpu"), ("onnxruntime-genai", "onnxruntime-genai-cuda")]
)
def test_both_flavours_installed_fails(base: str, other: str) -> None:
    (fail,) = failures({**GOOD, other: GOOD[base]})
    assert fail.name == f"package {base}" and "both" in fail.detail
    assert fail.fix.startswith(f"pip uninstall -y {base} {other}")


def test_missing_packages_fail_with_an_install_command() -> None:
    checks = by_name(check_packages({**GOOD, "olive-ai": None, "onnxruntime-genai": None}))
    assert checks["package olive-ai"].status == "fail" and checks["package olive-ai"].fix == "pip install 'olive-ai'"
    assert checks["package onnxruntime-genai"].fix == "pip install 'onnxruntime-genai>=0.14.1,<0.15'"


def test_versions_can_be_a_function() -> None:
    assert failures(lambda dist: GOOD.get(dist)) == []


def test_olive_from_environment_variable(tmp_path: Path) -> None:
    config = build_config("demo")
    assert olive_executable(config, {"OLIVE_LAB_OLIVE": "/opt/olive"}) == ("/opt/olive", "OLIVE_LAB_OLIVE")
    check = check_olive(config, {"OLIVE_LAB_OLIVE": str(tmp_path / "no-olive"), "PATH": ""})
    assert check.status == "fail" and "does not exist" in check.detail and "OLIVE_LAB_OLIVE" in check.fix


def test_olive_command_line_checks_its_program(tmp_path: Path) -> None:
    """OLIVE_LAB_OLIVE may be a command line (the runner splits it with shlex): the program is what must exist."""
    config = build_config("demo")
    script = tmp_path / "fake olive.py"
    script.write_text("print('olive')\n")
    line = f"{sys.executable} '{script}'"
    check = check_olive(config, {"OLIVE_LAB_OLIVE": line, "PATH": ""})
    assert check.status == "ok", check.detail
    missing = check_olive(config, {"OLIVE_LAB_OLIVE": f"{tmp_path / 'no-python'} '{script}'", "PATH": ""})
    assert (
        missing.status == "fail" and f"{tmp_path / 'no-python'} (from OLIVE_LAB_OLIVE) does not exist" in missing.detail
    )
    plain = tmp_path / "plain"
    plain.write_text("")
    plain.chmod(0o644)
    not_exec = check_olive(config, {"OLIVE_LAB_OLIVE": f"{plain} run", "PATH": ""})
    assert not_exec.status == "fail" and "is not executable" in not_exec.detail


def test_offline_hub_is_a_warning_only_for_phi35_from_the_hub(tmp_path: Path) -> None:
    env = {"HF_HUB_CACHE": str(tmp_path)}
    lab = LabPaths.at(tmp_path)
    demo = check_hub(lab, build_config("demo"), env, timeout=0.5)
    phi = check_hub(lab, build_config("phi35"), env, timeout=0.5)
    if phi.detail.startswith("huggingface.co reachable"):
        pytest.skip("this machine reaches huggingface.co")
    assert demo.status == "ok"
    assert phi.status == "warn" and PHI35_MODEL in phi.detail
    (tmp_path / ("models--" + PHI35_MODEL.replace("/", "--"))).mkdir()
    assert check_hub(lab, build_config("phi35"), env, timeout=0.5).status == "ok"


def test_azure_without_az_reads_service_principal_variables(tmp_path: Path) -> None:
    no_az = {"PATH": str(tmp_path)}
    assert check_azure(build_config("demo"), no_az).status == "warn"
    sp = {**no_az, "AZURE_CLIENT_ID": "id", "AZURE_TENANT_ID": "t", "AZURE_CLIENT_SECRET": "s"}
    assert check_azure(build_config("demo"), sp).status == "ok"
    azureml = build_config("demo", {"model": "azureml://registries/r/models/m/versions/1"})
    assert check_azure(azureml, no_az).status == "fail"


def test_real_run_on_this_machine_reports_the_cpu_demo(tmp_path: Path) -> None:
    checks = run_checks(LabPaths.at(tmp_path), build_config("demo"), quick=True)
    names = [c.name for c in checks]
    assert names[0] == "python" and "gpu" in names and "memory" in names and "disk" in names
    assert "model hub" not in names and "azure login" not in names  # quick skips network and az
    assert all(c.status in ("ok", "warn", "fail") and c.detail for c in checks)
    assert all(c.fix for c in checks if c.status != "ok")
    gpu = by_name(checks)["gpu"]
    if gpu.status == "ok":
        pytest.skip("this machine has an NVIDIA GPU")
    assert gpu.status == "warn" and gpu.detail.startswith("no NVIDIA GPU, the demo runs on CPU")


def test_no_gpu_is_a_failure_when_settings_ask_for_cuda(tmp_path: Path) -> None:
    config = build_config("demo", {"quantize": {"device": "cuda"}})
    gpu = by_name(run_checks(LabPaths.at(tmp_path), config, quick=True))["gpu"]
    if gpu.status == "ok":
        pytest.skip("this machine has an NVIDIA GPU")
    assert gpu.status == "fail" and "quantize.device" in gpu.fix


def test_cli_table_json_and_exit_code(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    run = [sys.executable, "-m", "cli", "doctor", "--quick"]
    out = subprocess.run([*run, "--json"], capture_output=True, text=True, cwd=tmp_path, env=env)
    data = json.loads(out.stdout)
    statuses = [c["status"] for c in data["checks"]]
    assert out.returncode == (1 if "fail" in statuses else 0) == data["exit_code"]
    text = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path, env=env)
    assert text.returncode == out.returncode and "package olive-ai" in text.stdout
    expected = "fail" if "fail" in statuses else "warn" if "warn" in statuses else "ok"
    assert worst([Check(c["name"], c["status"], c["detail"]) for c in data["checks"]]) == expected


@pytest.mark.parametrize(("free_gb", "verdict"), [(0.5, "fail"), (1.1, "warn"), (5.0, "ok")])
def test_doctor_and_the_preflight_check_give_one_verdict_on_disk_and_memory(
    tmp_path: Path, free_gb: float, verdict: str
) -> None:
    """Below the demo profile's need the checklist shows a refusal and `r` refuses; close to it both warn."""
    from engine.doctor import check_disk, check_memory
    from engine.requirements import GB
    from engine.runs.preflight import resource_problems

    lab, config = LabPaths.at(tmp_path), build_config("demo")
    free_disk, free_ram = free_gb * GB, free_gb * 2 * GB  # the demo needs 1 GB of disk, 2 GB of RAM
    disk, memory = check_disk(lab, config, free_disk), check_memory(config, free_ram)
    assert disk.status == memory.status == verdict
    refused = resource_problems(lab, config, free_ram=int(free_ram), free_disk=int(free_disk))
    assert bool(refused) == (verdict == "fail")
    if verdict == "fail":
        assert "will refuse" in disk.detail and len(refused) == 2


@pytest.mark.parametrize("command", [["doctor"], ["dataset", "check"], ["upload", "--dry-run"]])
def test_a_lab_toml_with_a_bom_gets_its_fix_from_every_command(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli import main as cli_main

    (tmp_path / "lab.toml").write_bytes(b"\xef\xbb\xbf[finetune]\nmax_steps = 5\n")
    assert cli_main([*command, "--lab", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "line 1: starts with a UTF-8 byte-order mark" in err
    assert "hint: save the file as UTF-8 without a BOM" in err  # these three commands dropped the hint
