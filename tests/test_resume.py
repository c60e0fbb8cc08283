"""A failed or cancelled fine-tune goes on from its last checkpoint: the checkpoints stay in the run folder,
the next run starts from the newest one, says so, and keys its output on what it resumed from."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from engine.config import build_config
from engine.runs import events as ev
from engine.runs.events import read_events
from engine.runs.state import read_state
from engine.steps.spec import command_line, spec, step_paths
from tests.conftest import olive_lab
from tests.helpers import only_run

FAILING = "Traceback (most recent call last):\nRuntimeError: the machine went away at step 6\n"


def _lab(tmp_path: Path, finetune: str = "save_steps = 4\n") -> Path:
    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "lab.toml").write_text(f'profile = "demo"\n[quantize]\nenabled = false\n[finetune]\n{finetune}')
    return lab


def test_the_finetune_command_keeps_its_checkpoints_in_the_run_folder() -> None:
    config = build_config("demo", {"finetune": {"save_steps": 5, "keep_checkpoints": 3}})
    line = command_line("finetune", config, step_paths("finetune", config, run="runs/r1"))
    assert "--output_dir runs/r1/finetune/checkpoints --save_steps 5 --save_total_limit 3" in line
    none_kept = build_config("demo", {"finetune": {"keep_checkpoints": 0}})
    assert "--output_dir" not in command_line("finetune", none_kept, step_paths("finetune", none_kept, run="runs/r1"))
    # How often it saves and how many it keeps change nothing in the adapter: a finished fine-tune is still reused
    assert spec("finetune").reuse_settings(config) == spec("finetune").reuse_settings(none_kept)


def test_a_failed_finetune_resumes_from_its_last_checkpoint(tmp_path: Path, demo_model: Path, fake_olive_env) -> None:
    lab = _lab(tmp_path)
    failing = tmp_path / "failing.log"
    failing.write_text(FAILING)
    first = olive_lab(
        "pipeline",
        "run",
        "--steps",
        "finetune",
        lab=lab,
        env={**fake_olive_env, "FAKE_OLIVE_LOG_FINETUNE": str(failing)},
    )
    assert first.returncode == 1
    failed = only_run(lab)
    stopped = read_state(failed).step("finetune")
    assert stopped.status == "failed" and (failed / "finetune/checkpoints/checkpoint-4/trainer_state.json").is_file()

    olive_lab("pipeline", "run", "--resume", "--steps", "finetune", lab=lab, env=fake_olive_env, check=True)
    run_dir = only_run(lab)
    assert run_dir != failed
    step = read_state(run_dir).step("finetune")
    assert step.status == "done"
    assert step.resumed_from == f"{failed.name}/checkpoint-4"
    mine = run_dir / "finetune/checkpoints/checkpoint-4"
    assert step.command[step.command.index("--resume_from_checkpoint") + 1] == str(mine)
    assert json.loads((mine / "trainer_state.json").read_text()) == {"global_step": 4}
    # Same settings, data and model as the failed one, but its key says it resumed (a fresh run never reuses it)
    assert step.checkpoint_key == stopped.checkpoint_key and step.key != stopped.key
    assert f"Resuming from checkpoint-4 of run {failed.name}" in (run_dir / "finetune/step.log").read_text()
    losses = [e for e in read_events(run_dir).events if isinstance(e, ev.LossEvent)]
    assert losses and losses[0].train_step == 5  # the chart goes on after the checkpoint's step
    # The failed run's checkpoint is still there.
    assert (failed / "finetune/checkpoints/checkpoint-4/trainer_state.json").is_file()


def test_resuming_with_no_checkpoint_starts_at_step_zero_and_says_so(
    tmp_path: Path, demo_model: Path, fake_olive_env
) -> None:
    lab = _lab(tmp_path)
    olive_lab("pipeline", "run", "--resume", "--steps", "finetune", lab=lab, env=fake_olive_env, check=True)
    run_dir = only_run(lab)
    step = read_state(run_dir).step("finetune")
    assert step.status == "done" and step.resumed_from is None and "--resume_from_checkpoint" not in step.command
    warnings = [e.message for e in read_events(run_dir).events if isinstance(e, ev.Warning_)]
    assert any(w.startswith("nothing to resume") for w in warnings)


@pytest.mark.pipeline
def test_a_cancelled_real_finetune_resumes_from_its_checkpoint(tmp_path: Path, demo_model: Path) -> None:
    """The real Olive: a demo fine-tune saving every two steps is cancelled once a checkpoint exists, then
    resumed; the second run trains only the steps after the checkpoint."""
    from engine.paths import LabPaths
    from engine.runs.control import cancel_run

    total = 10
    lab = _lab(tmp_path, f"max_steps = {total}\nsave_steps = 2\n[dataset]\neval_share = 0.0\n")  # no eval: quicker
    olive_lab("pipeline", "run", "--steps", "finetune", "--detach", lab=lab, check=True)
    first = only_run(lab)
    deadline = time.time() + 120
    while time.time() < deadline and not any(first.glob("finetune/checkpoints/checkpoint-*/trainer_state.json")):
        time.sleep(0.05)
    cancel_run(LabPaths.at(lab), first.name)
    assert read_state(first).step("finetune").status == "cancelled", "the fine-tune ended before it was cancelled"

    olive_lab("pipeline", "run", "--resume", "--steps", "finetune", lab=lab, check=True, timeout=300)
    run_dir = only_run(lab)
    step = read_state(run_dir).step("finetune")
    assert step.status == "done" and step.resumed_from and step.resumed_from.startswith(f"{first.name}/checkpoint-")
    at = int(step.resumed_from.rpartition("-")[2])
    assert 2 <= at < total
    losses = [e.train_step for e in read_events(run_dir).events if isinstance(e, ev.LossEvent)]
    assert losses == list(range(at + 1, total + 1))  # trained on from the checkpoint, not from step 0
    state = json.loads((run_dir / f"finetune/checkpoints/checkpoint-{total}/trainer_state.json").read_text())
    assert state["global_step"] == total and state["log_history"][0]["step"] == 1  # the history goes on too


async def test_t_on_the_monitor_resumes_a_failed_finetune_and_says_from_where(
    tmp_path: Path, demo_model: Path, fake_olive_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.paths import LabPaths
    from tui.app import OliveLabApp
    from tui.widgets.timeline import Timeline

    lab = _lab(tmp_path)
    failing = tmp_path / "failing.log"
    failing.write_text(FAILING)
    olive_lab(
        "pipeline",
        "run",
        "--steps",
        "finetune",
        lab=lab,
        env={**fake_olive_env, "FAKE_OLIVE_LOG_FINETUNE": str(failing)},
    )
    failed = only_run(lab)
    assert read_state(failed).step("finetune").status == "failed"
    for key, value in fake_olive_env.items():
        monkeypatch.setenv(key, value)
    app = OliveLabApp(LabPaths.at(lab), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await pilot.press("4")
        await pilot.pause(0.5)
        await pilot.press("t")
        deadline = time.time() + 60
        while time.time() < deadline and not (only_run(lab) != failed and read_state(only_run(lab)).finished):
            await pilot.pause(0.2)
        resumed = only_run(lab)
        assert resumed != failed and read_state(resumed).step("finetune").status == "done"
        await pilot.pause(1.5)
        shown = str(app.screen.query_one(Timeline).render())
        assert "resumed from checkpoint-4" in shown
        assert any("from the last checkpoint" in text for _, _, text in app.notification_history)  # f2 lists it
