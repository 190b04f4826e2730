"""Chart layout: geometry that both renderers draw."""

from __future__ import annotations

import pytest

from soc_api.reports import BarChart, HeatMap, LineChart, Series, StackedBarChart
from soc_api.reports.charts import Label, Polyline, Rect, fit, heat_color, layout, nice_ceiling, text_width


@pytest.mark.parametrize(
    ("value", "top", "step"), [(0, 1, 0.25), (7, 8, 2), (12, 15, 5), (42, 60, 20), (1000, 1000, 250)]
)
def test_nice_ceiling(value: float, top: float, step: float) -> None:
    assert nice_ceiling(value) == (top, step)


def test_bars_scale_to_the_axis() -> None:
    chart = BarChart("t", ("a", "b"), (Series("s", (5.0, 10.0)),))
    figure = layout(chart)
    bars = [s for s in figure.shapes if isinstance(s, Rect) and s.fill == "#0072B2" and s.w > 9]
    assert len(bars) == 2
    assert bars[1].h == pytest.approx(bars[0].h * 2)
    # Both stand on the same baseline, inside the box.
    assert bars[0].y + bars[0].h == pytest.approx(bars[1].y + bars[1].h)
    assert all(0 <= s.x <= figure.width and 0 <= s.y <= figure.height for s in bars)


def test_stacked_segments_add_up() -> None:
    chart = StackedBarChart("t", ("a",), (Series("x", (2.0,)), Series("y", (6.0,))))
    figure = layout(chart)
    segments = [s for s in figure.shapes if isinstance(s, Rect) and s.w > 100]
    assert len(segments) == 2
    low, high = sorted(segments, key=lambda s: -s.y)
    assert high.h == pytest.approx(low.h * 3)
    assert high.y + high.h == pytest.approx(low.y)  # stacked, touching


def test_line_has_a_point_per_category() -> None:
    figure = layout(LineChart("t", ("1", "2", "3"), (Series("s", (1.0, 3.0, 2.0)),)))
    line = next(s for s in figure.shapes if isinstance(s, Polyline) and s.width == 2.0)
    assert len(line.points) == 3
    assert line.points[1][1] < line.points[2][1] < line.points[0][1]  # higher value, smaller y


def test_heatmap_colours_and_numbers() -> None:
    figure = layout(HeatMap("h", ("r1", "r2"), ("c1", "c2"), ((0, 4), (2, 8))))
    cells = [s for s in figure.shapes if isinstance(s, Rect)]
    assert [c.fill for c in cells] == [heat_color(v, 8) for v in (0, 4, 2, 8)]
    assert cells[0].fill == "#ffffff"
    assert {s.text for s in figure.shapes if isinstance(s, Label)} >= {"0", "4", "2", "8", "r1", "c2"}


def test_text_fits_by_width() -> None:
    assert text_width("数据", 10) == 20
    assert text_width("ab", 10) == pytest.approx(11)
    cut = fit("核心数据批量导出告警", 10, 45)
    assert cut.endswith("…")
    assert text_width(cut, 10) <= 45
