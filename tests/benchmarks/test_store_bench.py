"""The store benchmark still runs (a smoke test: no timing is asserted)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.store import bench_store, make_bench_events


def test_bench_events_are_deterministic_and_about_500_bytes() -> None:
    first, second = make_bench_events(200), make_bench_events(200)
    assert [e.canonical() for e in first] == [e.canonical() for e in second]
    average = sum(len(e.canonical()) for e in first) / len(first)
    assert 450 <= average <= 650


def test_bench_store_runs_on_a_small_store(tmp_path: Path) -> None:
    figures = bench_store(tmp_path / "bench.db", 700, batch=100, repeat=1)
    assert figures["events"] == 700
    assert figures["purged"] == 100  # the first of the seven days
    assert figures["insert_events_per_s"] > 0


def test_bench_store_refuses_an_existing_file(tmp_path: Path) -> None:
    existing = tmp_path / "events.db"
    existing.write_bytes(b"")
    with pytest.raises(FileExistsError):
        bench_store(existing, 10)
