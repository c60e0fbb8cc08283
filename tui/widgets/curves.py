"""Training curves drawn by plotext (through textual-plotext, a kept plotting library for Textual): the loss and
evaluation loss, the learning rate and the gradient norm where the trainer logs them, any number of series (a
sweep's branches on one scale). The widget keeps its own view state: which panel, log scale, zoom.

Keys (the screens bind them, since the log or a table has the focus): `l` log scale, `+` zoom in on the newest
steps (each press halves the span shown, while 4 points remain), `-` zoom out, `0` every step again, `g` the next
panel that has points. A zoomed view shows only the points in its span, so the value axis fits them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.color import Color
from textual.containers import Vertical
from textual.widgets import Static

Point = tuple[float, float]
PANELS = ("loss", "learning rate", "grad norm")
MAX_ZOOM = 6  # 1/64 of the steps at most
MIN_POINTS = 4  # a zoom shows at least this many points of a curve (half of a shorter curve's, at least 2)


@dataclass
class Curve:
    name: str
    points: Sequence[Point]
    colour: str  # a theme variable ("primary") or a colour name
    dots: bool = False  # separate points (evaluation loss, a few per run) rather than a line


def visible(points: Sequence[Point], zoom: int, last: float | None, first: float | None) -> list[Point]:
    """The points a zoom level shows: the newest 1/2**zoom of the step span (every point at zoom 0)."""
    if zoom <= 0 or last is None or first is None:
        return list(points)
    start = last - (last - first) / 2**zoom
    return [p for p in points if p[0] >= start]


def deepest_zoom(curves: Sequence[Curve]) -> int:
    """The deepest zoom whose newest slice still holds MIN_POINTS points of some curve (half of a curve with fewer
    than twice that, and 2 at least): past it the lines would thin out to nothing."""
    steps = [p[0] for c in curves for p in c.points]
    if not steps:
        return 0
    first, last = min(steps), max(steps)
    for zoom in range(1, MAX_ZOOM + 1):
        if not any(len(visible(c.points, zoom, last, first)) >= min(MIN_POINTS, max(2, len(c.points) // 2))
                   for c in curves if c.points):  # fmt: skip
            return zoom - 1
    return MAX_ZOOM


def number(value: float) -> str:
    """A curve's value as its legend shows it: 3 decimals like the monitor's text, or 3 figures when tiny."""
    return f"{value:.3f}" if abs(value) >= 0.01 else f"{value:.3g}"


def log_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Tick positions (log10 of the value) for a log axis from 10**low to 10**high: the powers of ten inside the
    range when there are at least two, else `count` evenly spaced ones."""
    powers = [float(p) for p in range(math.ceil(low), math.floor(high) + 1)]
    if len(powers) >= 2:
        return powers
    if high - low < 1e-12:
        return [low]
    return [low + (high - low) * i / (count - 1) for i in range(count)]


class Curves(Vertical):
    """A legend line over a plotext plot. `set_panel(name, curves)` gives a panel its series."""

    DEFAULT_CSS = """
    Curves { height: 8; }
    Curves > #curves-legend { height: 1; }
    Curves > #curves-empty { height: 1fr; color: $text-muted; display: none; }
    Curves.-empty > #curves-empty { display: block; }
    Curves.-empty > PlotextPlot { display: none; }
    """

    def __init__(self, *, empty_text: str = "no loss logged yet", id: str | None = None) -> None:
        super().__init__(id=id)
        self.panels: dict[str, list[Curve]] = {name: [] for name in PANELS}
        self.panel = "loss"
        self.log_scale = False
        self.zoom = 0
        self._empty_text = empty_text

    def compose(self) -> ComposeResult:
        from textual_plotext import PlotextPlot  # deferred: plotext is only needed once a chart is shown

        yield Static("", id="curves-legend")
        yield Static(self._empty_text, id="curves-empty")
        yield PlotextPlot()

    def on_mount(self) -> None:
        self.call_later(self.redraw)  # `is_mounted` turns true only once the mount handlers have run

    @property
    def empty_text(self) -> str:
        return self._empty_text

    @empty_text.setter
    def empty_text(self, text: str) -> None:
        if text != self._empty_text:
            self._empty_text = text
            if self.is_mounted:
                self.query_one("#curves-empty", Static).update(Text(text))

    def set_panel(self, name: str, curves: list[Curve]) -> None:
        self.panels[name] = curves
        if name == self.panel or not self._has_points(self.panel):
            self.redraw()

    def _has_points(self, name: str) -> bool:
        return any(c.points for c in self.panels.get(name, []))

    def act(self, what: str) -> str:
        """A chart key: 'log', 'in', 'out', 'all' or 'metric'; returns what the chart shows now."""
        if what == "log":
            self.log_scale = not self.log_scale
        elif what == "in":
            deepest = deepest_zoom(self.panels.get(self.panel, []))
            if self.zoom >= deepest:
                self.notify("zoomed in as far as the points allow (0: every step)", timeout=3)
            self.zoom = max(0, min(deepest, self.zoom + 1))
        elif what == "out":
            self.zoom = max(0, self.zoom - 1)
        elif what == "all":
            self.zoom = 0
        elif what == "metric":
            names = [n for n in PANELS if self._has_points(n)] or ["loss"]
            self.panel = names[(names.index(self.panel) + 1) % len(names)] if self.panel in names else names[0]
        self.redraw()
        return self.describe()

    def describe(self) -> str:
        scale = "log scale" if self.log_scale else "linear scale"
        span = "every step" if self.zoom == 0 else f"the newest 1/{2**self.zoom} of the steps"
        return f"{self.panel}, {scale}, {span}"

    def _colour(self, name: str) -> tuple[int, int, int]:
        value = self.app.theme_variables.get(name, name) if self.is_mounted else name
        try:
            return Color.parse(value).rgb
        except Exception:  # a colour plotext cannot take: the theme's text colour instead
            return Color.parse(self.app.theme_variables.get("foreground", "white")).rgb

    def redraw(self) -> None:
        if not self.is_mounted:
            return
        from textual_plotext import PlotextPlot

        curves = [c for c in self.panels.get(self.panel, []) if c.points]
        zoom = min(self.zoom, deepest_zoom(curves))  # another panel, or fewer points, may allow less
        self.set_class(not curves, "-empty")
        legend = Text(no_wrap=True, overflow="ellipsis")
        if curves:
            legend.append(f"{self.panel}: ", style="bold")
            for c in curves:
                legend.append("● ", style="rgb({},{},{})".format(*self._colour(c.colour)))
                legend.append(f"{c.name} {number(c.points[-1][1])}  ")
            if self.log_scale:
                legend.append("· log ", style="italic")
            if zoom:
                legend.append(f"· newest 1/{2**zoom} ", style="italic")
        self.query_one("#curves-legend", Static).update(legend)
        plot = self.query_one(PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        steps = [p[0] for c in curves for p in c.points]
        first, last = (min(steps), max(steps)) if steps else (None, None)
        shown: list[float] = []
        shown_steps: list[float] = []
        for c in curves:
            pts = visible(c.points, zoom, last, first)
            if self.log_scale:  # plotext's own log scale is applied again at every redraw: drawn as log10 here
                pts = [(x, math.log10(y)) for x, y in pts if y > 0]
            if not pts:
                continue
            xs, ys = [p[0] for p in pts], [p[1] for p in pts]
            shown += ys
            shown_steps += xs
            if c.dots or len(pts) == 1:
                plt.scatter(xs, ys, color=self._colour(c.colour), marker="dot")
            else:
                plt.plot(xs, ys, color=self._colour(c.colour), marker="braille")
        if shown_steps and min(shown_steps) == max(shown_steps):  # one step: plotext would centre it past the data
            plt.xlim(min(shown_steps) - 1, max(shown_steps))
        if self.log_scale and shown:
            # one label every other row at most: plotext drops labels that share a row, and which one it keeps
            # varies from process to process
            rows = max(plot.size.height - 3, 2)  # the plot's height less its x axis and frame
            ticks = log_ticks(min(shown), max(shown), count=max(2, min(4, rows // 2 + 1)))
            plt.yticks(ticks, [f"{10**t:.3g}" for t in ticks])
        plot.refresh()
