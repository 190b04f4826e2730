"""`datasoc bench alerts` in miniature: real intake, real delivery to a receiver process, both references."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.alerts import format_report, percentile, run_intake, run_paced

pytestmark = pytest.mark.slow


def test_the_bench_takes_in_and_delivers_everything_and_reports_both_references(tmp_path: Path) -> None:
    intake = run_intake(tmp_path, alerts=1000)
    assert intake["intake_per_s"] > 0
    assert intake["raw_sqlite_per_s"] > intake["intake_per_s"]
    paced = run_paced(tmp_path, rate=100, seconds=2, channel_batch=10)
    assert paced["alerts"] == 200
    assert paced["delivered"] == 200  # every notification reached the receiver, measured once
    assert 0 < paced["p50_s"] <= paced["p99_s"] <= paced["max_s"]
    assert paced["plain_webhook_sent"] == 200
    report = format_report(intake, paced)
    assert "raw SQLite insert" in report
    assert "plain webhook" in report


def test_percentile_is_nearest_rank() -> None:
    assert percentile([float(i) for i in range(1, 101)], 0.99) == 99.0
    assert percentile([], 0.5) == 0.0
