"""The user's settings are never lost: a save merges onto lab.toml and never replaces a file it could not
read; a reload after an outside edit really replaces the form's values."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from textual.widgets import Input

from engine.config import LabConfigError, build_config, load_config, save_config
from engine.paths import LabPaths
from tui.app import OliveLabApp
from tui.screens.confirm import ConfirmScreen
from tui.screens.steps import StepsScreen

LAB_TOML = """\
# my lab: keep this
profile = "demo"
theme = "olive-light"

[dataset]
path = "data/my.jsonl"
prompt_field = "question"
response_field = "answer"

[finetune]
text_template = "Q: {question}\\nA: {answer}"
max_steps = 50
lora_r = 16

[finetune.env]
HF_HOME = "/tmp/hf"

[keys]
"steps.save" = "ctrl+s,f2"

[azure]
workspace_name = "my-ws"
"""


@pytest.fixture(autouse=True)
def _steady(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLIVE_LAB_OLIVE", "olive")


def toasts(app: OliveLabApp) -> str:
    return "\n".join(text for _, _, text in app.notification_history)


async def open_steps(app: OliveLabApp, pilot) -> StepsScreen:  # type: ignore[no-untyped-def]
    await pilot.press("3")
    await pilot.pause(0.2)
    await app.workers.wait_for_complete()
    assert isinstance(app.screen, StepsScreen)
    return app.screen


async def type_into(pilot, screen: StepsScreen, key: str, text: str) -> None:  # type: ignore[no-untyped-def]
    box = screen.query_one(f"#field--{key.replace('.', '--')}", Input)
    box.focus()
    await pilot.press("ctrl+u", *text)
    await pilot.pause()


def asked(app: OliveLabApp) -> bool:
    """A question is on screen and mounted: it takes keys from now on (it ignores keys typed before it was)."""
    return isinstance(app.screen, ConfirmScreen) and app.screen.focused is not None


async def until(pilot, condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout / 0.1)):
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError("the app did not get there in time")


async def test_saving_steps_while_lab_toml_has_a_typo_leaves_the_file_as_it_is(tmp_path: Path) -> None:
    broken = LAB_TOML.replace("max_steps = 50", "max_step = 50")
    (tmp_path / "lab.toml").write_text(broken)
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_steps(app, pilot)
        await type_into(pilot, screen, "finetune.lora_r", "32")
        await pilot.press("ctrl+s")
        await pilot.pause()
        said = toasts(app)
    assert (tmp_path / "lab.toml").read_text() == broken
    assert "Not saved" in said and "line 12" in said and "field finetune.max_step" in said
    assert "lab.toml is left as it is" in said
    assert "Saved to" not in said


async def test_a_save_keeps_settings_the_form_does_not_show_and_edits_made_outside(tmp_path: Path) -> None:
    """Unsaved form edits, an outside edit of another field, "keep mine", save: both edits are in the file,
    and so are the theme, keys, Azure workspace and env table the form never showed."""
    (tmp_path / "lab.toml").write_text(LAB_TOML)
    before = load_config(LabPaths.at(tmp_path))
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_steps(app, pilot)
        await type_into(pilot, screen, "finetune.lora_r", "32")
        (tmp_path / "lab.toml").write_text(LAB_TOML.replace("max_steps = 50", "max_steps = 44"))
        await until(pilot, lambda: asked(app))
        await pilot.press("n")  # keep mine
        await pilot.pause()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert screen.query_one("#field--finetune--max_steps", Input).value == "44"
        assert "kept what was changed outside the app: finetune.max_steps" in toasts(app)
    after = load_config(LabPaths.at(tmp_path))
    assert after.finetune.lora_r == 32 and after.finetune.max_steps == 44
    unchanged = before.model_dump(exclude={"finetune": {"lora_r", "max_steps"}})
    assert after.model_dump(exclude={"finetune": {"lora_r", "max_steps"}}) == unchanged
    assert app.config == after


async def test_reload_after_an_outside_edit_replaces_the_forms_unsaved_edits(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text(LAB_TOML)
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    outside = LAB_TOML.replace("max_steps = 50", "max_steps = 44").replace("lora_r = 16", "lora_r = 24")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_steps(app, pilot)
        await type_into(pilot, screen, "finetune.lora_r", "32")
        await type_into(pilot, screen, "finetune.seed", "7")
        (tmp_path / "lab.toml").write_text(outside)
        await until(pilot, lambda: asked(app))
        await pilot.press("y")  # reload
        await pilot.pause(0.3)
        values = {k: screen.query_one(f"#field--finetune--{k}", Input).value for k in ("max_steps", "lora_r", "seed")}
        assert values == {"max_steps": "44", "lora_r": "24", "seed": "42"}
        assert screen.unsaved_fields() == []
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert tomllib.loads((tmp_path / "lab.toml").read_text()) == tomllib.loads(outside)


def test_save_merges_onto_the_file_and_refuses_a_broken_one(tmp_path: Path) -> None:
    lab = LabPaths.at(tmp_path)
    lab.config.write_text(LAB_TOML)
    shown = load_config(lab)
    lab.config.write_text(LAB_TOML.replace('workspace_name = "my-ws"', 'workspace_name = "other-ws"'))
    saved = save_config(lab, shown.model_copy(update={"stall_minutes": 3.0}), based_on=shown)
    assert saved.azure.workspace_name == "other-ws" and saved.stall_minutes == 3.0
    assert load_config(lab) == saved
    broken = LAB_TOML.replace("[keys]", "[keyz]")
    lab.config.write_text(broken)
    with pytest.raises(LabConfigError, match=r"line 18, field keyz") as refused:
        save_config(lab, build_config("demo"))
    assert "lab.toml is left as it is" in refused.value.full()
    assert lab.config.read_text() == broken


async def test_a_run_started_while_steps_holds_unsaved_edits_asks_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """r with unsaved edits on Steps: Esc starts nothing; "run saved settings" runs what lab.toml says and
    leaves the edits unsaved; "save and run" (r on the monitor) saves them and runs with them."""
    from conftest import FAKE_OLIVE

    from engine.runs.control import cancel_run
    from engine.runs.state import read_state

    monkeypatch.setenv("OLIVE_LAB_OLIVE", f"{sys.executable} {FAKE_OLIVE}")
    monkeypatch.setenv("FAKE_OLIVE_HANG", "1")
    saved = 'profile = "demo"\n[quantize]\nenabled = false\n'
    (tmp_path / "lab.toml").write_text(saved)
    lab = LabPaths.at(tmp_path)
    runs = lambda: sorted(lab.runs.glob("*/state.json")) if lab.runs.is_dir() else []  # noqa: E731
    app = OliveLabApp(lab, checks=lambda lab, config: [])
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_steps(app, pilot)
        await type_into(pilot, screen, "finetune.max_steps", "7")
        await pilot.press("escape", "1", "r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        assert "finetune.max_steps" in app.screen.question
        await pilot.press("escape")
        await pilot.pause(0.3)
        assert runs() == [] and "Not started: your edits are still unsaved" in toasts(app)
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("n")  # run the saved settings
        await until(pilot, lambda: len(runs()) == 1)
        first = runs()[0].parent
        assert read_state(first).config.finetune.max_steps == 20  # the demo profile's, as lab.toml says
        assert (tmp_path / "lab.toml").read_text() == saved
        assert screen.query_one("#field--finetune--max_steps", Input).value == "7"
        cancel_run(lab, first.name)
        await until(pilot, lambda: read_state(first).finished)
        await pilot.press("4", "r")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")  # save and run
        await until(pilot, lambda: len(runs()) == 2)
        second = max(runs()).parent
        assert read_state(second).config.finetune.max_steps == 7
        cancel_run(lab, second.name)
    assert load_config(lab).finetune.max_steps == 7


@pytest.mark.timeout(20)
async def test_a_fifo_in_place_of_lab_toml_does_not_hang_the_first_frame(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "lab.toml")  # nothing ever writes to it: reading it would wait forever
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "FIFO" in toasts(app))
        assert "lab.toml" in toasts(app)


async def test_an_outside_edit_that_breaks_lab_toml_is_said_at_once_and_the_unsaved_edits_stay(tmp_path: Path) -> None:
    """With unsaved edits on Steps, a typo saved from an editor asked "Reload it (your unsaved edits are
    dropped)?"; Reload then kept the edits (the file did not read) and asked again at the next save."""
    (tmp_path / "lab.toml").write_text(LAB_TOML)
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_steps(app, pilot)
        await type_into(pilot, screen, "finetune.lora_r", "32")
        (tmp_path / "lab.toml").write_text(LAB_TOML.replace("max_steps = 50", "max_step = 50"))
        await until(pilot, lambda: app.config_error is not None)
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmScreen)
        assert "line 12, field finetune.max_step" in toasts(app)
        assert screen.query_one("#field--finetune--lora_r", Input).value == "32"
        (tmp_path / "lab.toml").write_text(LAB_TOML)  # fixed: now the app asks, as for any outside edit
        await until(pilot, lambda: asked(app))


async def test_steps_says_above_its_form_that_lab_toml_could_not_be_read_and_what_the_form_shows(
    tmp_path: Path,
) -> None:
    """A lab.toml with an invalid value: Steps says on itself that the file could not be read, where (file,
    line, field), that its form shows the demo defaults and that ctrl+s saves nothing (the file stays as it is).
    Fixed outside, the line goes and the form shows the file; broken again by a TOML typo, the line says the form
    keeps the settings from before it broke."""
    from tui.widgets.settings_problem import SettingsProblem

    broken = LAB_TOML.replace("lora_r = 16", "lora_r = 0")
    (tmp_path / "lab.toml").write_text(broken)
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_steps(app, pilot)
        problem = screen.query_one(SettingsProblem)
        said = lambda: str(problem.render())  # noqa: E731
        await until(pilot, lambda: problem.display)
        assert "lab.toml could not be read: this form shows the demo defaults" in said()
        assert f"{tmp_path / 'lab.toml'}, line 13, field finetune.lora_r" in said()
        assert "ctrl+s saves nothing until the file is fixed" in said()
        assert screen.query_one("#field--finetune--lora_r", Input).value == "8"  # the demo profile's
        await type_into(pilot, screen, "finetune.max_steps", "7")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert (tmp_path / "lab.toml").read_text() == broken
        assert "Not saved" in toasts(app) and problem.display
        (tmp_path / "lab.toml").write_text(LAB_TOML)  # fixed outside: the unsaved edit makes the app ask
        await until(pilot, lambda: asked(app))
        await pilot.press("y")  # reload
        await until(pilot, lambda: not problem.display)
        await pilot.pause(0.3)
        assert screen.query_one("#field--finetune--lora_r", Input).value == "16"
        (tmp_path / "lab.toml").write_text(LAB_TOML.replace("lora_r = 16", "lora_r = = 16"))
        await until(pilot, lambda: problem.display)
        assert "this form shows its settings from before it broke" in said()
        assert "is not valid TOML" in said() and "line 13" in said()
    assert (tmp_path / "lab.toml").read_text() == LAB_TOML.replace("lora_r = 16", "lora_r = = 16")
