"""`datasoc bench signin` in miniature: real HTTP sign-ins and the raw argon2 reference, side by side."""

from __future__ import annotations

from pathlib import Path

from benchmarks.signin import format_signin_report, percentile, run_signin_bench
from soc_api.identity.passwords import Argon2Params


def test_the_bench_signs_in_for_real_and_reports_both_figures(tmp_path: Path) -> None:
    params = Argon2Params(memory_kib=256, time_cost=1)
    figures = run_signin_bench(tmp_path, concurrency=3, rounds=2, params=params)
    assert figures["failures"] == 0
    assert figures["signin_p99_ms"] >= figures["signin_p50_ms"] > 0
    assert figures["raw_alone_p50_ms"] > 0
    assert figures["argon2"] == {"memory_kib": 256, "time_cost": 1, "parallelism": 1}
    report = format_signin_report(figures)
    assert "HTTP sign-in" in report
    assert "raw argon2id verify" in report
    assert (tmp_path / "ledger" / "entries.log").read_bytes().count(b'"login.success"') == 6


def test_percentile_is_nearest_rank() -> None:
    samples = [float(i) for i in range(1, 101)]
    assert percentile(samples, 0.5) == 50.0
    assert percentile(samples, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
