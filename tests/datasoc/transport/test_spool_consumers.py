"""Consumers: committed offsets are durable, survive reopen, and lag behind retention is explicit."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from datasoc.transport import CorruptRecordError, OffsetOutOfRangeError, RetentionPolicy, Spool, SpoolConfig


def _fill(spool: Spool, now: datetime, count: int, topic: str = "events") -> None:
    for i in range(count):
        spool.append(topic, [f"r{i}".encode()], now=now)


def test_new_consumer_starts_at_the_retained_start(tmp_path: Path, now: datetime) -> None:
    with Spool.open(tmp_path) as spool:
        _fill(spool, now, 3)
        consumer = spool.consumer("detector", "events")
        assert (consumer.name, consumer.topic, consumer.position, consumer.committed) == (
            "detector",
            "events",
            0,
            0,
        )
        assert [r.payload for r in consumer.poll(2)] == [b"r0", b"r1"]
        assert consumer.position == 2
        assert consumer.committed == 0  # polling alone does not commit


def test_committed_offsets_survive_reopen(tmp_path: Path, now: datetime) -> None:
    with Spool.open(tmp_path) as spool:
        _fill(spool, now, 10)
        consumer = spool.consumer("detector", "events")
        consumer.poll(4)
        consumer.commit()
        other = spool.consumer("indexer", "events")
        other.commit(7)
    with Spool.open(tmp_path) as spool:
        consumer = spool.consumer("detector", "events")
        assert consumer.committed == consumer.position == 4
        assert [r.offset for r in consumer.poll(100)] == list(range(4, 10))
        assert consumer.poll(100) == []
        assert spool.consumer("indexer", "events").committed == 7
        assert spool.consumer_offsets("events") == {"detector": 4, "indexer": 7}
        assert spool.consumer_offsets("alerts") == {}


def test_commit_leaves_no_temporary_file_and_is_readable_json(tmp_path: Path, now: datetime) -> None:
    with Spool.open(tmp_path) as spool:
        _fill(spool, now, 2)
        spool.consumer("detector", "events").commit(2)
    directory = tmp_path / "events" / "consumers"
    assert [p.name for p in directory.iterdir()] == ["detector.offset"]
    assert (
        directory / "detector.offset"
    ).read_text() == '{"consumer": "detector", "offset": 2, "topic": "events"}\n'


def test_commit_and_seek_outside_the_range_are_refused(tmp_path: Path, now: datetime) -> None:
    with Spool.open(tmp_path) as spool:
        _fill(spool, now, 3)
        consumer = spool.consumer("detector", "events")
        with pytest.raises(OffsetOutOfRangeError, match="consumer 'detector' offset 4"):
            consumer.commit(4)
        with pytest.raises(OffsetOutOfRangeError):
            consumer.seek(-1)
        consumer.seek(2)
        assert [r.offset for r in consumer.poll(5)] == [2]
        assert consumer.committed == 0


def test_damaged_offset_file_is_an_error_naming_the_file(tmp_path: Path, now: datetime) -> None:
    with Spool.open(tmp_path) as spool:
        _fill(spool, now, 1)
        spool.consumer("detector", "events").commit(1)
    path = tmp_path / "events" / "consumers" / "detector.offset"
    path.write_text("{not json")
    with Spool.open(tmp_path) as spool, pytest.raises(CorruptRecordError) as info:
        spool.consumer("detector", "events")
    assert info.value.path == path


def test_consumer_behind_retention_gets_an_error_then_skips_explicitly(tmp_path: Path, now: datetime) -> None:
    config = SpoolConfig(segment_bytes=256, retention=RetentionPolicy(max_age=timedelta(hours=1)))
    with Spool.open(tmp_path, config=config) as spool:
        _fill(spool, now, 40)
        lagging = spool.consumer("slow", "events")
        lagging.commit(3)
        current = spool.consumer("fast", "events")
        current.poll(1000)
        current.commit()
        _fill(spool, now + timedelta(hours=2), 1)
        report = spool.apply_retention(now + timedelta(hours=2))
        (events,) = [t for t in report.topics if t.topic == "events"]
        assert events.start_offset > 3
        assert events.lagging_consumers == ("slow",)
    with Spool.open(tmp_path, config=config) as spool:
        slow = spool.consumer("slow", "events")
        with pytest.raises(OffsetOutOfRangeError, match=r"consumer 'slow' offset 3 .* reset_to_start\(\)"):
            slow.poll(10)
        start = spool.range("events").start
        assert slow.reset_to_start() == start - 3
        assert slow.poll(1)[0].offset == start
        assert slow.reset_to_start() == 0
