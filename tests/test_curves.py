"""The training curves (plotext through textual-plotext) at 80x24: log scale and zoom keys on the monitor."""

from __future__ import annotations

import time
from pathlib import Path

from fixtures.monitor_app import MonitorApp
from fixtures.runfolders import finished_run
from textual.pilot import Pilot
from textual_plotext import PlotextPlot

from tui.screens.monitor import MonitorScreen
from tui.widgets.curves import Curves
from tui.widgets.log_view import LogView


def _eval_points(curves: Curves) -> int:
    return sum(len(c.points) for c in curves.panels.get("loss", []) if c.name == "eval")


async def _loaded(pilot: Pilot) -> None:
    deadline = time.monotonic() + 5
    while not (
        isinstance(pilot.app.screen, MonitorScreen)
        and pilot.app.screen.query_one(LogView).line_count > 20
        and _eval_points(pilot.app.screen.query_one(Curves)) == 2  # the run read to its end (eval at 10 and 20)
    ):
        assert time.monotonic() < deadline, "the run did not load"
        await pilot.pause(0.05)
    await pilot.pause(0.2)


def axes(app) -> tuple[list[float], list[float]]:
    """The value-axis labels (top to bottom) and the step-axis labels of the chart as drawn on the screen."""
    text = app.screen.query_one(Curves).query_one(PlotextPlot).render().plain.splitlines()
    values = [float(line.split("┤")[0]) for line in text if "┤" in line and line.split("┤")[0].strip()]
    steps = [float(x) for x in text[-1].split()] if text else []
    return values, steps


async def test_log_scale_and_zoom_keys_change_the_axes_on_the_monitor(tmp_path: Path) -> None:
    finished_run(tmp_path / "runs")  # training loss 3.912 .. 2.21 at steps 5..20, evaluation loss at 10 and 20
    app = MonitorApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await _loaded(pilot)
        values, steps = axes(app)
        assert values[0] == 3.91 and steps[0] == 5.0 and steps[-1] == 20.0
        await pilot.press("l")
        await pilot.pause(0.1)
        log_values, _ = axes(app)
        assert "· log" in str(app.screen.query_one("#curves-legend").render())
        assert log_values[0] == 3.91 and log_values[-1] == 2.21 and log_values != values  # ticks placed on a log axis
        await pilot.press("plus")
        await pilot.pause(0.1)
        _, zoomed = axes(app)
        assert zoomed[0] >= 12.5 and zoomed[-1] == 20.0  # the newest half of the steps
        await pilot.press("minus")
        await pilot.pause(0.1)
        assert axes(app)[1][0] == 5.0
        await pilot.press("plus", "plus", "0")
        await pilot.pause(0.1)
        assert axes(app)[1][0] == 5.0
        await pilot.press("g")  # the next curve the trainer logged: the learning rate
        await pilot.pause(0.1)
        assert app.screen.query_one(Curves).panel == "learning rate"
        assert "learning rate: ● learning rate 0.0001" in str(app.screen.query_one("#curves-legend").render())


def test_monitor_chart_on_a_log_scale_zoomed_in(snap_compare, tmp_path: Path) -> None:
    finished_run(tmp_path / "runs")

    async def run_before(pilot: Pilot) -> None:
        await _loaded(pilot)
        await pilot.press("l", "plus")
        legend = pilot.app.screen.query_one("#curves-legend")
        while not ("· log" in str(legend.render()) and "newest 1/2" in str(legend.render())):
            await pilot.pause(0.05)
        await pilot.pause(0.2)

    assert snap_compare(MonitorApp(tmp_path), terminal_size=(80, 24), run_before=run_before)


def step_labels(chart: Curves) -> list[float]:
    plain: str = getattr(chart.query_one(PlotextPlot).render(), "plain", "")
    return [float(x) for x in plain.splitlines()[-1].split()] if plain else []


async def test_zoom_stops_while_the_newest_slice_still_holds_points_and_the_axis_ends_at_the_last_step() -> None:
    from textual.app import App, ComposeResult

    from tui.widgets.curves import Curve

    class ChartApp(App[None]):
        def compose(self) -> ComposeResult:
            yield Curves(id="chart")

    app = ChartApp()
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        chart = app.query_one(Curves)
        chart.set_panel("loss", [Curve("train", [(float(i), 3.0 - 0.1 * i) for i in range(1, 21)], "primary")])
        for _ in range(6):
            chart.act("in")
        await pilot.pause(0.1)
        assert chart.zoom == 2  # the newest quarter: 5 points; an eighth would hold 3
        assert "newest 1/4" in str(chart.query_one("#curves-legend").render())
        assert any("as far as the points allow" in str(n.message) for n in app._notifications)
        steps = step_labels(chart)
        assert steps and max(steps) <= 20.0 and min(steps) >= 15.0
        chart.set_panel("loss", [Curve("train", [(7.0, 2.0)], "primary")])  # one point: no axis past it
        chart.act("all")
        await pilot.pause(0.1)
        steps = step_labels(chart)
        assert steps and max(steps) <= 7.0


async def test_the_monitor_chart_grows_with_a_tall_terminal_and_keeps_its_height_at_80x24(tmp_path: Path) -> None:
    finished_run(tmp_path / "runs")
    heights = {}
    for size in ((80, 24), (120, 40)):
        app = MonitorApp(tmp_path)
        async with app.run_test(size=size) as pilot:
            await _loaded(pilot)
            heights[size] = app.screen.query_one(Curves).query_one(PlotextPlot).size.height
    assert heights[(80, 24)] == 6  # as before: the legend and six rows
    assert heights[(120, 40)] >= 12, heights


async def test_a_chart_with_no_loss_yet_says_so_instead_of_an_empty_frame(tmp_path: Path) -> None:
    app = MonitorApp(tmp_path)  # no run in the lab: nothing logged
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        chart = app.screen.query_one(Curves)
        assert chart.query_one("#curves-empty").display
        assert not chart.query_one(PlotextPlot).display  # no axes around nothing
        assert "no loss logged yet" in str(chart.query_one("#curves-empty").render())
