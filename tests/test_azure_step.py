"""The register step as a supervised step and `olive-lab upload` / `olive-lab export` on the command line:
the real CLI, the real detached supervisor and step program, with Azure's cloud answered by the fakes
(installed in the run's processes through tests/fakes/azure_site) and Azurite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli import main as cli_main
from tests.azure_helpers import (
    ACCOUNT_KEY,
    RG,
    SUB,
    WS,
    container_client,
)
from tests.fakes.azure_ml import BEARER_TOKEN
from tests.fixtures.runfolders import finished_run

pytestmark = pytest.mark.azure


def _upload(lab: Path, *extra: str) -> list[str]:
    return ["upload", "--name", "ft-for-travel", "--version", "1", "--subscription", SUB, "--resource-group", RG,
            "--workspace", WS, "--lab", str(lab), *extra]  # fmt: skip


def test_an_unknown_workspace_setting_is_refused_with_status_2(lab_with_run, capsys, monkeypatch, tmp_path):
    lab, _run = lab_with_run
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "no-az"))
    code = cli_main(["upload", "--name", "m", "--version", "1", "--lab", str(lab), "--dry-run"])
    assert code == 2 and "--subscription" in capsys.readouterr().err


def test_dry_run_sends_nothing_and_shows_the_az_command(lab_with_run, capsys):
    lab, _run = lab_with_run
    assert cli_main(_upload(lab, "--dry-run", "--json")) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dry_run"] and out["files"] == 6
    assert out["az_command"].startswith("az ml model create --name ft-for-travel --version 1 --path ")
    assert not list((lab / "runs").glob("*/register"))


def test_upload_runs_the_register_step_in_its_own_run(lab_with_run, fake_cloud, capsys):
    lab, run_dir = lab_with_run
    az, _spec = fake_cloud
    code = cli_main(_upload(lab, "--run", run_dir.name))
    out = capsys.readouterr().out
    assert code == 0, out
    assert "registered ft-for-travel version 1" in out and "ml.azure.com/model/ft-for-travel:1" in out
    upload_runs = [p for p in (lab / "runs").iterdir() if (p / "register").is_dir()]
    assert len(upload_runs) == 1
    state = json.loads((upload_runs[0] / "state.json").read_text())
    assert [s["name"] for s in state["steps"]] == ["register"] and state["status"] == "done"
    log = (upload_runs[0] / "register" / "step.log").read_text()
    assert "Running pass upload:AzureBlob" in log and "upload: 100%|" in log and "Model is saved at " in log
    # the runner read the source run's provenance for the step program, which reads no run folder itself
    assert "--inputs" in state["steps"][0]["command"]
    inputs = json.loads((upload_runs[0] / "register" / "inputs.json").read_text())
    assert inputs["tags"]["olive_lab_run"] == run_dir.name and inputs["job_output"] is None
    blobs = list(container_client(az).list_blobs(name_starts_with="LocalUpload/"))
    assert len(blobs) == 6
    written = "\n".join(p.read_text(errors="replace") for p in upload_runs[0].rglob("*") if p.is_file())
    assert BEARER_TOKEN not in written + out and ACCOUNT_KEY not in written + out


def test_a_refusal_is_the_step_reason(lab_with_run, fake_cloud, capsys, monkeypatch):
    lab, _run = lab_with_run
    _az, spec = fake_cloud
    taken = {"ft-for-travel": {"1": _version_body("1"), "2": _version_body("2")}}
    monkeypatch.setenv("OLIVE_LAB_FAKE_AZURE", json.dumps({**spec, "models": taken}))
    assert cli_main(_upload(lab)) == 1
    out = capsys.readouterr().out
    assert "already exists" in out and "--version 3" in out


def test_export_copies_model_and_writes_a_model_card(lab_with_run, capsys):
    lab, run_dir = lab_with_run
    target = lab / "exported"
    assert cli_main(["export", "--run", run_dir.name, "--to", str(target), "--lab", str(lab), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (target / "model.onnx.data").stat().st_size == (run_dir / "optimize/output/model.onnx.data").stat().st_size
    card = (target / "README.md").read_text()
    assert "og.Adapters(model)" in card and "dataset sha256" in card and result["adapters"] == ["travel"]
    assert cli_main(["export", "--run", run_dir.name, "--to", str(target), "--lab", str(lab)]) == 2  # not empty


def test_the_model_card_keeps_the_workspace_and_local_paths_to_itself(lab_with_run, tmp_path):
    lab, run_dir = lab_with_run
    state = json.loads((run_dir / "state.json").read_text())
    config = state["config"]
    config["azure"].update(subscription_id=SUB, resource_group=RG, workspace_name=WS)
    config["model"] = str(tmp_path / "private" / "models" / "Phi-3.5-mini-instruct")
    config["dataset"]["path"] = str(tmp_path / "private" / "sets" / "my_travel.jsonl")
    config["finetune"]["olive"] = str(tmp_path / "private" / "bin" / "olive")
    (run_dir / "state.json").write_text(json.dumps(state))
    assert cli_main(["export", "--run", run_dir.name, "--to", str(lab / "exported"), "--lab", str(lab)]) == 0
    card = (lab / "exported" / "README.md").read_text()
    for private in (SUB, RG, WS, str(tmp_path), "private"):
        assert private not in card
    assert "`Phi-3.5-mini-instruct`" in card and "`my_travel.jsonl`" in card  # what the model is and was fed
    assert "| `finetune.lora_r` | `8` |" in card


def test_export_of_a_sweep_names_its_branches_and_exports_the_one_picked(lab_with_run, capsys):
    lab, branch_run = lab_with_run
    sweep = finished_run(lab / "runs", "20251125-090000-sweep")
    state = json.loads((sweep / "state.json").read_text())
    state["steps"] = state["steps"][:2]  # a sweep's own run stops after quantize
    state["sweep"] = {"setting": "finetune.lora_r", "values": ["8", "16"], "branches": ["lora_r-8", "lora_r-16"]}
    (sweep / "state.json").write_text(json.dumps(state))
    (sweep / "branches").mkdir()
    branch_run.rename(sweep / "branches" / "lora_r-16")
    argv = ["export", "--run", sweep.name, "--to", str(lab / "exported"), "--lab", str(lab)]
    assert cli_main(argv) == 2
    err = capsys.readouterr().err
    assert f"run {sweep.name} is a sweep" in err and "pick a branch with --branch: lora_r-8, lora_r-16" in err
    assert cli_main([*argv, "--branch", "lora_r-16"]) == 0
    assert (lab / "exported" / "model.onnx.data").is_file()


def _version_body(version: str) -> dict:
    return {
        "id": f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.MachineLearningServices/workspaces/{WS}"
        f"/models/ft-for-travel/versions/{version}",
        "name": version, "type": "Microsoft.MachineLearningServices/workspaces/models/versions",
        "properties": {"modelType": "custom_model", "modelUri": "azureml://datastores/workspaceblobstore/paths/x",
                       "isArchived": False, "isAnonymous": False, "tags": {}, "properties": {}, "flavors": {}},
        "systemData": {"createdAt": "2026-12-01T10:00:00.0000000+00:00", "createdBy": "x", "createdByType": "User"},
    }  # fmt: skip
