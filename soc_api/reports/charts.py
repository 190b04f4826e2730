"""Chart layout (pure): a chart of the model becomes a `Figure` of shapes in a fixed box.

Both renderers draw the same figure: HTML as inline SVG, PDF as a ReportLab drawing. So a chart
looks the same in both, and its geometry is tested once here. Coordinates have their origin at the
top left, y downwards (SVG's convention; the PDF renderer flips them). A label's `y` is its baseline.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass

from soc_api.reports.model import BarChart, Chart, HeatMap, LineChart, Series, StackedBarChart

WIDTH = 640.0
HEIGHT = 300.0
#: Series colours in order (Okabe–Ito, distinguishable with the common colour-vision deficiencies).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
AXIS = "#666666"
GRID = "#e5e5e5"
INK = "#222222"
TITLE_SIZE = 13.0
LABEL_SIZE = 9.0


@dataclass(frozen=True, slots=True)
class Rect:
    """A filled rectangle (top-left corner, size)."""

    x: float
    y: float
    w: float
    h: float
    fill: str
    stroke: str = ""


@dataclass(frozen=True, slots=True)
class Polyline:
    """A stroked open line through `points`."""

    points: tuple[tuple[float, float], ...]
    stroke: str
    width: float = 1.0


@dataclass(frozen=True, slots=True)
class Label:
    """Text with its baseline at `y`; `anchor` is start, middle or end."""

    x: float
    y: float
    text: str
    size: float = LABEL_SIZE
    anchor: str = "start"
    fill: str = INK


Shape = Rect | Polyline | Label


@dataclass(frozen=True, slots=True)
class Figure:
    """What a renderer draws: a box of `width` × `height` and its shapes, back to front."""

    width: float
    height: float
    title: str
    shapes: tuple[Shape, ...]


def text_width(text: str, size: float) -> float:
    """An estimate of the drawn width: wide (CJK) characters one em, others about half."""
    return sum(size if unicodedata.east_asian_width(ch) in "WF" else size * 0.55 for ch in text)


def fit(text: str, size: float, width: float) -> str:
    """`text` cut (with an ellipsis) to fit `width`."""
    if text_width(text, size) <= width:
        return text
    while text and text_width(text + "…", size) > width:
        text = text[:-1]
    return text + "…"


def nice_ceiling(value: float) -> tuple[float, float]:
    """An axis maximum at or above `value` and its tick step (1, 2 or 5 × 10^k; 4 to 5 ticks)."""
    if value <= 0:
        return 1.0, 0.25
    raw = value / 4
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return step * math.ceil(value / step - 1e-9), step


def _number(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.2g}" if value < 1 else f"{value:.1f}"


def _colors(series: tuple[Series, ...]) -> list[str]:
    colors, spare = [], iter(PALETTE * 2)
    for s in series:
        colors.append(s.color or next(spare))
    return colors


def layout(chart: Chart, width: float = WIDTH, height: float = HEIGHT) -> Figure:
    """The figure of `chart` in a `width` × `height` box."""
    if isinstance(chart, HeatMap):
        return _heatmap(chart, width, height)
    return _xy(chart, width, height)


def _legend(series: tuple[Series, ...], colors: list[str], width: float, y: float) -> list[Shape]:
    shapes: list[Shape] = []
    x = 48.0
    for s, color in zip(series, colors, strict=True):
        name = fit(s.name, LABEL_SIZE, 160)
        step = 14 + text_width(name, LABEL_SIZE) + 14
        if x + step > width - 8 and x > 48:
            y += 14
            x = 48.0
        shapes.append(Rect(x, y - 8, 9, 9, color))
        shapes.append(Label(x + 13, y, name))
        x += step
    return shapes


def _xy(chart: BarChart | StackedBarChart | LineChart, width: float, height: float) -> Figure:
    colors = _colors(chart.series)
    n = len(chart.categories)
    left, right, top = 48.0, width - 12.0, 30.0
    legend_rows = 1 + int(sum(text_width(s.name, LABEL_SIZE) + 28 for s in chart.series) // (width - 60))
    bottom = height - 22.0 - 14.0 * legend_rows
    shapes: list[Shape] = [
        Label(width / 2, 18, fit(chart.title, TITLE_SIZE, width - 16), TITLE_SIZE, "middle")
    ]
    if isinstance(chart, StackedBarChart):
        peak = max(sum(s.values[i] for s in chart.series) for i in range(n))
    else:
        peak = max(max(s.values) for s in chart.series)
    top_value, step = nice_ceiling(peak)
    plot_h = bottom - top

    def y_of(value: float) -> float:
        return bottom - plot_h * value / top_value

    tick = 0.0
    while tick <= top_value + 1e-9:
        y = y_of(tick)
        shapes.append(Polyline(((left, y), (right, y)), GRID))
        shapes.append(Label(left - 4, y + 3, _number(tick), LABEL_SIZE, "end", AXIS))
        tick += step
    slot = (right - left) / n
    # Category labels thinned to what fits side by side.
    every = max(1, math.ceil(max(text_width(c, LABEL_SIZE) for c in chart.categories) * 1.1 / slot))
    for i, name in enumerate(chart.categories):
        if i % every == 0:
            shapes.append(
                Label(
                    left + slot * (i + 0.5), bottom + 12, fit(name, LABEL_SIZE, slot * every), anchor="middle"
                )
            )
    if isinstance(chart, BarChart):
        inner = slot * 0.8 / len(chart.series)
        for j, (s, color) in enumerate(zip(chart.series, colors, strict=True)):
            for i, value in enumerate(s.values):
                x = left + slot * i + slot * 0.1 + inner * j
                shapes.append(Rect(x, y_of(value), max(inner - 1, 0.5), bottom - y_of(value), color))
    elif isinstance(chart, StackedBarChart):
        for i in range(n):
            base = 0.0
            for s, color in zip(chart.series, colors, strict=True):
                value = s.values[i]
                if value > 0:
                    shapes.append(
                        Rect(
                            left + slot * (i + 0.15),
                            y_of(base + value),
                            slot * 0.7,
                            plot_h * value / top_value,
                            color,
                        )
                    )
                base += value
    else:
        for s, color in zip(chart.series, colors, strict=True):
            points = tuple((left + slot * (i + 0.5), y_of(v)) for i, v in enumerate(s.values))
            shapes.append(Polyline(points, color, 2.0))
            if n <= 40:
                shapes.extend(Rect(x - 2, y - 2, 4, 4, color) for x, y in points)
    shapes.append(Polyline(((left, top), (left, bottom), (right, bottom)), AXIS))
    shapes.extend(_legend(chart.series, colors, width, bottom + 30))
    return Figure(width, height, chart.title, tuple(shapes))


def heat_color(value: float, peak: float) -> str:
    """White for 0 to deep red at `peak` (linear in each channel)."""
    share = 0.0 if peak <= 0 else min(value / peak, 1.0)
    start, end = (255, 255, 255), (179, 0, 0)
    r, g, b = (round(a + (z - a) * share) for a, z in zip(start, end, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _heatmap(chart: HeatMap, width: float, height: float) -> Figure:
    shapes: list[Shape] = [
        Label(width / 2, 18, fit(chart.title, TITLE_SIZE, width - 16), TITLE_SIZE, "middle")
    ]
    left = min(12 + max(text_width(r, LABEL_SIZE) for r in chart.rows), width * 0.35)
    top, right, bottom = 44.0, width - 12.0, height - 8.0
    cell_w = (right - left) / len(chart.columns)
    cell_h = (bottom - top) / len(chart.rows)
    peak = max(max(row) for row in chart.values)
    every = max(1, math.ceil(max(text_width(c, LABEL_SIZE) for c in chart.columns) * 1.1 / cell_w))
    for j, name in enumerate(chart.columns):
        if j % every == 0:
            shapes.append(
                Label(
                    left + cell_w * (j + 0.5), top - 6, fit(name, LABEL_SIZE, cell_w * every), anchor="middle"
                )
            )
    for i, name in enumerate(chart.rows):
        y = top + cell_h * i
        shapes.append(Label(left - 4, y + cell_h / 2 + 3, fit(name, LABEL_SIZE, left - 6), anchor="end"))
        for j, value in enumerate(chart.values[i]):
            fill = heat_color(value, peak)
            shapes.append(Rect(left + cell_w * j, y, cell_w, cell_h, fill, "#ffffff"))
            text = _number(value)
            if cell_h >= 12 and text_width(text, LABEL_SIZE) < cell_w - 2:
                ink = "#ffffff" if peak and value / peak > 0.55 else INK
                shapes.append(
                    Label(left + cell_w * (j + 0.5), y + cell_h / 2 + 3, text, anchor="middle", fill=ink)
                )
    return Figure(width, height, chart.title, tuple(shapes))
