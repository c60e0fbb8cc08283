"""The golden check from the chat screen (ctrl+g and the palette) on the real demo model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.app import App

from engine.chat.golden import GOLDEN_FILE, load_golden
from engine.config import load_config
from engine.paths import LabPaths
from tui.screens.chat import ChatScreen
from tui.screens.golden import GoldenScreen

pytestmark = pytest.mark.pipeline

RUN_ID = "20260101-000000"
EXAMPLES = 3


class ChatApp(App[None]):
    """The chat screen alone, with the `lab` and `config` attributes the real app gives its screens."""

    def __init__(self, lab: LabPaths) -> None:
        super().__init__()
        self.lab = lab
        self.config = load_config(lab)

    def on_mount(self) -> None:
        self.push_screen(ChatScreen(device="cpu"))


@pytest.fixture
def golden_lab(demo_run: Path, tmp_path: Path) -> LabPaths:
    """A copy of the demo run (model, state) whose held-back split keeps its first few real examples."""
    run = tmp_path / "lab" / "runs" / RUN_ID
    shutil.copytree(demo_run / "optimize" / "output", run / "optimize" / "output")
    shutil.copy(demo_run / "state.json", run / "state.json")
    lines = (demo_run / "data" / "validation.jsonl").read_text(encoding="utf-8").splitlines()[:EXAMPLES]
    (run / "data").mkdir()
    (run / "data" / "validation.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return LabPaths.at(tmp_path / "lab")


async def until(pilot, condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("the golden check did not get there in time")


async def test_ctrl_g_runs_the_golden_check_and_shows_its_table(golden_lab: LabPaths) -> None:
    app = ChatApp(golden_lab)
    run_dir = golden_lab.run_dir(RUN_ID)
    async with app.run_test(size=(120, 40)) as pilot:
        chat = app.screen
        await until(pilot, lambda: isinstance(chat, ChatScreen) and chat.session is not None)
        await pilot.press("ctrl+g")
        await until(pilot, lambda: isinstance(app.screen, GoldenScreen) and bool(app.screen.table))
        golden = app.screen
        assert isinstance(golden, GoldenScreen)
        table = golden.table
        assert f"Golden check: {EXAMPLES} held-back examples" in table
        assert "base" in table and "ROUGE-L" in table and "Worst" in table
        status = str(golden.query_one("#golden-status").render())
        assert "saved to" in status and GOLDEN_FILE in status
        report = load_golden(run_dir)
        assert report is not None and len(report.rows) == EXAMPLES
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is chat
        await pilot.press("ctrl+g")  # the saved report is shown at once, without answering again
        await until(pilot, lambda: isinstance(app.screen, GoldenScreen) and bool(app.screen.table), 5)
        assert "saved report" in str(app.screen.query_one("#golden-status").render())
