"""A loss chart drawn in Braille dots (2×4 per cell), so curves fit in a few terminal rows without plotting
libraries. Any number of series: a line (training loss) or dots (evaluation loss), each in its own colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

Point = tuple[float, float]

_DOT = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))  # [row][col] bit of a Braille cell


@dataclass
class Series:
    name: str
    points: Sequence[Point]
    colour: str  # a theme variable name ("primary") or a colour
    line: bool = True  # join the points; False draws them as separate dots
    smooth: float = 0.0  # exponential smoothing of the drawn curve (0: none); the legend keeps the raw value

    def drawn(self) -> Sequence[Point]:
        """The points as drawn: smoothed when asked (TensorBoard-style EMA), else as they are."""
        if not self.smooth or len(self.points) < 3:
            return self.points
        out, value = [], self.points[0][1]
        for x, y in self.points:
            value = self.smooth * value + (1 - self.smooth) * y
            out.append((x, value))
        return out


def plot(series: Sequence[Series], width: int, height: int) -> list[list[tuple[str, int]]]:
    """A `height`×`width` grid of (Braille character, index of the series that owns the cell, or -1)."""
    cells = [[0] * width for _ in range(height)]
    owner = [[-1] * width for _ in range(height)]
    drawn = [s.drawn() for s in series]
    pts = [p for points in drawn for p in points]
    if not pts or width < 1 or height < 1:
        return [[(" ", -1)] * width for _ in range(height)]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    dots_w, dots_h = width * 2, height * 4

    def to_dot(p: Point) -> tuple[int, int]:
        dx = 0 if x1 == x0 else round((p[0] - x0) / (x1 - x0) * (dots_w - 1))
        dy = dots_h // 2 if y1 == y0 else round((y1 - p[1]) / (y1 - y0) * (dots_h - 1))
        return dx, dy

    def put(dx: int, dy: int, index: int) -> None:
        row, col = dy // 4, dx // 2
        cells[row][col] |= _DOT[dy % 4][dx % 2]
        if owner[row][col] < index:
            owner[row][col] = index

    for index, s in enumerate(series):
        prev: tuple[int, int] | None = None
        for p in drawn[index]:
            cur = to_dot(p)
            if s.line and prev is not None:
                steps = max(abs(cur[0] - prev[0]), abs(cur[1] - prev[1]), 1)
                for k in range(steps + 1):
                    put(
                        prev[0] + (cur[0] - prev[0]) * k // steps,
                        prev[1] + (cur[1] - prev[1]) * k // steps,
                        index,
                    )
            else:
                put(*cur, index)
            prev = cur
    return [
        [(chr(0x2800 + c) if c else " ", owner[r][i]) for i, c in enumerate(row)]
        for r, row in enumerate(cells)
    ]


class LossChart(Widget):
    """Training and evaluation loss. Call `set_series([...])`; the y-axis labels show the range."""

    DEFAULT_CSS = """
    LossChart { height: 5; min-height: 3; }
    """

    def __init__(self, *, empty_text: str = "no loss logged yet", id: str | None = None) -> None:
        super().__init__(id=id)
        self.series: list[Series] = []
        self.empty_text = empty_text

    def set_series(self, series: list[Series]) -> None:
        self.series = series
        self.refresh()

    def render(self) -> Text:
        width, height = self.size.width, self.size.height
        series = [s for s in self.series if s.points]
        if not series:
            return Text(self.empty_text, style="dim")
        values = [p[1] for s in series for p in s.drawn()]
        steps = [p[0] for s in series for p in s.points]
        hi, lo = f"{max(values):.3g}", f"{min(values):.3g}"
        label_w = max(len(hi), len(lo)) + 1
        legend = Text()
        for s in series:
            legend.append("● ", style=self._colour(s.colour))
            legend.append(f"{s.name} {s.points[-1][1]:.3f}{' (smoothed)' if s.smooth else ''}  ")
        axis = height >= 4  # a step axis under the plot when there is room for it
        rows = max(1, height - 1 - axis)
        plot_w = max(1, width - label_w)
        grid = plot(series, plot_w, rows)
        out = Text(no_wrap=True, overflow="crop")
        out.append_text(legend)
        for r, row in enumerate(grid):
            out.append("\n")
            label = hi if r == 0 else lo if r == rows - 1 else ""
            out.append(label.rjust(label_w - 1) + "┤", style="dim")
            for ch, index in row:
                out.append(ch, style=self._colour(series[index].colour) if index >= 0 else "")
        if axis:
            first, last = f"step {min(steps):g}", f"{max(steps):g}"
            out.append("\n" + " " * (label_w - 1) + "└" + first + last.rjust(max(1, plot_w - len(first))), style="dim")
        return out

    def _colour(self, name: str) -> str:
        return self.app.theme_variables.get(name, name)
