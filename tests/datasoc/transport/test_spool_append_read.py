"""Append and read: offsets, rolls, ranges, bad input, verified reads, reopen."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datasoc.transport import (
    CorruptRecordError,
    OffsetOutOfRangeError,
    RecordTooLargeError,
    Spool,
    SpoolConfig,
    SpoolLockedError,
    Transport,
    TransportClosedError,
    TransportError,
)
from datasoc.transport.segment import FRAME_SIZE, HEADER_SIZE, segment_name

SMALL = SpoolConfig(segment_bytes=512, max_record_bytes=4096)


def _no_fsync(fd: int) -> None:
    """Durability is not under test here; keeps property tests fast."""


def test_offsets_are_consecutive_and_records_round_trip(tmp_path: Path, now: datetime) -> None:
    with Spool.open(tmp_path) as spool:
        assert spool.append("events", [b"a", b"b"], now=now) == [0, 1]
        assert spool.append("events", [b"c"], now=now + timedelta(seconds=1)) == [2]
        assert spool.append("alerts", [b"z"], now=now) == [0]
        records = spool.read("events", 0, 10)
    assert [(r.topic, r.offset, r.payload) for r in records] == [
        ("events", 0, b"a"),
        ("events", 1, b"b"),
        ("events", 2, b"c"),
    ]
    assert records[2].timestamp == now + timedelta(seconds=1)
    assert records[0].timestamp.tzinfo is not None


def test_timestamps_keep_microseconds_and_normalise_to_utc(tmp_path: Path) -> None:
    local = datetime(2026, 3, 1, 17, 30, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    with Spool.open(tmp_path) as spool:
        spool.append("events", [b"x"], now=local)
        (record,) = spool.read("events", 0, 1)
    assert record.timestamp == local
    assert record.timestamp.utcoffset() == timedelta(0)


def test_rolls_segments_and_reads_across_them(tmp_path: Path, now: datetime) -> None:
    payloads = [f"record-{i:04d}".encode() * 3 for i in range(300)]
    with Spool.open(tmp_path, config=SMALL) as spool:
        for start in range(0, 300, 7):
            spool.append("events", payloads[start : start + 7], now=now)
        stats = spool.stats("events")
        assert stats.segments > 10
        assert [r.payload for r in spool.read("events", 0, 1000)] == payloads
        # reads that start mid-segment, without a position hint, and span several segments
        for start in (1, 13, 150, 299):
            got = spool.read("events", start, 40)
            assert [r.offset for r in got] == list(range(start, min(start + 40, 300)))
            assert [r.payload for r in got] == payloads[start : start + 40]
    names = sorted(p.name for p in (tmp_path / "events").iterdir())
    assert names[0] == segment_name(0)
    assert all(name.endswith(".seg") for name in names)


def test_read_payloads_agrees_with_read_and_with_the_transport_default(tmp_path: Path, now: datetime) -> None:
    payloads = [f"record-{i:04d}".encode() * 3 for i in range(300)]
    with Spool.open(tmp_path, config=SMALL) as spool:
        for start in range(0, 300, 7):
            spool.append("events", payloads[start : start + 7], now=now)
        for start, count in ((0, 1000), (1, 40), (150, 7), (299, 5), (300, 5)):
            fast = spool.read_payloads("events", start, count)
            assert fast == [(r.offset, r.payload) for r in spool.read("events", start, count)]
            # the base class's default (what another transport gets) says the same
            assert fast == Transport.read_payloads(spool, "events", start, count)
        with pytest.raises(OffsetOutOfRangeError):
            spool.read_payloads("events", 301, 1)


def test_read_at_end_is_empty_and_beyond_or_before_is_an_error(tmp_path: Path, now: datetime) -> None:
    with Spool.open(tmp_path) as spool:
        spool.append("events", [b"a", b"b"], now=now)
        assert spool.read("events", 2, 10) == []
        assert spool.read("events", 0, 0) == []
        expected = r"offset 3 is outside topic 'events' retained range \[0, 2\]"
        with pytest.raises(OffsetOutOfRangeError, match=expected):
            spool.read("events", 3, 10)
        with pytest.raises(OffsetOutOfRangeError):
            spool.read("events", -1, 10)


def test_empty_batch_appends_nothing(tmp_path: Path, now: datetime, counting_fsync: Any) -> None:
    with Spool.open(tmp_path, fsync=counting_fsync) as spool:
        before = counting_fsync.calls
        assert spool.append("events", [], now=now) == []
        assert counting_fsync.calls == before
        assert spool.range("events").end == 0


def test_bad_input_is_refused_and_nothing_is_written(tmp_path: Path, now: datetime) -> None:
    with Spool.open(tmp_path, config=SMALL) as spool:
        with pytest.raises(RecordTooLargeError, match="payload #1 in batch is 4097 bytes"):
            spool.append("events", [b"ok", b"x" * 4097], now=now)
        with pytest.raises(TypeError, match="payload #0 is str"):
            spool.append("events", ["text"], now=now)  # type: ignore[list-item]
        with pytest.raises(TransportError, match="timezone-aware"):
            spool.append("events", [b"x"], now=datetime(2026, 1, 1))  # noqa: DTZ001
        assert spool.range("events").end == 0
        assert spool.append("events", [b"after"], now=now) == [0]


def test_second_open_of_the_same_directory_is_refused(tmp_path: Path) -> None:
    with Spool.open(tmp_path), pytest.raises(SpoolLockedError, match="already open"):
        Spool.open(tmp_path)
    Spool.open(tmp_path).close()  # released on close


def test_closed_spool_refuses_work(tmp_path: Path, now: datetime) -> None:
    spool = Spool.open(tmp_path)
    spool.close()
    spool.close()  # idempotent
    with pytest.raises(TransportClosedError):
        spool.append("events", [b"x"], now=now)
    with pytest.raises(TransportClosedError):
        spool.read("events", 0, 1)


def test_records_survive_reopen_and_appends_continue(tmp_path: Path, now: datetime) -> None:
    with Spool.open(tmp_path, config=SMALL) as spool:
        for i in range(50):
            spool.append("events", [f"{i}".encode() * 10], now=now)
    with Spool.open(tmp_path, config=SMALL) as spool:
        assert spool.repairs == ()
        assert spool.range("events").end == 50
        assert spool.append("events", [b"next"], now=now) == [50]
        assert [r.payload for r in spool.read("events", 48, 5)] == [b"48" * 10, b"49" * 10, b"next"]


def test_damage_inside_a_sealed_segment_raises_naming_file_and_byte(tmp_path: Path, now: datetime) -> None:
    with Spool.open(tmp_path, config=SMALL) as spool:
        for i in range(40):
            spool.append("events", [f"rec{i}".encode() * 8], now=now)
        assert spool.stats("events").segments > 2
    first = tmp_path / "events" / segment_name(0)
    record = FRAME_SIZE + len(b"rec0" * 8)
    position = HEADER_SIZE + 2 * record + FRAME_SIZE + 3  # a payload byte of offset 2
    data = bytearray(first.read_bytes())
    data[position] ^= 0x40
    first.write_bytes(bytes(data))
    with Spool.open(tmp_path, config=SMALL) as spool:
        assert spool.repairs == ()  # sealed segments are not "tails": never cut
        assert [r.offset for r in spool.read("events", 0, 2)] == [0, 1]
        with pytest.raises(CorruptRecordError) as info:
            spool.read("events", 0, 10)
        assert info.value.path == first
        assert info.value.position == HEADER_SIZE + 2 * record
        assert str(first) in str(info.value)
        with pytest.raises(CorruptRecordError) as fast:  # the forwarding read verifies the same
            spool.read_payloads("events", 0, 10)
        assert (fast.value.path, fast.value.position) == (info.value.path, info.value.position)
        # the records after the damage stay readable by offset
        assert spool.read("events", 3, 1)[0].payload == b"rec3" * 8


@settings(max_examples=30, deadline=None)
@given(batches=st.lists(st.lists(st.binary(max_size=200), max_size=20), max_size=15), data=st.data())
def test_random_batches_round_trip_through_reopen(batches: list[list[bytes]], data: st.DataObject) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    expected = [payload for batch in batches for payload in batch]
    with tempfile.TemporaryDirectory() as directory:
        with Spool.open(directory, config=SMALL, fsync=_no_fsync) as spool:
            offsets = [off for batch in batches for off in spool.append("events", batch, now=now)]
        assert offsets == list(range(len(expected)))
        with Spool.open(directory, config=SMALL, fsync=_no_fsync) as spool:
            assert spool.repairs == ()
            start = data.draw(st.integers(0, len(expected)))
            size = data.draw(st.integers(1, 50))
            got = spool.read("events", start, size)
            assert [r.payload for r in got] == expected[start : start + size]
            assert [r.payload for r in spool.read("events", 0, len(expected) + 1)] == expected


def test_spool_files_are_owner_only(tmp_path: Path, now: datetime) -> None:
    root = tmp_path / "spool"
    with Spool.open(root) as spool:
        spool.append("events", [b"personal data"], now=now)
        spool.consumer("detector", "events").commit(1)
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
