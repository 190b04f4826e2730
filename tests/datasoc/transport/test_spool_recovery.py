"""Torn-tail recovery on open: cut, reported, never read; damage that is not a tail is refused."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from datasoc.transport import CorruptRecordError, Spool, SpoolConfig
from datasoc.transport.segment import FRAME_SIZE, HEADER_SIZE, encode_batch, segment_name

PAYLOADS = [f"payload-{i:02d}".encode() for i in range(10)]  # 10 bytes each
RECORD = FRAME_SIZE + 10


def _write_ten(root: Path, now: datetime) -> Path:
    with Spool.open(root, topics=["events"]) as spool:
        spool.append("events", PAYLOADS[:6], now=now)
        spool.append("events", PAYLOADS[6:], now=now)
    return root / "events" / segment_name(0)


def _reopen_and_read(root: Path) -> tuple[Spool, list[bytes]]:
    spool = Spool.open(root, topics=["events"])
    end = spool.range("events").end
    return spool, [r.payload for r in spool.read("events", 0, end + 1)]


@pytest.mark.parametrize("cut", [1, FRAME_SIZE - 1, FRAME_SIZE, FRAME_SIZE + 5, RECORD - 1])
def test_truncated_mid_frame_tail_is_cut(tmp_path: Path, now: datetime, cut: int) -> None:
    segment = _write_ten(tmp_path, now)
    full = segment.stat().st_size
    keep = HEADER_SIZE + 9 * RECORD + cut  # the last record is torn `cut` bytes in
    with segment.open("r+b") as f:
        f.truncate(keep)
    spool, payloads = _reopen_and_read(tmp_path)
    with spool:
        assert payloads == PAYLOADS[:9]
        (repair,) = spool.repairs
        assert (repair.topic, repair.path, repair.position) == ("events", segment, HEADER_SIZE + 9 * RECORD)
        assert repair.cut_bytes == cut
        assert "incomplete" in repair.reason
        # the cut is on disk, and the next append takes the freed offset
        assert segment.stat().st_size == HEADER_SIZE + 9 * RECORD
        assert spool.append("events", [b"again"], now=now) == [9]
    assert full == HEADER_SIZE + 10 * RECORD


def test_flipped_crc_byte_of_last_record_is_cut(tmp_path: Path, now: datetime) -> None:
    segment = _write_ten(tmp_path, now)
    data = bytearray(segment.read_bytes())
    data[HEADER_SIZE + 9 * RECORD + 1] ^= 0x01  # inside the crc field of offset 9
    segment.write_bytes(bytes(data))
    spool, payloads = _reopen_and_read(tmp_path)
    with spool:
        assert payloads == PAYLOADS[:9]
        (repair,) = spool.repairs
        assert repair.cut_bytes == RECORD
        assert "crc mismatch" in repair.reason


@pytest.mark.parametrize(
    "garbage",
    [b"\x00", b"\x00" * 4096, b"\xff" * 100, bytes(range(256)) * 3],
    ids=["one-zero", "zero-page", "ff", "ramp"],
)
def test_garbage_after_the_last_record_is_cut(tmp_path: Path, now: datetime, garbage: bytes) -> None:
    segment = _write_ten(tmp_path, now)
    with segment.open("ab") as f:
        f.write(garbage)
    spool, payloads = _reopen_and_read(tmp_path)
    with spool:
        assert payloads == PAYLOADS
        (repair,) = spool.repairs
        assert repair.position == HEADER_SIZE + 10 * RECORD
        assert repair.cut_bytes == len(garbage)


def test_a_frame_with_the_next_offset_but_a_bad_crc_is_not_read(tmp_path: Path, now: datetime) -> None:
    segment = _write_ten(tmp_path, now)
    forged = encode_batch(10, 0, [b"forged-rec"])
    forged[-1] ^= 0x01
    with segment.open("ab") as f:
        f.write(bytes(forged))
    spool, payloads = _reopen_and_read(tmp_path)
    with spool:
        assert payloads == PAYLOADS
        assert len(spool.repairs) == 1


def test_damage_followed_by_valid_records_is_refused_not_cut(tmp_path: Path, now: datetime) -> None:
    segment = _write_ten(tmp_path, now)
    data = bytearray(segment.read_bytes())
    position = HEADER_SIZE + 4 * RECORD
    data[position + FRAME_SIZE + 2] ^= 0x10  # payload of offset 4; offsets 5..9 are intact
    segment.write_bytes(bytes(data))
    with pytest.raises(CorruptRecordError, match="valid records follow") as info:
        Spool.open(tmp_path, topics=["events"])
    assert info.value.path == segment
    assert info.value.position == position
    assert segment.stat().st_size == len(data)  # nothing was cut


def test_incomplete_segment_header_is_rewritten(tmp_path: Path, now: datetime) -> None:
    config = SpoolConfig(segment_bytes=256)
    with Spool.open(tmp_path, topics=["events"], config=config) as spool:
        for _ in range(12):
            spool.append("events", PAYLOADS[:3], now=now)
        end = spool.range("events").end
    # simulate a crash while the next segment was being created: its header is half written
    torn = tmp_path / "events" / segment_name(end)
    torn.write_bytes(b"DSS")
    with Spool.open(tmp_path, topics=["events"], config=config) as spool:
        (repair,) = spool.repairs
        assert repair.path == torn
        assert spool.range("events").end == end
        assert spool.append("events", [b"x"], now=now) == [end]
        assert spool.read("events", end, 1)[0].payload == b"x"


def test_clean_reopen_reports_no_repairs(tmp_path: Path, now: datetime) -> None:
    _write_ten(tmp_path, now)
    spool, payloads = _reopen_and_read(tmp_path)
    with spool:
        assert spool.repairs == ()
        assert payloads == PAYLOADS
