"""The frame format: pure encode/decode, crc and offset checks, header, tail scan."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datasoc.transport.errors import FrameError
from datasoc.transport.segment import (
    FRAME_SIZE,
    HEADER_SIZE,
    decode_frames,
    decode_header,
    encode_batch,
    encode_header,
    locate,
    parse_segment_name,
    scan_frames,
    segment_name,
)

MAX = 1 << 20


def test_frame_layout_is_documented_little_endian() -> None:
    buf = encode_batch(7, 1_000_000, [b"abc"])
    assert len(buf) == FRAME_SIZE + 3 == 27
    assert int.from_bytes(buf[4:8], "little") == 3
    assert int.from_bytes(buf[8:16], "little") == 7
    assert int.from_bytes(buf[16:24], "little", signed=True) == 1_000_000
    assert buf[24:] == b"abc"
    assert int.from_bytes(buf[0:4], "little") == zlib.crc32(bytes(buf[4:]))


@given(
    first=st.integers(0, 2**40),
    ts=st.integers(-(2**62), 2**62),
    payloads=st.lists(st.binary(max_size=300), max_size=40),
)
def test_encode_decode_round_trip(first: int, ts: int, payloads: list[bytes]) -> None:
    buf = encode_batch(first, ts, payloads)
    frames, used = decode_frames(
        buf, expected_offset=first, max_records=len(payloads) + 1, max_record_bytes=MAX
    )
    assert used == len(buf)
    assert [f.payload for f in frames] == payloads
    assert [f.offset for f in frames] == list(range(first, first + len(payloads)))
    assert all(f.timestamp_us == ts for f in frames)


@given(payloads=st.lists(st.binary(min_size=1, max_size=64), min_size=1, max_size=10), data=st.data())
def test_any_flipped_bit_is_detected(payloads: list[bytes], data: st.DataObject) -> None:
    buf = encode_batch(0, 5, payloads)
    bit = data.draw(st.integers(0, len(buf) * 8 - 1))
    buf[bit // 8] ^= 1 << (bit % 8)
    scan = scan_frames(buf, start=0, expected_offset=0, max_record_bytes=MAX)
    assert scan.problem is not None
    assert scan.records < len(payloads)


def test_decode_stops_at_incomplete_frame_without_error() -> None:
    buf = encode_batch(0, 1, [b"one", b"two"])
    frames, used = decode_frames(buf[:-1], expected_offset=0, max_records=10, max_record_bytes=MAX)
    assert [f.payload for f in frames] == [b"one"]
    assert used == FRAME_SIZE + 3


def test_decode_respects_max_records() -> None:
    buf = encode_batch(0, 1, [b"a", b"b", b"c"])
    frames, used = decode_frames(buf, expected_offset=0, max_records=2, max_record_bytes=MAX)
    assert [f.payload for f in frames] == [b"a", b"b"]
    assert used == 2 * (FRAME_SIZE + 1)


def test_decode_rejects_crc_mismatch_with_position() -> None:
    buf = encode_batch(0, 1, [b"good", b"bad!"])
    buf[-1] ^= 0xFF
    with pytest.raises(FrameError) as info:
        decode_frames(buf, expected_offset=0, max_records=10, max_record_bytes=MAX)
    assert info.value.position == FRAME_SIZE + 4
    assert "crc" in info.value.reason


def test_decode_rejects_wrong_offset() -> None:
    buf = encode_batch(10, 1, [b"x"])
    with pytest.raises(FrameError, match="holds offset 10, expected 11"):
        decode_frames(buf, expected_offset=11, max_records=10, max_record_bytes=MAX)


def test_decode_rejects_oversized_length() -> None:
    buf = encode_batch(0, 1, [b"x" * 100])
    with pytest.raises(FrameError, match="exceeds max_record_bytes=50"):
        decode_frames(buf, expected_offset=0, max_records=10, max_record_bytes=50)


def test_locate_skips_to_target() -> None:
    payloads = [bytes([i]) * i for i in range(10)]
    buf = encode_batch(100, 1, payloads)
    pos, offset = locate(buf, expected_offset=100, target_offset=105, max_record_bytes=MAX)
    assert offset == 105
    frames, _ = decode_frames(buf[pos:], expected_offset=105, max_records=1, max_record_bytes=MAX)
    assert frames[0].payload == payloads[5]


def test_scan_reports_valid_prefix_and_newest_timestamp() -> None:
    buf = encode_batch(0, 10, [b"a", b"b"]) + encode_batch(2, 30, [b"c"]) + encode_batch(3, 20, [b"d"])
    whole = scan_frames(buf, start=0, expected_offset=0, max_record_bytes=MAX)
    assert (whole.records, whole.next_offset, whole.max_timestamp_us, whole.problem) == (4, 4, 30, None)
    torn = scan_frames(buf + b"\x01\x02", start=0, expected_offset=0, max_record_bytes=MAX)
    assert torn.valid_end == len(buf)
    assert torn.problem is not None
    assert "incomplete frame header" in torn.problem


def test_header_round_trip_and_errors() -> None:
    assert decode_header(encode_header(12345)) == 12345
    assert len(encode_header(0)) == HEADER_SIZE
    with pytest.raises(FrameError, match="magic"):
        decode_header(b"XXXX" + encode_header(1)[4:])
    with pytest.raises(FrameError, match="truncated"):
        decode_header(encode_header(1)[:10])


def test_segment_names() -> None:
    assert segment_name(42) == "00000000000000000042.seg"
    assert parse_segment_name(segment_name(42)) == 42
    for bad in ("42.seg", "00000000000000000042.log", "0000000000000000004x.seg", ".lock", "consumers"):
        assert parse_segment_name(bad) is None
