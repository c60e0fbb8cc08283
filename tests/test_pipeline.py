"""The pipeline end to end: the real demo chain, verdicts, cancel, detached runs, reuse and bad input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from engine.paths import BUNDLED_DATASET
from engine.runs.events import EvalLossEvent, LossEvent, read_events
from engine.runs.state import read_state
from tests.conftest import ROOT, olive_lab
from tests.helpers import LOGS, fake_lab, fake_olive_alive, only_run


def wait_finished(run_dir: Path, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (run_dir / "state.json").exists() and read_state(run_dir).finished:
            return
        time.sleep(0.1)
    raise AssertionError(f"run {run_dir.name} did not finish in {timeout} s")


# -- the real demo chain ---------------------------------------------------------------------------
@pytest.mark.pipeline
def test_demo_pipeline_runs_the_real_chain_and_leaves_an_onnx_model_with_adapter(demo_run: Path) -> None:
    state = read_state(demo_run)
    assert state.status == "done", state.reason
    assert [(s.name, s.status) for s in state.steps] == [
        (name, "done") for name in ("prepare", "quantize", "finetune", "optimize", "evaluate")
    ]
    out = demo_run / "optimize" / "output"
    assert (out / "genai_config.json").exists()
    assert [p.name for p in out.glob("*.onnx_adapter")] == ["travel.onnx_adapter"]  # named as in the lab
    assert (demo_run / "finetune" / "output" / "adapter" / "adapter_model.safetensors").exists()
    # AWQ ran for real on the lab's own texts and left a plain HF folder (no packed-int4 marker).
    config = json.loads((demo_run / "quantize" / "output" / "config.json").read_text())
    assert "quantization_config" not in config
    found = read_events(demo_run)
    assert found.damaged == 0
    losses = [e for e in found.events if isinstance(e, LossEvent)]
    assert len(losses) == 20 and all(e.step == "finetune" for e in losses)
    assert any(isinstance(e, EvalLossEvent) for e in found.events)
    # The held-back split was never in the training file.
    train = set((demo_run / "data" / "train.jsonl").read_text().splitlines())
    held = (demo_run / "data" / "validation.jsonl").read_text().splitlines()
    assert held and not train.intersection(held)
    # Olive's own cache (model copies) is cleaned after success; the outputs stay.
    assert not (demo_run / "finetune" / ".olive-cache").exists()


@pytest.mark.pipeline
def test_unchanged_rerun_reuses_every_step(demo_lab: Path, demo_run: Path) -> None:
    proc = olive_lab("pipeline", "run", lab=demo_lab, check=True)
    assert "Reused the output of run" in proc.stdout
    newest = only_run(demo_lab)
    try:
        assert newest != demo_run
        state = read_state(newest)
        assert [s.status for s in state.steps[1:]] == ["reused"] * 4  # the evaluation too: same key
        assert all(s.reused_from == demo_run.name for s in state.steps[1:])
        out = newest / "optimize" / "output"
        assert (out / "genai_config.json").exists()
        # Hard links, not copies: the reused model shares the original's storage.
        assert (out / "model.onnx").stat().st_ino == (demo_run / "optimize" / "output" / "model.onnx").stat().st_ino
    finally:  # leave the shared lab as other tests expect it: one run
        shutil.rmtree(newest)


@pytest.mark.pipeline
def test_editing_the_data_in_place_reruns_every_step(demo_lab: Path, tmp_path: Path, fake_olive_env) -> None:
    lab = tmp_path / "lab"
    lab.mkdir()
    data = lab / "travel.jsonl"
    shutil.copy(BUNDLED_DATASET, data)
    (lab / "lab.toml").write_text(f'profile = "demo"\n[dataset]\npath = "{data}"\n[evaluate]\nenabled = false\n')
    olive_lab("pipeline", "run", lab=lab, env=fake_olive_env, check=True)
    olive_lab("pipeline", "run", lab=lab, env=fake_olive_env, check=True)
    assert [s.status for s in read_state(only_run(lab)).steps[1:]] == ["reused"] * 3
    lines = data.read_text().splitlines()
    record = json.loads(lines[3])
    record["response"] = record["response"] + " Always carry a paper copy of your booking."
    lines[3] = json.dumps(record)
    data.write_text("\n".join(lines) + "\n")  # same path, same size class: Olive's own cache would not notice
    olive_lab("pipeline", "run", lab=lab, env=fake_olive_env, check=True)
    state = read_state(only_run(lab))
    assert [s.status for s in state.steps[1:]] == ["done"] * 3


# -- verdicts ---------------------------------------------------------------------------------------
def test_a_failure_olive_reports_with_exit_zero_fails_the_run_with_the_reason(
    demo_lab, tmp_path, fake_olive_env
) -> None:
    lab = fake_lab(demo_lab, tmp_path)
    env = {**fake_olive_env, "FAKE_OLIVE_LOG_AUTO_OPT": str(LOGS / "optimize_fail_torch_export.log")}
    proc = olive_lab("pipeline", "run", lab=lab, env=env)
    assert proc.returncode == 1
    state = read_state(only_run(lab))
    assert state.status == "failed"
    optimize = state.step("optimize")
    assert optimize.status == "failed" and optimize.exit_code == 0
    assert (optimize.reason or "").startswith("RuntimeError: Only tuples, lists and Variables")
    assert "Olive exited 0 anyway" in (optimize.reason or "")
    assert state.step("finetune").status == "done"
    # The whole log is kept, traceback included.
    assert "Traceback (most recent call last)" in (only_run(lab) / "optimize" / "step.log").read_text()


def test_retry_from_a_step_reuses_what_came_before(demo_lab, tmp_path, fake_olive_env) -> None:
    lab = fake_lab(demo_lab, tmp_path)
    env = {**fake_olive_env, "FAKE_OLIVE_LOG_AUTO_OPT": str(LOGS / "optimize_fail_torch_export.log")}
    olive_lab("pipeline", "run", lab=lab, env=env)
    failed = only_run(lab)
    olive_lab("pipeline", "run", "--from", "optimize", lab=lab, env=fake_olive_env, check=True)
    state = read_state(only_run(lab))
    assert state.step("finetune").status == "reused" and state.step("finetune").reused_from == failed.name
    assert state.step("optimize").status == "done"
    # The failed run's log and outputs are untouched.
    assert "Traceback" in (failed / "optimize" / "step.log").read_text()


# -- detached runs: cancel, kill -9 of the CLI, one run at a time ------------------------------------
def test_cancel_stops_the_whole_process_tree_within_five_seconds(demo_lab, tmp_path, fake_olive_env) -> None:
    lab = fake_lab(demo_lab, tmp_path)
    env = {**fake_olive_env, "FAKE_OLIVE_HANG": "1"}
    olive_lab("pipeline", "run", "--detach", lab=lab, env=env, check=True)
    run_dir = only_run(lab)
    deadline = time.time() + 60
    while time.time() < deadline and not read_state(run_dir).step("finetune").pid:
        time.sleep(0.1)
    step_pid = read_state(run_dir).step("finetune").pid
    assert step_pid and psutil.pid_exists(step_pid)
    second = olive_lab("pipeline", "run", lab=lab, env=env)
    assert second.returncode == 2 and "still going" in second.stderr
    started = time.time()
    olive_lab("runs", "cancel", lab=lab, check=True)
    assert time.time() - started < 5 + 3  # 5 s for the tree, plus the CLI's own start-up
    state = read_state(run_dir)
    assert state.status == "cancelled" and state.step("finetune").status == "cancelled"
    time.sleep(0.2)
    assert not fake_olive_alive()
    # The stopped step's traceback (KeyboardInterrupt) is kept, after a line saying it is the stop, not a crash.
    log = (run_dir / "finetune" / "step.log").read_text()
    mark = "── cancelled by the user: the step was stopped (its traceback below is the stop, not a crash) ──"
    assert mark in log and "KeyboardInterrupt" in log[log.index(mark) :], log[-2000:]
    assert any(line.startswith("[") and line.endswith("[INFO] [olive-lab] " + mark) for line in log.splitlines())


def test_killing_the_cli_leaves_the_run_going_and_attach_shows_all_of_its_log(
    demo_lab, tmp_path, fake_olive_env
) -> None:
    lab = fake_lab(demo_lab, tmp_path)
    env = {**os.environ, **fake_olive_env, "FAKE_OLIVE_DELAY": "0.02"}
    cli = subprocess.Popen(
        [sys.executable, "-m", "cli.launch", "pipeline", "run", "--lab", str(lab)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    while time.time() < deadline and not list(lab.glob("runs/*/finetune/step.log")):
        time.sleep(0.1)
    cli.send_signal(signal.SIGKILL)
    cli.wait()
    run_dir = only_run(lab)
    assert not read_state(run_dir).finished
    wait_finished(run_dir)
    assert read_state(run_dir).status == "done"
    attached = olive_lab("runs", "attach", run_dir.name, lab=lab, check=True)
    for name in ("finetune_ok.log", "optimize_ok.log"):
        for line in (LOGS / name).read_text().splitlines()[:40:7]:
            assert line.strip() in attached.stdout
    assert f"run {run_dir.name} done" in attached.stdout


# -- bad input: a clear message, and no step starts that cannot succeed ----------------------------------
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"prompt": "a", "response": "b"}\n{"prompt": "c", "response": 5}\n', "line 2, field 'response'"),
        ('{"prompt": "a", "response": "b"}\n{"prompt": "c", "respo\n', "line 2"),
    ],
)
def test_bad_dataset_is_refused_before_any_step_with_file_and_line(lab: Path, content: str, expected: str) -> None:
    data = lab / "set.jsonl"
    data.write_text(content)
    (lab / "lab.toml").write_text(f'profile = "demo"\n[dataset]\npath = "{data}"\n[evaluate]\nenabled = false\n')
    proc = olive_lab("pipeline", "run", lab=lab)
    assert proc.returncode == 2
    assert "set.jsonl" in proc.stderr and expected in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (lab / "runs").exists()


def test_template_naming_a_missing_field_is_refused(lab: Path) -> None:
    (lab / "lab.toml").write_text('profile = "demo"\n[finetune]\ntext_template = "<|user|>\\n{question}<|end|>"\n')
    proc = olive_lab("pipeline", "run", lab=lab)
    assert proc.returncode == 2 and "'question'" in proc.stderr and "text_template" in proc.stderr


def test_missing_model_folder_and_bad_lab_toml_are_named(lab: Path) -> None:
    (lab / "lab.toml").write_text(f'profile = "phi35"\nmodel = "{lab}/no-such-model"\n')
    proc = olive_lab("pipeline", "run", lab=lab)
    assert proc.returncode == 2 and "no-such-model" in proc.stderr
    (lab / "lab.toml").write_text('profile = "demo"\n[finetune]\nmax_steps = "many"\n')
    proc = olive_lab("pipeline", "run", lab=lab)
    assert proc.returncode == 2
    assert "lab.toml" in proc.stderr and "finetune.max_steps" in proc.stderr


def test_olive_not_installed_is_refused(lab: Path) -> None:
    proc = olive_lab("pipeline", "run", lab=lab, env={"OLIVE_LAB_OLIVE": "/nonexistent/olive"})
    assert proc.returncode == 2 and "Olive is not installed" in proc.stderr


def test_printed_commands_match_what_runs(demo_run: Path) -> None:
    state = read_state(demo_run)
    finetune = state.step("finetune").command
    at = finetune.index("finetune")  # after the lab's `olive` (run through engine.steps.olive_run)
    assert finetune[at : at + 2] == ["finetune", "--method"] and "--logging_steps" in finetune
    assert "--eval_split" in finetune
    optimize = state.step("optimize").command
    assert {"--use_model_builder", "--use_ort_genai"} <= set(optimize)
    assert optimize[optimize.index("--precision") + 1] == "int4"
    log = (demo_run / "finetune" / "step.log").read_text()
    assert log.startswith("$ ") and "finetune --method lora" in log.splitlines()[0]


def test_too_little_disk_or_ram_is_refused_with_the_figures(lab: Path) -> None:
    from engine.config import build_config
    from engine.paths import LabPaths
    from engine.runs.preflight import preflight

    config = build_config("demo")
    assert preflight(LabPaths.at(lab), config) == []
    problems = preflight(LabPaths.at(lab), config, free_disk=100 * 10**6, free_ram=500 * 10**6)
    assert any(p.startswith("disk: 0.1 GB free") and "needs about 1 GB" in p for p in problems)
    assert any(p.startswith("memory: 0.5 GB of RAM free") and "needs about 2 GB" in p for p in problems)


def test_run_ids_sort_in_start_order() -> None:
    from engine.runs.control import new_run_id

    ids = []
    for _ in range(5):
        ids.append(new_run_id())
        time.sleep(0.002)
    assert sorted(ids) == ids


def test_a_hub_model_that_cannot_be_fetched_is_refused(lab: Path, tmp_path: Path) -> None:
    (lab / "lab.toml").write_text('profile = "phi35"\n')
    env = {"HF_HOME": str(tmp_path / "empty-hf-home"), "HF_HUB_OFFLINE": "1"}  # as on a machine without network
    proc = olive_lab("pipeline", "run", lab=lab, env=env)
    assert proc.returncode == 2
    assert "'microsoft/Phi-3.5-mini-instruct' is not 'demo', a local folder or a model in the Hugging Face cache" in (
        proc.stderr
    )
    assert not (lab / "runs").exists()


def test_a_steps_own_environment_reaches_it_and_not_the_others(demo_lab, tmp_path, fake_olive_env) -> None:
    lab = fake_lab(demo_lab, tmp_path)
    failing = LOGS / "optimize_fail_torch_export.log"
    with open(lab / "lab.toml", "a") as fh:
        fh.write(f'[optimize.env]\nFAKE_OLIVE_LOG_AUTO_OPT = "{failing}"\n')
    proc = olive_lab("pipeline", "run", lab=lab, env=fake_olive_env)
    assert proc.returncode == 1
    state = read_state(only_run(lab))
    assert state.step("finetune").status == "done"  # finetune did not get optimize's variable
    assert state.step("optimize").status == "failed" and "RuntimeError" in (state.step("optimize").reason or "")
