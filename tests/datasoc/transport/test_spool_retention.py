"""Retention: the pure plan, and segments removed from a live spool by age and by size."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from datasoc.errors import ConfigError
from datasoc.transport import RetentionPolicy, Spool, SpoolConfig
from datasoc.transport.retention import SegmentInfo, plan_retention
from datasoc.transport.spool import to_micros

HOUR_US = 3_600_000_000


def _segments(*max_ts: int | None, size: int = 100) -> list[SegmentInfo]:
    return [SegmentInfo(i * 10, i * 10 + 10, size, ts) for i, ts in enumerate(max_ts)]


def test_plan_by_age_removes_an_old_prefix_only() -> None:
    policy = RetentionPolicy(max_age=timedelta(hours=1), max_bytes=None)
    now = 10 * HOUR_US
    # the third segment is old again (clock skew between appenders): it stays, the log stays contiguous
    segments = _segments(1 * HOUR_US, 2 * HOUR_US, 9 * HOUR_US + 1, 3 * HOUR_US, 10 * HOUR_US)
    assert plan_retention(segments, policy, now) == 2


def test_plan_never_removes_the_active_segment() -> None:
    policy = RetentionPolicy(max_age=timedelta(hours=1), max_bytes=1)
    assert plan_retention(_segments(0, 0, 0), policy, 100 * HOUR_US) == 2
    assert plan_retention(_segments(0), policy, 100 * HOUR_US) == 0


def test_plan_by_size_removes_oldest_until_under_the_limit() -> None:
    policy = RetentionPolicy(max_age=None, max_bytes=250)
    segments = _segments(5, 5, 5, 5, size=100)  # 400 bytes
    assert plan_retention(segments, policy, 0) == 2  # 200 bytes left
    assert plan_retention(segments, RetentionPolicy(max_age=None, max_bytes=400), 0) == 0


def test_plan_with_both_limits_off_keeps_everything() -> None:
    assert plan_retention(_segments(0, 0, 0), RetentionPolicy(max_age=None, max_bytes=None), 10**18) == 0


@pytest.mark.parametrize(("age", "size"), [(timedelta(0), None), (timedelta(seconds=-1), None), (None, 0)])
def test_invalid_policy_is_a_config_error(age: timedelta | None, size: int | None) -> None:
    with pytest.raises(ConfigError, match="is invalid"):
        RetentionPolicy(max_age=age, max_bytes=size)


def _fill_hours(spool: Spool, now: datetime, hours: int, per_hour: int) -> None:
    for hour in range(hours):
        for i in range(per_hour):
            spool.append("events", [f"h{hour}-{i}".encode() * 4], now=now + timedelta(hours=hour))


def test_age_retention_on_disk(tmp_path: Path, now: datetime) -> None:
    config = SpoolConfig(segment_bytes=512, retention=RetentionPolicy(max_age=timedelta(hours=2)))
    with Spool.open(tmp_path, config=config) as spool:
        _fill_hours(spool, now, hours=6, per_hour=20)
        before = spool.stats("events")
        report = spool.apply_retention(now + timedelta(hours=6))  # cutoff: hour 4
        (events,) = [t for t in report.topics if t.topic == "events"]
        start = spool.range("events").start
        assert events.start_offset == start
        assert events.deleted_records == report.deleted_records == start
        assert report.deleted_bytes == events.deleted_bytes > 0
        # hours 0 and 1 are entirely gone (a segment holds about ten records); hours 4 and 5 all stay
        assert 40 <= start <= 80
        kept = spool.read("events", start, 10_000)
        assert len(kept) == before.end_offset - start
        assert sum(1 for r in kept if r.timestamp >= now + timedelta(hours=4)) == 40
        on_disk = {p.name for p in (tmp_path / "events").iterdir()}
        assert not on_disk & set(events.deleted_segments)
        assert spool.stats("events").segments == before.segments - len(events.deleted_segments)


def test_age_retention_after_reopen_scans_sealed_segments(tmp_path: Path, now: datetime) -> None:
    config = SpoolConfig(segment_bytes=512, retention=RetentionPolicy(max_age=timedelta(hours=1)))
    with Spool.open(tmp_path, config=config) as spool:
        _fill_hours(spool, now, hours=3, per_hour=20)
    with Spool.open(tmp_path, config=config) as spool:
        assert spool.apply_retention(now + timedelta(hours=1)).deleted_records == 0
        report = spool.apply_retention(now + timedelta(hours=3))  # cutoff: hour 2
        assert 29 <= report.deleted_records <= 40
        kept = spool.read("events", spool.range("events").start, 1000)
        assert sum(1 for r in kept if to_micros(r.timestamp) >= to_micros(now + timedelta(hours=2))) == 20


def test_size_retention_on_disk_keeps_the_active_segment(tmp_path: Path, now: datetime) -> None:
    config = SpoolConfig(segment_bytes=512, retention=RetentionPolicy(max_age=None, max_bytes=1))
    with Spool.open(tmp_path, config=config) as spool:
        _fill_hours(spool, now, hours=1, per_hour=100)
        end = spool.range("events").end
        spool.apply_retention(now)
        stats = spool.stats("events")
        assert stats.segments == 1
        assert spool.range("events").end == end
        assert [p.name for p in (tmp_path / "events").iterdir() if p.suffix == ".seg"] == [
            f"{stats.start_offset:020d}.seg"
        ]
        assert spool.append("events", [b"still writable"], now=now) == [end]


def test_size_retention_bound(tmp_path: Path, now: datetime) -> None:
    limit = 2048
    config = SpoolConfig(segment_bytes=512, retention=RetentionPolicy(max_age=None, max_bytes=limit))
    with Spool.open(tmp_path, config=config) as spool:
        _fill_hours(spool, now, hours=1, per_hour=200)
        spool.apply_retention(now)
        stats = spool.stats("events")
        assert stats.bytes <= limit
        assert stats.segments >= 2
        assert len(spool.read("events", stats.start_offset, 10_000)) == stats.end_offset - stats.start_offset
