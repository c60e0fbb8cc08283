"""Where a compute step runs, picked on the Steps screen with keys: the workspace's clusters come from a
loader given to the screen (the engine boundary), the choice fills the form unsaved, ctrl+s writes it."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from textual.widgets import Input, OptionList, Static
from textual.widgets._footer import FooterKey

from engine.azure.errors import NotSignedIn, WorkspaceUnresolved
from engine.azure.jobs import ComputeInfo
from engine.config import LabConfig, load_config
from engine.paths import LabPaths
from tui.app import OliveLabApp
from tui.screens.run_on import ComputePicker
from tui.screens.steps import StepsScreen

CLUSTERS = [
    ComputeInfo(name="gpu-a100", vm_size="Standard_NC24ads_A100_v4", gpus=1, min_nodes=0, max_nodes=2, nodes=0),
    ComputeInfo(name="cpu-small", vm_size="Standard_D4s_v3", gpus=0, min_nodes=0, max_nodes=4, nodes=1),
]


@pytest.fixture(autouse=True)
def _steady(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLIVE_LAB_OLIVE", "olive")


def listed(lab: LabPaths, config: LabConfig, say) -> tuple[str, list[ComputeInfo]]:  # type: ignore[no-untyped-def]
    say("To sign in, open https://microsoft.com/devicelogin and enter the code ABCD1234")
    return "lab-ws", CLUSTERS


def screen_text(app: OliveLabApp) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def footer_actions(app: OliveLabApp) -> list[str]:
    return [key.action for key in app.screen.query(FooterKey)]


async def footer_once(app: OliveLabApp, pilot, wanted: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The footer's actions once it shows `wanted` (it is rebuilt a moment after the focus moves), or as it
    is after five seconds."""
    for _ in range(50):
        if wanted in (actions := footer_actions(app)):
            return actions
        await pilot.pause(0.1)
    return footer_actions(app)


async def open_steps(app: OliveLabApp, pilot, loader) -> StepsScreen:  # type: ignore[no-untyped-def]
    await pilot.press("3")
    await pilot.pause(0.2)
    screen = app.screen
    assert isinstance(screen, StepsScreen)
    screen.compute_loader = loader
    return screen


async def open_picker(app: OliveLabApp, pilot, key: str = "ctrl+t") -> ComputePicker:  # type: ignore[no-untyped-def]
    await pilot.press(key)
    await pilot.pause(0.1)
    assert isinstance(app.screen, ComputePicker)
    await app.screen.workers.wait_for_complete()
    await pilot.pause(0.1)
    return app.screen


def prompts(picker: ComputePicker) -> list[str]:
    options = picker.query_one(OptionList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def test_picking_a_cluster_for_finetune_fills_the_field_and_ctrl_s_saves_it(tmp_path: Path) -> None:
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_steps(app, pilot, listed)
        box = screen.query_one("#field--finetune--run_on", Input)
        box.focus()
        assert "run_on" in await footer_once(app, pilot, "run_on")  # in the footer while the field has the focus
        picker = await open_picker(app, pilot)
        assert prompts(picker) == ["this machine (local)", *(c.line for c in CLUSTERS)]
        assert "compute clusters of workspace lab-ws" in str(picker.query_one("#run-on-note", Static).render())
        await pilot.press("down", "enter")  # the first cluster
        await pilot.pause(0.2)
        assert app.screen is screen and box.value == "azureml:gpu-a100"
        assert screen.unsaved_fields() == ["finetune.run_on"]
        assert not (tmp_path / "lab.toml").exists()  # unsaved, like any edit
        command = str(screen.query_one("#command").render())
        assert command.startswith("finetune runs as an Azure ML job on gpu-a100:\n")
        assert "olive finetune" in command and "${{outputs.output}}" in command
        await pilot.press("ctrl+s")
        await pilot.pause()
    saved = tomllib.loads((tmp_path / "lab.toml").read_text())
    assert saved["finetune"] == {"run_on": "azureml:gpu-a100"}
    assert load_config(LabPaths.at(tmp_path)).finetune.run_on == "azureml:gpu-a100"


async def test_the_key_is_for_compute_steps_and_a_sets_all_three(tmp_path: Path) -> None:
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_steps(app, pilot, listed)
        screen.query_one("#field--lab--model", Input).focus()
        await pilot.pause(0.2)
        actions = await footer_once(app, pilot, "save")
        assert "run_on" not in actions and "save" in actions
        await pilot.press("ctrl+t")  # not a compute step: nothing opens
        await pilot.pause(0.1)
        assert app.screen is screen
        screen.query_one("#field--quantize--run_on", Input).focus()
        await pilot.pause(0.1)
        await open_picker(app, pilot)
        await pilot.press("down", "down", "a")  # cpu-small, for every compute step
        await pilot.pause(0.2)
        for step in ("quantize", "finetune", "optimize"):
            assert screen.query_one(f"#field--{step}--run_on", Input).value == "azureml:cpu-small"
        screen.query_one("#field--lab--model", Input).focus()
        picker = await open_picker(app, pilot, "ctrl+g")  # "Run all compute steps on …" from anywhere
        assert picker.query_one(OptionList).highlighted == 2  # where they run now: cpu-small
        await pilot.press("home", "enter")  # this machine
        await pilot.pause(0.2)
        assert all(screen.query_one(f"#field--{s}--run_on", Input).value == "local" for s in ("quantize", "optimize"))
        assert screen.unsaved_fields() == []


@pytest.mark.parametrize(
    "error",
    [
        WorkspaceUnresolved(
            "no Azure ML workspace is set for remote steps",
            "set [azure] subscription_id, resource_group and workspace_name in lab.toml",
        ),
        NotSignedIn("not signed in to Azure", "run az login, or set sign_in = 'device' in [azure]"),
    ],
    ids=["no-workspace", "no-sign-in"],
)
async def test_the_picker_shows_the_engine_error_and_changes_nothing(tmp_path: Path, error: Exception) -> None:
    def failing(lab: LabPaths, config: LabConfig, say) -> tuple[str, list[ComputeInfo]]:  # type: ignore[no-untyped-def]
        raise error

    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_steps(app, pilot, failing)
        screen.query_one("#field--finetune--run_on", Input).focus()
        picker = await open_picker(app, pilot)
        note = str(picker.query_one("#run-on-note", Static).render())
        assert note == f"✘ {error.message}\n  {error.hint}"  # type: ignore[attr-defined]
        assert "Traceback" not in screen_text(app)
        assert prompts(picker) == ["this machine (local)", "no clusters listed"]
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.screen is screen
        assert screen.query_one("#field--finetune--run_on", Input).value == "local"
        assert screen.unsaved_fields() == []
