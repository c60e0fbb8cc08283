"""A finished sweep on the monitor and its branches view, keys only: retry, following a branch and back, the
curves' place, the ranking's sign and noise, q and the text at 80x24 (fixture folders, no olive)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from fixtures.monitor_app import MonitorApp
from fixtures.runfolders import evaluated_sweep
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable, Label

from engine.paths import LabPaths
from engine.runs.state import read_state, write_state
from tui.app import OliveLabApp
from tui.screens.compare import CompareScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.monitor import MonitorScreen
from tui.screens.sweep import SweepScreen
from tui.screens.sweep_start import SweepStartScreen
from tui.widgets.curves import Curves


async def wait_for(pilot: Pilot, check: Callable[[], bool], timeout: float = 10, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not in {timeout} s: {what}")
        await pilot.pause(0.05)


def notes(app: MonitorApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


def chosen_branch(app: MonitorApp) -> str | None:
    screen = app.screen
    branch = screen.selected() if isinstance(screen, SweepScreen) else None
    return branch.row.label if branch else None


async def on_monitor(pilot: Pilot) -> MonitorScreen:
    app = pilot.app
    await wait_for(pilot, lambda: isinstance(app.screen, MonitorScreen) and app.screen.state is not None, what="run")
    assert isinstance(app.screen, MonitorScreen)
    return app.screen


async def test_t_on_a_cancelled_sweep_says_a_sweep_is_started_again(tmp_path: Path) -> None:
    sweep = evaluated_sweep(tmp_path / "runs")
    state = read_state(sweep)
    state.status, state.reason = "cancelled", "cancelled by the user"
    write_state(sweep, state)
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await on_monitor(pilot)
        await pilot.press("t")
        await wait_for(pilot, lambda: "sweep" in notes(app), what="the answer to t")
        assert "A sweep is not retried: start it again (f6 on Steps)." in notes(app)
        assert "Nothing to retry" not in notes(app)


async def test_a_branch_followed_with_o_names_its_sweep_and_b_or_escape_go_back_to_the_sweep_view(
    tmp_path: Path,
) -> None:
    sweep = evaluated_sweep(tmp_path / "runs")
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        monitor = await on_monitor(pilot)
        for back in ("b", "escape"):
            await pilot.press("b")
            await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen) and app.screen.snapshot is not None)
            await pilot.press("down", "o")  # lora_r-16
            await wait_for(pilot, lambda: app.screen is monitor and monitor.run_dir == sweep / "branches" / "lora_r-16")
            await wait_for(pilot, lambda: monitor.state is not None, what="the branch read")
            await pilot.pause(0.1)
            title = str(monitor.query_one("#mon-title").render())
            assert f"branch lora_r-16 of sweep {sweep.name}" in title and "chosen with p" not in title, title
            assert monitor.check_action("branches", ()) is True  # b Branches stays in the footer
            await pilot.press(back)
            await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen), what=f"{back} back to the sweep view")
            assert isinstance(app.screen, SweepScreen) and app.screen.run_dir == sweep
            await wait_for(pilot, lambda: chosen_branch(app) == "lora_r-16", what="the cursor on the branch followed")
            assert monitor.run_dir == sweep  # the monitor shows the sweep again under it
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is monitor, what="back to the monitor")


def sweep_of_shared_steps(runs: Path) -> Path:
    """A finished sweep as the engine leaves it: its own folder ran prepare and quantize, the branches trained."""
    sweep = evaluated_sweep(runs)
    state = read_state(sweep)
    state.steps = [s for s in state.steps if s.name in ("prepare", "quantize")]
    write_state(sweep, state)
    events = sweep / "events.jsonl"
    kept = [line for line in events.read_text().splitlines() if '"finetune"' not in line and '"optimize"' not in line]
    events.write_text("\n".join(kept) + "\n")
    return sweep


async def test_the_monitor_of_a_sweep_says_its_training_curves_are_in_the_branches(tmp_path: Path) -> None:
    sweep_of_shared_steps(tmp_path / "runs")
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        monitor = await on_monitor(pilot)
        await pilot.pause(0.2)
        chart = monitor.query_one(Curves)
        assert chart.empty_text == "training runs in the branches: b shows their curves"
        assert "no loss logged yet" not in chart.empty_text


async def test_the_sweep_view_marks_a_branch_within_noise_of_the_best_with_one_sign(tmp_path: Path) -> None:
    evaluated_sweep(tmp_path / "runs")  # 16 best by held-out loss; 64 within noise of it; 4 worse beyond noise
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await on_monitor(pilot)
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen) and app.screen.snapshot is not None)
        view = app.screen
        assert isinstance(view, SweepScreen)
        table = view.query_one("#sweep-table", DataTable)
        marks = [str(table.get_row_at(i)[0]) for i in range(4)]
        assert marks == ["", "★", "≈", ""]  # 4, 16, 64, 128
        notes_of = {}
        for label in ("lora_r-4", "lora_r-16", "lora_r-64"):
            await pilot.pause(0.1)
            assert chosen_branch(app) == label
            notes_of[label] = " ".join(str(view.query_one("#sweep-note").render()).split())
            await pilot.press("down")
        assert "held-out loss +0.300 against the best (lower is better;" in notes_of["lora_r-4"]
        assert "beyond noise" in notes_of["lora_r-4"]
        assert "against the best (lower is better;" in notes_of["lora_r-64"]
        assert "within noise: this split cannot tell it from the best" in notes_of["lora_r-64"]
        assert "best, but within noise of it (≈): lora_r-64" in notes_of["lora_r-16"]


async def test_q_on_the_sweep_view_and_compare_asks_before_quitting_and_escape_goes_back(tmp_path: Path) -> None:
    evaluated_sweep(tmp_path / "runs")
    app = OliveLabApp(LabPaths.at(tmp_path), checks=lambda lab, config: [])
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("4")
        await on_monitor(pilot)
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen), what="the sweep view")
        sweep_view = app.screen
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen), what="Compare")
        compare = app.screen
        for screen in (compare, sweep_view):
            await pilot.press("q")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="q asks")
            await pilot.press("escape")  # Stay
            await wait_for(pilot, lambda: app.screen is screen, what="stayed")  # noqa: B023
            await pilot.press("escape")  # back
            await wait_for(pilot, lambda: app.screen is not screen, what="escape goes back")  # noqa: B023
        assert isinstance(app.screen, MonitorScreen)


async def test_compare_says_about_as_fast_when_the_durations_round_equal_and_no_signed_zero(tmp_path: Path) -> None:
    sweep = evaluated_sweep(tmp_path / "runs")
    branch = sweep / "branches" / "lora_r-4"
    state = read_state(branch)  # 0.3 s slower than lora_r-16 in all: the same at the clock's second
    assert state.ended_at is not None and state.steps[0].ended_at is not None
    state.ended_at += 0.3
    state.steps[0].ended_at += 0.3
    write_state(branch, state)
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await on_monitor(pilot)
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen) and app.screen.snapshot is not None)
        await pilot.press("d")  # lora_r-4 against the best, lora_r-16
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.comparison is not None)
        await pilot.pause(0.1)
        verdicts = str(app.screen.query_one("#cmp-verdicts").render())
        assert "about as fast (1:13 each)" in verdicts and "was faster" not in verdicts, verdicts
        cells = [str(s.render()) for s in app.screen.query("#cmp-steps Static")]
        assert "−0:00" not in cells and "+0:00" not in cells and "0:00" in cells, cells


def fits(widget: Widget) -> bool:
    """Whether the widget's text has room on the screen (it wraps: width times the lines it has)."""
    text = str(widget.render())
    return len(text) <= widget.content_size.width * widget.content_size.height


async def test_the_sweep_titles_compare_header_and_sweep_dialog_fit_at_80x24(tmp_path: Path) -> None:
    sweep = evaluated_sweep(tmp_path / "runs")
    for label in ("lora_r-4", "lora_r-16"):  # as the engine makes a branch: the sweep's id, its own label
        state = read_state(sweep / "branches" / label)
        state.id, state.branch = sweep.name, label
        write_state(sweep / "branches" / label, state)
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        monitor = await on_monitor(pilot)
        await pilot.pause(0.2)
        title = monitor.query_one("#mon-title")
        assert "4 branches (b)" in str(title.render()) and fits(title)
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, SweepScreen) and app.screen.snapshot is not None)
        await pilot.pause(0.2)
        title = app.screen.query_one("#sweep-title")
        assert "best: lora_r-16 ★" in str(title.render()) and fits(title)
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.comparison is not None)
        await pilot.pause(0.2)
        header = app.screen.query_one("#cmp-title")
        text = str(header.render())
        assert f"sweep {sweep.name}: A = lora_r-4 (done)   B = lora_r-16 (done)" == text and fits(header)
        app.push_screen(SweepStartScreen())
        await wait_for(pilot, lambda: isinstance(app.screen, SweepStartScreen), what="the sweep dialog")
        await pilot.pause(0.2)
        for label in app.screen.query(Label):
            assert fits(label), str(label.render())
