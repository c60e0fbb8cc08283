"""The steps screen driven with keys: invalid values show pydantic's message, fixed values save."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from textual.widgets import Input

from engine.config import build_config, load_config, save_config
from engine.paths import LabPaths
from tests.helpers import new_run_folder
from tui.app import OliveLabApp
from tui.screens.steps import StepsScreen


@pytest.fixture(autouse=True)
def _steady(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLIVE_LAB_OLIVE", "olive")


async def open_steps(app: OliveLabApp, pilot) -> StepsScreen:  # type: ignore[no-untyped-def]
    await pilot.press("3")
    await pilot.pause(0.2)
    assert isinstance(app.screen, StepsScreen)
    return app.screen


def command_text(screen: StepsScreen) -> str:
    return str(screen.query_one("#command").render())


async def test_out_of_range_value_is_shown_then_fixed_and_saved(tmp_path: Path) -> None:
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_steps(app, pilot)
        box = screen.query_one("#field--finetune--lora_r", Input)
        box.focus()
        await pilot.press("end", "backspace", "backspace", *"5000")
        await pilot.pause()
        assert screen.errors == {"finetune.lora_r": "Input should be less than or equal to 1024"}
        assert box.value == "5000"  # what was typed stays
        row_error = str(box.ancestors[1].query_one(".field-error").render())
        assert "less than or equal to 1024" in row_error
        assert "(not updated while finetune.lora_r is invalid)" in command_text(screen)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not (tmp_path / "lab.toml").exists()
        await pilot.press("backspace", "backspace", "backspace", "backspace", "3", "2")
        await pilot.pause()
        assert screen.errors == {}
        assert "--lora_r 32" in command_text(screen)
        await pilot.press("ctrl+s")
        await pilot.pause()
    saved = tomllib.loads((tmp_path / "lab.toml").read_text())
    assert saved["finetune"] == {"lora_r": 32}
    assert load_config(LabPaths.at(tmp_path)).finetune.lora_r == 32


async def test_template_error_and_reset_to_default(tmp_path: Path) -> None:
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_steps(app, pilot)
        box = screen.query_one("#field--finetune--text_template", Input)
        box.focus()
        box.value = "no fields here"
        await pilot.pause()
        assert "names no {field}" in screen.errors["finetune.text_template"]
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert screen.errors == {}
        assert box.value == "<|user|>\\n{prompt}<|end|>\\n<|assistant|>\\n{response}<|end|>"


async def test_restore_settings_of_an_earlier_run(tmp_path: Path) -> None:
    """A run folder written as `pipeline run --from finetune` writes it: forced steps, a masked secret."""
    lab = LabPaths.at(tmp_path)
    old = build_config("demo", {"finetune": {"max_steps": 77, "env": {"HF_TOKEN": "hf_old_secret"}}})
    run_dir = lab.run_dir("20260102-030405")
    run_dir.mkdir(parents=True)
    new_run_folder(lab, run_dir, old, ["finetune", "optimize"])
    assert "hf_old_secret" not in (run_dir / "state.json").read_text()
    save_config(lab, build_config("demo", {"finetune": {"env": {"HF_TOKEN": "hf_current"}}}))
    app = OliveLabApp(lab, checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_steps(app, pilot)
        await pilot.press("ctrl+o")
        await pilot.pause(0.2)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert screen.query_one("#field--finetune--max_steps", Input).value == "77"
        assert "--max_steps 77" in command_text(screen)
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert load_config(lab).finetune.max_steps == 77
    assert app.config.finetune.max_steps == 77
    assert load_config(lab).finetune.env == {"HF_TOKEN": "hf_current"}  # the secret kept its current value


async def test_the_whole_command_shows_at_80_columns_and_copies(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from engine.paths import LabPaths
    from engine.steps.spec import command_line
    from tui.app import OliveLabApp

    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    copied: list[str] = []
    app.copy_to_clipboard = copied.append  # type: ignore[method-assign,assignment]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await pilot.pause(0.5)
        command = app.screen.query_one("#command")
        last = command_line("finetune", app.config).split()[-1]
        await pilot.press("ctrl+l")
        await pilot.pause(0.3)
        screen_text = "\n".join(strip.text for strip in app.screen._compositor.render_strips())
        assert last in screen_text and command.has_class("-expanded")
        await pilot.press("ctrl+y")
        assert copied == [command_line("finetune", app.config)]


async def test_a_non_ascii_template_and_a_missing_olive_are_flagged(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from textual.widgets import Input

    from engine.paths import LabPaths
    from tui.app import OliveLabApp

    (tmp_path / "lab.toml").write_text(
        '[finetune]\ntext_template = "Frage: {prompt}\\nAntwort – {response}"\nolive = "no-such-olive-here"\n'
    )
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("3")
        await pilot.pause(0.5)
        screen = app.screen

        def note(key: str) -> str:
            row = screen.query_one(f"#field--{key.replace('.', '--')}", Input).ancestors[1]
            return str(row.query_one(".field-error").render())

        assert "⚠" in note("finetune.text_template")
        assert "no program 'no-such-olive-here'" in note("finetune.olive")


async def test_lab_toml_edited_outside_the_app_is_reloaded_or_asked_about(tmp_path: Path) -> None:
    """With no unsaved edits the app takes the new file; with some, it asks before dropping them."""
    from tui.screens.confirm import ConfirmScreen

    lab = LabPaths.at(tmp_path)
    app = OliveLabApp(lab, checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await open_steps(app, pilot)
        await app.workers.wait_for_complete()
        (tmp_path / "lab.toml").write_text('profile = "demo"\n[finetune]\nmax_steps = 33\n')
        field = screen.query_one("#field--finetune--max_steps", Input)
        for _ in range(80):
            if app.config.finetune.max_steps == 33 and field.value == "33":
                break
            await pilot.pause(0.1)
        assert app.config.finetune.max_steps == 33 and field.value == "33"
        assert any("changed outside the app: reloaded" in n.message for n in app._notifications)
        screen.query_one("#field--finetune--lora_r", Input).value = "12"  # an unsaved edit
        await pilot.pause()
        (tmp_path / "lab.toml").write_text('profile = "demo"\n[finetune]\nmax_steps = 44\n')
        for _ in range(80):
            if isinstance(app.screen, ConfirmScreen):
                break
            await pilot.pause(0.1)
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # keep mine
        await pilot.pause(0.3)
        assert app.config.finetune.max_steps == 33
        assert screen.query_one("#field--finetune--lora_r", Input).value == "12"
