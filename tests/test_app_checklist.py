"""The checklist driven with keys: it shows the dataset's problems, suggests field names, and Enter acts."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from engine.paths import LabPaths
from tui.app import OliveLabApp
from tui.screens.home import HomeScreen
from tui.screens.steps import StepsScreen
from tui.widgets.checklist import Checklist


def qa_lab(root: Path) -> Path:
    lines = [f'{{"question": "q{i}", "answer": "a{i}"}}' for i in range(12)]
    (root / "qa.jsonl").write_text("\n".join(lines) + "\n")
    (root / "lab.toml").write_text('profile = "demo"\n[dataset]\npath = "qa.jsonl"\n')
    return root


async def test_a_set_with_other_field_names_is_flagged_and_enter_fills_them_in(tmp_path: Path) -> None:
    app = OliveLabApp(LabPaths.at(qa_lab(tmp_path)), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = app.screen.query_one(Checklist).text()
        assert "✘ Dataset checked and split  (failed)" in text
        assert "field 'prompt': missing" in text
        assert "Enter sets prompt_field='question', response_field='answer'" in text
        await pilot.press("enter")  # the dataset line is the first
        await pilot.pause(0.5)
        assert isinstance(app.screen, StepsScreen)
        assert app.screen.query_one("#field--dataset--prompt_field", Input).value == "question"
        assert app.screen.query_one("#field--dataset--response_field", Input).value == "answer"
        template = app.screen.query_one("#field--finetune--text_template", Input).value
        assert "{question}" in template and "{answer}" in template
        await pilot.press("ctrl+s", "escape", "1")
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        assert isinstance(app.screen, HomeScreen)
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        assert "✘ Dataset" not in app.screen.query_one(Checklist).text()


async def test_checklist_lines_are_selectable_and_lead_to_their_screen(tmp_path: Path) -> None:
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("down", "down", "down", "down", "enter")  # the chat line
        await pilot.pause(0.5)
        assert app.current_mode == "chat"
