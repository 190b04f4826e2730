"""The stream bench's figures (pure; the bench itself runs the job and is not a test)."""

from __future__ import annotations

from benchmarks.stream import StreamFigures


def test_ratio_is_the_end_to_end_rate_over_the_in_process_rate() -> None:
    figures = StreamFigures("x", 1, "thread", 1000, 0, 1.0, 2.0, engine_rate=800.0)
    assert figures.rate == 500.0
    assert figures.ratio == 0.625
    assert "ratio 0.62" in figures.line()
    assert "MISMATCH" not in figures.line()
    assert "MISMATCH" in StreamFigures("x", 1, "thread", 1000, 3, 1.0, 2.0, 800.0, expected_alerts=4).line()
