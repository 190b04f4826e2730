"""Segment files on disk: create, check, recover the tail, scan. The frame format is in `segment`."""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass
from pathlib import Path

import structlog

from datasoc.transport.errors import CorruptRecordError, FrameError
from datasoc.transport.offsets import Fsync, fsync_dir
from datasoc.transport.segment import (
    FRAME_SIZE,
    HEADER_SIZE,
    ScanResult,
    decode_header,
    encode_header,
    frame_length_at,
    scan_frames,
    segment_name,
)

_log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class TailRepair:
    """A torn tail found on open and cut off: bytes after the last valid frame, reported and never read.

    A crash (SIGKILL, power loss) can only tear a write whose fsync had not returned, so the
    cut bytes were never acknowledged.
    """

    topic: str
    path: Path
    position: int  # byte where the valid data ends and the cut began
    cut_bytes: int
    reason: str


def _map(path: Path) -> tuple[mmap.mmap | None, int]:
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return None, 0
        return mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ), size


def check_header(path: Path, data: bytes, base: int) -> None:
    """Raise `CorruptRecordError` unless `data` is a valid header for base offset `base`."""
    try:
        stored = decode_header(data)
    except FrameError as exc:
        raise CorruptRecordError(path, exc.position, exc.reason) from None
    if stored != base:
        raise CorruptRecordError(path, 0, f"header says base offset {stored}, file name says {base}")


def create_segment(directory: Path, base: int, fsync: Fsync) -> Path:
    """Create a segment holding only its header, durable (file and directory entry) before use."""
    path = directory / segment_name(base)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, encode_header(base))
        fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(directory, fsync)
    return path


def recover_tail(
    topic: str, path: Path, base: int, max_record_bytes: int, fsync: Fsync
) -> tuple[TailRepair | None, int, int, int | None]:
    """Scan the last segment; cut anything after the last whole, valid frame.

    Returns the repair (if any), the next offset, the segment size after the cut and the newest
    timestamp in it.
    """
    mapped, size = _map(path)
    if size <= HEADER_SIZE:
        if mapped is not None:
            mapped.close()
        if size == HEADER_SIZE:
            with path.open("rb") as f:
                try:
                    check_header(path, f.read(), base)
                    return None, base, size, None
                except CorruptRecordError:
                    pass
        # The header is written and synced before any record, so a short or blank header means
        # the crash hit segment creation and the file holds nothing acknowledged: rewrite it.
        with path.open("r+b") as f:
            f.truncate(0)
            f.write(encode_header(base))
            f.flush()
            fsync(f.fileno())
        repair = TailRepair(topic, path, 0, size, "segment header incomplete; rewritten")
        _log.warning("spool_tail_repaired", topic=topic, path=str(path), position=0, cut_bytes=size)
        return repair, base, HEADER_SIZE, None
    assert mapped is not None
    try:
        check_header(path, mapped[:HEADER_SIZE], base)
        scan = scan_frames(mapped, start=HEADER_SIZE, expected_offset=base, max_record_bytes=max_record_bytes)
        if scan.problem is not None and _valid_frame_follows(mapped, scan, max_record_bytes):
            # A crash tears only the end of the file. Valid records after the damage mean damage
            # inside acknowledged data: cutting would throw those records away, so refuse.
            raise CorruptRecordError(
                path, scan.valid_end, f"{scan.problem}, and valid records follow: not a torn tail"
            )
    finally:
        mapped.close()
    if scan.problem is None:
        return None, scan.next_offset, size, scan.max_timestamp_us
    with path.open("r+b") as f:
        f.truncate(scan.valid_end)
        fsync(f.fileno())
    repair = TailRepair(topic, path, scan.valid_end, size - scan.valid_end, scan.problem)
    _log.warning(
        "spool_tail_repaired",
        topic=topic,
        path=str(path),
        position=scan.valid_end,
        cut_bytes=repair.cut_bytes,
        reason=scan.problem,
    )
    return repair, scan.next_offset, scan.valid_end, scan.max_timestamp_us


def _valid_frame_follows(data: mmap.mmap, scan: ScanResult, max_record_bytes: int) -> bool:
    """Whether the frame after the bad one (skipping it by its stored length) is a valid record."""
    length = frame_length_at(data, scan.valid_end)
    if length is None or length - FRAME_SIZE > max_record_bytes:
        return False
    following = scan_frames(
        data,
        start=scan.valid_end + length,
        expected_offset=scan.next_offset + 1,
        max_record_bytes=max_record_bytes,
    )
    return following.records > 0


def newest_timestamp(path: Path, base: int, max_record_bytes: int) -> int | None:
    """Newest record timestamp (µs) of a sealed segment, walking frame headers only."""
    mapped, _size = _map(path)
    if mapped is None:
        return None
    try:
        scan = scan_frames(
            mapped,
            start=HEADER_SIZE,
            expected_offset=base,
            max_record_bytes=max_record_bytes,
            verify_crc=False,
        )
    finally:
        mapped.close()
    return scan.max_timestamp_us
