"""Screens that tell the truth: what each shows agrees with the run folder and fits the terminal."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from fixtures.monitor_app import MonitorApp
from fixtures.runfolders import finished_run
from textual.pilot import Pilot
from textual.visual import Visual

from tui.screens.monitor import MonitorScreen


async def wait_for(pilot: Pilot, check: Callable[[], bool], timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if check():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not met in time")


def shown(container) -> str:
    """Each cell (Static) of `container` as drawn at its own size, its wrapped lines joined (a cut cell loses
    its end), scrolled into view or not."""
    cells = []
    for w in container.query("Static"):
        strips = Visual.to_strips(w, w.render(), w.size.width, w.size.height, w.visual_style)
        cells.append("".join(strip.text.strip() for strip in strips))
    return "\n".join(cells)


async def test_compare_fits_the_screen_and_lists_only_run_settings(tmp_path: Path) -> None:
    finished_run(tmp_path / "runs", "20251124-100000-a")
    b = finished_run(tmp_path / "runs", "20251124-110000-b", lora_r=16, fail_step="optimize")
    state = json.loads((b / "state.json").read_text())
    state["config"]["theme"] = "olive-light"  # the app's look, not a setting of the run
    state["config"]["dataset"]["path"] = "/home/someone/sets/a/long/way/down/to/my_travel_set_2026.jsonl"
    (b / "state.json").write_text(json.dumps(state))
    for size in ((120, 40), (80, 24)):
        await look_at_compare(tmp_path, size)


async def look_at_compare(lab: Path, size: tuple[int, int]) -> None:
    from tui.screens.compare import CompareScreen

    app = MonitorApp(lab)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.state is not None)
        await pilot.press("d", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.comparison is not None)
        settings = app.screen.query_one("#cmp-settings")
        steps = app.screen.query_one("#cmp-steps")
        try:  # the cells' heights follow their wrapped lines after a layout pass
            await wait_for(pilot, lambda: "2026.jsonl" in shown(settings), timeout=3)
        except AssertionError:
            pass  # judged below
        assert settings.region.right <= size[0] and steps.region.right <= size[0]
        settings_text, steps_text = shown(settings), shown(steps)
        assert "/home/someone/sets/a/long/way/down/to/my_travel_set_2026.jsonl" in settings_text
        assert "data/travel.jsonl" in settings_text  # both values whole
        assert "theme" not in settings_text and "olive-light" not in settings_text
        assert "CUDAoutofmemorywhiletrainingtheadapter" in "".join(steps_text.split())  # wrapped, not cut
