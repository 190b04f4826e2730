"""One topic of the spool on disk: its segments, group-committed appends, verified reads, retention.

Concurrency: one lock per topic guards the in-memory state and the order of writes. Appenders
encode and write their batch under the lock, then wait until the batch is durable. The first
waiter to find no fsync in flight becomes the leader: it releases the lock, fsyncs everything
written so far and wakes the others; appenders that wrote meanwhile are covered by the next
leader (group commit, as in database write-ahead logs). Readers see durable records only.
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from datasoc.transport.errors import (
    CorruptRecordError,
    FrameError,
    OffsetOutOfRangeError,
    RecordTooLargeError,
    TransportClosedError,
    TransportError,
)
from datasoc.transport.offsets import Fsync, fsync_dir
from datasoc.transport.retention import RetentionPolicy, SegmentInfo, plan_retention
from datasoc.transport.segment import (
    HEADER_SIZE,
    DecodedFrame,
    decode_frames,
    encode_batch,
    frame_length_at,
    locate,
    parse_segment_name,
    segment_name,
)
from datasoc.transport.segment_files import (
    TailRepair,
    check_header,
    create_segment,
    newest_timestamp,
    recover_tail,
)

_READ_CHUNK = 1 << 20
_HINTS = 256


@dataclass(frozen=True, slots=True)
class TopicStats:
    """Counters of one open topic since it was opened."""

    start_offset: int
    end_offset: int
    segments: int
    bytes: int
    batches: int
    records: int
    data_syncs: int  # fsyncs of segment data by group commit (one per leader)


class _Segment:
    """Mutable bookkeeping for one segment file; `size` and `max_ts` are final once sealed."""

    __slots__ = ("base_offset", "max_ts", "path", "scanned", "size")

    def __init__(self, base_offset: int, path: Path, size: int, max_ts: int | None, scanned: bool) -> None:
        self.base_offset = base_offset
        self.path = path
        self.size = size
        self.max_ts = max_ts
        self.scanned = scanned  # max_ts is known (sealed segments from a previous run are scanned lazily)


def _write_all(fd: int, data: bytearray) -> None:
    view = memoryview(data)
    try:
        while view:
            view = view[os.write(fd, view) :]
    finally:
        view.release()


class TopicLog:
    """The segments of one topic directory. Build with `TopicLog.open`."""

    def __init__(
        self,
        topic: str,
        directory: Path,
        segments: list[_Segment],
        next_offset: int,
        *,
        segment_bytes: int,
        max_record_bytes: int,
        fsync: Fsync,
    ) -> None:
        self.topic = topic
        self.directory = directory
        self._segment_bytes = segment_bytes
        self._max_record_bytes = max_record_bytes
        self._fsync = fsync
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._segments = segments
        active = segments[-1]
        self._fd = os.open(active.path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        self._next_offset = next_offset
        self._durable_offset = next_offset
        self._write_pos = active.size
        self._durable_pos = active.size
        self._syncing = False
        self._failure: str | None = None
        self._closed = False
        self._hints: OrderedDict[int, tuple[int, int]] = OrderedDict()
        self._batches = 0
        self._records = 0
        self._data_syncs = 0

    # ----------------------------------------------------------------- open

    @classmethod
    def open(
        cls, topic: str, directory: Path, *, segment_bytes: int, max_record_bytes: int, fsync: Fsync
    ) -> tuple[TopicLog, TailRepair | None]:
        """Open (creating if needed) a topic directory, cutting a torn tail of its last segment."""
        if not directory.is_dir():
            directory.mkdir(mode=0o700)
            fsync_dir(directory.parent, fsync)
        found = sorted(
            (base, entry)
            for entry in directory.iterdir()
            if (base := parse_segment_name(entry.name)) is not None
        )
        if not found:
            create_segment(directory, 0, fsync)
            found = [(0, directory / segment_name(0))]
        segments: list[_Segment] = []
        for base, path in found[:-1]:
            with path.open("rb") as f:
                check_header(path, f.read(HEADER_SIZE), base)
                size = os.fstat(f.fileno()).st_size
            segments.append(_Segment(base, path, size, None, scanned=False))
        base, path = found[-1]
        repair, next_offset, size, max_ts = recover_tail(topic, path, base, max_record_bytes, fsync)
        segments.append(_Segment(base, path, size, max_ts, scanned=True))
        log = cls(
            topic,
            directory,
            segments,
            next_offset,
            segment_bytes=segment_bytes,
            max_record_bytes=max_record_bytes,
            fsync=fsync,
        )
        return log, repair

    # --------------------------------------------------------------- append

    def append(self, payloads: Sequence[bytes], timestamp_us: int) -> int:
        """Write `payloads` as one batch and return its first offset once the batch is durable."""
        limit = self._max_record_bytes
        for index, payload in enumerate(payloads):
            if not isinstance(payload, bytes | bytearray):
                raise TypeError(
                    f"topic {self.topic!r}: payload #{index} is {type(payload).__name__}, not bytes"
                )
            if len(payload) > limit:
                raise RecordTooLargeError(self.topic, index, len(payload), limit)
        with self._cond:
            self._check_usable()
            if self._write_pos >= self._segment_bytes and self._write_pos > HEADER_SIZE:
                self._roll_locked()
            first = self._next_offset
            data = encode_batch(first, timestamp_us, payloads)
            try:
                _write_all(self._fd, data)
            except OSError as exc:
                self._undo_partial_write_locked(exc)
                raise TransportError(f"topic {self.topic!r}: write failed: {exc}") from exc
            self._next_offset = end = first + len(payloads)
            self._write_pos += len(data)
            active = self._segments[-1]
            active.size = self._write_pos
            if active.max_ts is None or timestamp_us > active.max_ts:
                active.max_ts = timestamp_us
            self._batches += 1
            self._records += len(payloads)
            self._wait_durable_locked(end)
        return first

    def _wait_durable_locked(self, end: int) -> None:
        while self._durable_offset < end:
            self._check_usable()
            if self._syncing:
                self._cond.wait()
                continue
            # Leader: sync everything written so far, outside the lock so others can write meanwhile.
            self._syncing = True
            target_offset, target_pos, fd = self._next_offset, self._write_pos, self._fd
            self._lock.release()
            error: OSError | None = None
            try:
                self._fsync(fd)
            except OSError as exc:
                error = exc
            finally:
                self._lock.acquire()
                self._syncing = False
                self._cond.notify_all()
            if error is not None:
                # After a failed fsync the kernel may have dropped the dirty pages: nothing written
                # since the last good sync can be trusted, so the topic refuses work until reopened.
                self._failure = f"fsync failed: {error}"
                raise TransportError(f"topic {self.topic!r}: {self._failure}") from error
            self._data_syncs += 1
            if target_offset > self._durable_offset:
                self._durable_offset = target_offset
                self._durable_pos = target_pos

    def _undo_partial_write_locked(self, exc: OSError) -> None:
        try:
            os.ftruncate(self._fd, self._write_pos)
        except OSError:
            self._failure = f"write failed and the partial batch could not be removed: {exc}"

    def _roll_locked(self) -> None:
        """Seal the active segment (fully synced) and start a new one at the next offset."""
        while self._syncing:
            self._cond.wait()
        self._check_usable()
        if self._write_pos < self._segment_bytes:
            return  # another appender rolled while we waited
        try:
            self._fsync(self._fd)
        except OSError as exc:
            self._failure = f"fsync failed: {exc}"
            raise TransportError(f"topic {self.topic!r}: {self._failure}") from exc
        self._durable_offset = self._next_offset
        self._cond.notify_all()
        os.close(self._fd)
        self._fd = -1
        try:
            path = create_segment(self.directory, self._next_offset, self._fsync)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
        except OSError as exc:
            self._failure = f"cannot start segment {segment_name(self._next_offset)}: {exc}"
            raise TransportError(f"topic {self.topic!r}: {self._failure}") from exc
        self._fd = fd
        self._segments.append(_Segment(self._next_offset, path, HEADER_SIZE, None, scanned=True))
        self._write_pos = self._durable_pos = HEADER_SIZE

    def _check_usable(self) -> None:
        if self._closed:
            raise TransportClosedError(f"topic {self.topic!r} is closed")
        if self._failure is not None:
            raise TransportClosedError(f"topic {self.topic!r} failed ({self._failure}); reopen the spool")

    # ----------------------------------------------------------------- read

    def range(self) -> tuple[int, int]:
        """`(start, end)`: first retained offset and the offset after the last durable record."""
        with self._lock:
            return self._segments[0].base_offset, self._durable_offset

    def read(self, from_offset: int, max_records: int) -> list[DecodedFrame]:
        """Durable records from `from_offset`, verified frame by frame."""
        with self._lock:
            if self._closed:
                raise TransportClosedError(f"topic {self.topic!r} is closed")
            start, end = self._segments[0].base_offset, self._durable_offset
            if not start <= from_offset <= end:
                raise OffsetOutOfRangeError(self.topic, from_offset, start, end)
            want = min(max_records, end - from_offset)
            if want <= 0:
                return []
            bases = [s.base_offset for s in self._segments]
            spans = [(s.base_offset, s.path, s.size) for s in self._segments[:-1]]
            spans.append((self._segments[-1].base_offset, self._segments[-1].path, self._durable_pos))
            hint = self._hints.get(from_offset)
        index = bisect_right(bases, from_offset) - 1
        base = spans[index][0]
        pos, expected = (hint[1], from_offset) if hint and hint[0] == base else (HEADER_SIZE, base)
        out: list[DecodedFrame] = []
        try:
            while True:
                _base, path, limit = spans[index]
                pos, expected = self._read_segment(path, pos, limit, expected, from_offset, want, out)
                if len(out) >= want or index + 1 >= len(spans):
                    break
                index += 1
                if expected != spans[index][0]:
                    raise CorruptRecordError(
                        path,
                        pos,
                        f"segment ends at offset {expected}, next segment starts at {spans[index][0]}",
                    )
                pos = HEADER_SIZE
        except FileNotFoundError:
            # Retention removed the segment between the snapshot and the read.
            start, end = self.range()
            raise OffsetOutOfRangeError(self.topic, from_offset, start, end) from None
        with self._lock:
            self._hints[expected] = (spans[index][0], pos)
            if len(self._hints) > _HINTS:
                self._hints.popitem(last=False)
        return out

    def _read_segment(
        self,
        path: Path,
        pos: int,
        limit: int,
        expected: int,
        from_offset: int,
        want: int,
        out: list[DecodedFrame],
    ) -> tuple[int, int]:
        max_bytes = self._max_record_bytes
        need = _READ_CHUNK
        with path.open("rb", buffering=0) as f:
            while pos < limit and len(out) < want:
                f.seek(pos)
                data = f.read(min(limit - pos, need))
                try:
                    if expected < from_offset:
                        used, expected = locate(
                            data,
                            expected_offset=expected,
                            target_offset=from_offset,
                            max_record_bytes=max_bytes,
                        )
                        frames: list[DecodedFrame] = []
                    else:
                        frames, used = decode_frames(
                            data,
                            expected_offset=expected,
                            max_records=want - len(out),
                            max_record_bytes=max_bytes,
                        )
                except FrameError as exc:
                    raise CorruptRecordError(path, pos + exc.position, exc.reason) from None
                if used == 0:
                    length = frame_length_at(data, 0)
                    if length is None or pos + length > limit:
                        raise CorruptRecordError(path, pos, "record cut short inside durable data")
                    need = max(need, length)
                    continue
                out.extend(frames)
                expected += len(frames)
                pos += used
        return pos, expected

    # ------------------------------------------------------------ retention

    def apply_retention(self, policy: RetentionPolicy, now_us: int) -> tuple[list[_Segment], int]:
        """Delete the segments `plan_retention` selects; return them and the new start offset."""
        with self._lock:
            snapshot = list(self._segments[:-1])
        for segment in snapshot:
            if not segment.scanned:  # sealed, so immutable: safe to scan without the lock
                segment.max_ts = newest_timestamp(segment.path, segment.base_offset, self._max_record_bytes)
                segment.scanned = True
        with self._lock:
            self._check_usable()
            segments = self._segments
            infos = [
                SegmentInfo(
                    s.base_offset,
                    segments[i + 1].base_offset if i + 1 < len(segments) else self._next_offset,
                    s.size,
                    s.max_ts,
                )
                for i, s in enumerate(segments)
            ]
            count = plan_retention(infos, policy, now_us)
            removed = segments[:count]
            for segment in removed:  # oldest first, so a crash midway still leaves a contiguous log
                segment.path.unlink()
            if removed:
                fsync_dir(self.directory, self._fsync)
                del segments[:count]
                gone = {s.base_offset for s in removed}
                for key in [k for k, v in self._hints.items() if v[0] in gone]:
                    del self._hints[key]
            return removed, segments[0].base_offset

    # ---------------------------------------------------------------- misc

    def stats(self) -> TopicStats:
        """Counters for benchmarks and tests."""
        with self._lock:
            return TopicStats(
                start_offset=self._segments[0].base_offset,
                end_offset=self._durable_offset,
                segments=len(self._segments),
                bytes=sum(s.size for s in self._segments),
                batches=self._batches,
                records=self._records,
                data_syncs=self._data_syncs,
            )

    def close(self) -> None:
        """Wait for an fsync in flight, then release the segment file; idempotent."""
        with self._cond:
            while self._syncing:
                self._cond.wait()
            if self._closed:
                return
            self._closed = True
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            self._cond.notify_all()
