"""The stream bench's sustained rate (pure; the bench itself runs the job and is not a test)."""

from __future__ import annotations

import pytest

from detection.stream.bench import StreamFigures, sustained_rate


def test_sustained_rate_leaves_out_filling_and_draining_the_pipeline() -> None:
    # Nothing for 0.5 s (start), then 1,000 events/s, then 0.4 s until the last commit.
    seen = [(0.25, 0), (0.5, 0)] + [(0.5 + k / 10, 100 * k) for k in range(1, 11)] + [(1.9, 1000)]
    assert sustained_rate(seen, 1000) == pytest.approx(1000.0)  # 100 -> 900 events, 0.6 s -> 1.4 s
    end_to_end = 1000 / 1.9
    assert end_to_end < 600


def test_sustained_rate_is_zero_without_two_distinct_points() -> None:
    assert sustained_rate([], 100) == 0.0
    assert sustained_rate([(1.0, 100)], 100) == 0.0  # one commit carried everything
    assert sustained_rate([(1.0, 5)], 100) == 0.0  # never got to 90 %


def test_ratio_is_the_end_to_end_rate_over_the_in_process_rate() -> None:
    figures = StreamFigures("x", 1, "thread", 1000, 0, 1.0, 2.0, engine_rate=800.0, steady_rate=600.0)
    assert figures.rate == 500.0
    assert figures.ratio == 0.625
    assert "ratio 0.62" in figures.line()
