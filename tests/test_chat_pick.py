"""Which model chat talks to: `olive-lab chat` and the app's Chat screen pick it the same way (engine.runs.models),
a sweep's best branch by the one ranking, `--run latest` / a prefix / `--branch` as every command takes them, and
never a half-made run's start folder. The model itself is a stand-in that says which folder it was given."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Static

from cli import main as cli_main
from engine.chat import ChatError, ModelInfo
from engine.paths import LabPaths
from engine.runs.compare import best_branch
from tests.fixtures.runfolders import evaluated_run, evaluated_sweep
from tui.screens.chat import ChatScreen
from tui.screens.chat_offers import EMPTY_STATE

OLD, SWEEP = "20251124-160000-demo", "20251124-170000-sweep"


class PickedModel(ChatError):
    pass


def fake_chat_model(info: ModelInfo, **_: object) -> None:
    """Stands in for engine.chat.ChatModel: refuses to load, naming the folder it was given."""
    raise PickedModel(f"picked {info.path}")


def plant_model(run_dir: Path) -> Path:
    """What a finished optimize step leaves: a genai config and an ONNX graph in optimize/output."""
    out = run_dir / "optimize" / "output"
    out.mkdir(parents=True, exist_ok=True)
    (out / "genai_config.json").write_text(json.dumps({"model": {"type": "phi3", "context_length": 512}}))
    (out / "model.onnx").write_bytes(b"")
    return out


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LabPaths:
    """An older finished run, then a sweep as the newest run: branches 4, 16 and 64 have their model (16 is best
    by held-out loss), 128 failed in optimize. The sweep's own folder has no model (its branches optimize)."""
    lab = LabPaths.at(tmp_path / "lab")
    plant_model(evaluated_run(lab.runs, OLD))
    sweep = evaluated_sweep(lab.runs, SWEEP)
    for label in ("lora_r-4", "lora_r-16", "lora_r-64"):
        plant_model(sweep / "branches" / label)
    monkeypatch.setattr("engine.chat.ChatModel", fake_chat_model)
    monkeypatch.setattr("tui.widgets.chat_model.ChatModel", fake_chat_model)
    return lab


def cli_pick(lab: LabPaths, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = cli_main(["chat", "--lab", str(lab.root), "--prompt", "hi", *argv])
    return code, capsys.readouterr().err


async def app_pick(lab: LabPaths) -> str:
    """What the app's Chat screen says when it opens with no model chosen."""

    class ChatApp(App[None]):
        def __init__(self) -> None:
            super().__init__()
            self.lab = lab

        def on_mount(self) -> None:
            self.push_screen(ChatScreen(device="cpu"))

    app = ChatApp()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await app.workers.wait_for_complete()  # the model loader's thread
        await pilot.pause()
        return " ".join(str(app.screen.query_one("#chat-empty", Static).render()).split())


def branch_model(lab: LabPaths, label: str) -> Path:
    return lab.run_dir(SWEEP) / "branches" / label / "optimize" / "output"


async def test_the_cli_and_the_chat_screen_pick_the_newest_sweeps_best_branch(
    lab: LabPaths, capsys: pytest.CaptureFixture[str]
) -> None:
    assert best_branch(lab.run_dir(SWEEP)) == "lora_r-16"
    best = branch_model(lab, "lora_r-16")
    code, err = cli_pick(lab, capsys)
    assert code == 2 and f"picked {best}" in err, err
    assert f"picked {best}" in await app_pick(lab)


@pytest.mark.parametrize("run", ["latest", SWEEP, "20251124-17"])
def test_run_latest_an_id_or_a_prefix_picks_that_sweeps_best_branch(
    lab: LabPaths, capsys: pytest.CaptureFixture[str], run: str
) -> None:
    code, err = cli_pick(lab, capsys, "--run", run)
    assert code == 2 and f"picked {branch_model(lab, 'lora_r-16')}" in err, err


def test_a_branch_a_prefix_of_an_older_run_and_a_wrong_branch(lab: LabPaths, capsys: pytest.CaptureFixture) -> None:
    code, err = cli_pick(lab, capsys, "--branch", "lora_r-4")  # the newest run's branch
    assert code == 2 and f"picked {branch_model(lab, 'lora_r-4')}" in err, err
    code, err = cli_pick(lab, capsys, "--run", "20251124-16")
    assert code == 2 and f"picked {lab.run_dir(OLD) / 'optimize' / 'output'}" in err, err
    code, err = cli_pick(lab, capsys, "--run", "latest", "--branch", "lora_r-128")  # failed in optimize
    assert code == 2 and "branch lora_r-128 has no optimized model yet" in err and "picked" not in err, err
    code, err = cli_pick(lab, capsys, "--run", OLD, "--branch", "lora_r-4")
    assert code == 2 and "is not a sweep" in err, err
    code, err = cli_pick(lab, capsys, "--run", "2025")
    assert code == 2 and "ambiguous" in err, err


def test_a_run_folder_named_with_model_is_a_sweeps_best_branch(lab: LabPaths, capsys: pytest.CaptureFixture) -> None:
    code, err = cli_pick(lab, capsys, "--model", str(lab.run_dir(SWEEP)))
    assert code == 2 and f"picked {branch_model(lab, 'lora_r-16')}" in err, err
    code, err = cli_pick(lab, capsys, "--model", SWEEP, "--branch", "lora_r-64")  # a run id, as --run takes it
    assert code == 2 and f"picked {branch_model(lab, 'lora_r-64')}" in err, err


async def test_a_half_made_runs_start_folder_is_never_chatted_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run being started lives in a hidden `.new-<pid>-<id>` folder (its outputs may be hard links to another
    run's): it is no run yet, so neither face offers its model."""
    lab = LabPaths.at(tmp_path / "lab")
    plant_model(evaluated_run(lab.runs, f".new-4242-{OLD}"))
    monkeypatch.setattr("engine.chat.ChatModel", fake_chat_model)
    monkeypatch.setattr("tui.widgets.chat_model.ChatModel", fake_chat_model)
    code, err = cli_pick(lab, capsys)
    assert code == 2 and "No optimized model in" in err and "picked" not in err, err
    assert await app_pick(lab) == EMPTY_STATE
