"""Segment file format: pure encoding and decoding of record frames, no I/O.

A segment is an append-only file named `<base offset, 20 digits>.seg`, starting with a header and
followed by frames, one per record, all little-endian:

    header (16 bytes): magic b"DSSP" | version u16 = 1 | flags u16 = 0 | base offset u64
    frame  (24 + n):   crc u32 | length u32 = n | offset u64 | timestamp i64 (µs since Unix epoch, UTC)
                       | payload (n bytes)

`crc` is CRC-32 (ISO-HDLC, `zlib.crc32`) over everything in the frame after the crc field itself
(length, offset, timestamp, payload), so a damaged length is caught as well as a damaged payload.
The offset is stored in every frame so that misplaced or replayed bytes cannot pass as a record.
"""

from __future__ import annotations

import mmap
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from datasoc.transport.errors import FrameError

MAGIC = b"DSSP"
VERSION = 1
SEGMENT_SUFFIX = ".seg"
HEADER = struct.Struct("<4sHHQ")
HEADER_SIZE = HEADER.size  # 16
FRAME = struct.Struct("<IIQq")
FRAME_SIZE = FRAME.size  # 24
_AFTER_CRC = struct.Struct("<IQq")  # the part of the frame header that the crc covers
_CRC = struct.Struct("<I")

_crc32 = zlib.crc32

# What the decoders accept: bytes in memory or a read-only mapping of a segment file.
Buffer = bytes | bytearray | memoryview | mmap.mmap


def segment_name(base_offset: int) -> str:
    """File name of the segment whose first record has `base_offset`."""
    return f"{base_offset:020d}{SEGMENT_SUFFIX}"


def parse_segment_name(name: str) -> int | None:
    """Base offset encoded in a segment file name, or None when `name` is not a segment file."""
    stem, dot, suffix = name.partition(".")
    if not dot or f".{suffix}" != SEGMENT_SUFFIX or len(stem) != 20 or not stem.isdigit():
        return None
    return int(stem)


def encode_header(base_offset: int) -> bytes:
    """The 16-byte header that opens a segment."""
    return HEADER.pack(MAGIC, VERSION, 0, base_offset)


def decode_header(data: Buffer) -> int:
    """Check a segment header and return its base offset."""
    if len(data) < HEADER_SIZE:
        raise FrameError(0, f"segment header truncated ({len(data)} of {HEADER_SIZE} bytes)")
    magic, version, _flags, base_offset = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise FrameError(0, f"bad segment magic {bytes(magic)!r}")
    if version != VERSION:
        raise FrameError(0, f"unsupported segment version {version}")
    return int(base_offset)


def encode_batch(first_offset: int, timestamp_us: int, payloads: Sequence[bytes]) -> bytearray:
    """Frames for `payloads` with consecutive offsets from `first_offset`, in one buffer (one write)."""
    total = FRAME_SIZE * len(payloads)
    for payload in payloads:
        total += len(payload)
    buf = bytearray(total)
    view = memoryview(buf)
    pack_header = _AFTER_CRC.pack_into
    pack_crc = _CRC.pack_into
    crc32 = _crc32
    pos = 0
    offset = first_offset
    for payload in payloads:
        n = len(payload)
        end = pos + FRAME_SIZE + n
        pack_header(buf, pos + 4, n, offset, timestamp_us)
        buf[pos + FRAME_SIZE : end] = payload
        pack_crc(buf, pos, crc32(view[pos + 4 : end]))
        pos = end
        offset += 1
    view.release()
    return buf


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """One record as stored: offset, timestamp in µs since the epoch, payload."""

    offset: int
    timestamp_us: int
    payload: bytes


def decode_frames(
    data: Buffer,
    *,
    expected_offset: int,
    max_records: int,
    max_record_bytes: int,
) -> tuple[list[DecodedFrame], int]:
    """Decode whole frames from the start of `data`, checking crc and offset of each.

    Returns the frames and the number of bytes they took. Stops early (without error) at an
    incomplete frame at the end of `data`; the caller reads more or knows the data is truncated.
    Raises `FrameError` (position relative to `data`) on a bad length, crc or offset.
    """
    view = memoryview(data)
    size = len(view)
    unpack = FRAME.unpack_from
    crc32 = _crc32
    out: list[DecodedFrame] = []
    pos = 0
    offset = expected_offset
    try:
        while len(out) < max_records and pos + FRAME_SIZE <= size:
            crc, n, stored_offset, ts = unpack(view, pos)
            if n > max_record_bytes:
                raise FrameError(pos, f"record length {n} exceeds max_record_bytes={max_record_bytes}")
            end = pos + FRAME_SIZE + n
            if end > size:
                break
            if crc32(view[pos + 4 : end]) != crc:
                raise FrameError(pos, f"crc mismatch in record expected at offset {offset}")
            if stored_offset != offset:
                raise FrameError(pos, f"record holds offset {stored_offset}, expected {offset}")
            out.append(DecodedFrame(offset, ts, bytes(view[pos + FRAME_SIZE : end])))
            pos = end
            offset += 1
    finally:
        view.release()
    return out, pos


def frame_length_at(data: Buffer, position: int) -> int | None:
    """Total size of the frame starting at `position`, or None if its header is not all there."""
    if position + FRAME_SIZE > len(data):
        return None
    _crc, n, _offset, _ts = FRAME.unpack_from(data, position)
    return FRAME_SIZE + int(n)


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Outcome of walking a segment: where the valid prefix ends and why it ends there."""

    valid_end: int
    next_offset: int
    records: int
    max_timestamp_us: int | None
    problem: str | None  # None when the data ends exactly on a frame boundary


def scan_frames(
    data: Buffer,
    *,
    start: int,
    expected_offset: int,
    max_record_bytes: int,
    verify_crc: bool = True,
) -> ScanResult:
    """Walk frames from `start` and report the longest valid prefix; never raises on bad data.

    Used on open to find a torn or corrupt tail (with `verify_crc`), and to learn the newest
    timestamp of a sealed segment for retention (header walk only).
    """
    view = memoryview(data)
    size = len(view)
    unpack = FRAME.unpack_from
    crc32 = _crc32
    pos = start
    offset = expected_offset
    max_ts: int | None = None
    problem: str | None = None
    try:
        while pos < size:
            if pos + FRAME_SIZE > size:
                problem = f"incomplete frame header ({size - pos} bytes)"
                break
            crc, n, stored_offset, ts = unpack(view, pos)
            end = pos + FRAME_SIZE + n
            if n > max_record_bytes:
                problem = f"record length {n} exceeds max_record_bytes={max_record_bytes}"
                break
            if end > size:
                problem = f"incomplete record ({size - pos} of {end - pos} bytes)"
                break
            if verify_crc and crc32(view[pos + 4 : end]) != crc:
                problem = f"crc mismatch in record expected at offset {offset}"
                break
            if stored_offset != offset:
                problem = f"record holds offset {stored_offset}, expected {offset}"
                break
            if max_ts is None or ts > max_ts:
                max_ts = ts
            pos = end
            offset += 1
    finally:
        view.release()
    return ScanResult(pos, offset, offset - expected_offset, max_ts, problem)


def locate(
    data: Buffer,
    *,
    expected_offset: int,
    target_offset: int,
    max_record_bytes: int,
) -> tuple[int, int]:
    """Walk frame headers (no crc) from the start of `data` towards `target_offset`.

    Returns `(position, offset)` reached: the target, or the last whole frame inside `data`.
    Raises `FrameError` when a header is implausible (length or offset), since skipping by a
    damaged length would land on garbage.
    """
    size = len(data)
    unpack = FRAME.unpack_from
    pos = 0
    offset = expected_offset
    while offset < target_offset and pos + FRAME_SIZE <= size:
        _crc, n, stored_offset, _ts = unpack(data, pos)
        if n > max_record_bytes:
            raise FrameError(pos, f"record length {n} exceeds max_record_bytes={max_record_bytes}")
        if stored_offset != offset:
            raise FrameError(pos, f"record holds offset {stored_offset}, expected {offset}")
        end = pos + FRAME_SIZE + n
        if end > size:
            break
        pos = end
        offset += 1
    return pos, offset
