"""The embedded transport: a durable on-disk spool of named topics.

Layout under the spool root (format of the segment files in `datasoc.transport.segment`):

    <root>/.lock                                   flock held while a process has the spool open
    <root>/<topic>/<base offset, 20 digits>.seg    append-only segments; the last one is active
    <root>/<topic>/consumers/<name>.offset         committed offset, JSON, replaced atomically

Guarantees: `append` returns offsets only after the batch is fsynced (group commit across
threads); on open the tail of each topic's last segment is scanned and anything after the last
valid frame is cut and reported in `Spool.repairs` (never read); damage anywhere else surfaces as
`CorruptRecordError` naming the file and byte; retention removes whole sealed segments only.
Files are created owner-only (0600, directories 0700): events carry personal and platform data.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from datasoc.errors import ConfigError
from datasoc.transport.base import DEFAULT_TOPICS, Consumer, Record, TopicRange, Transport, validate_name
from datasoc.transport.errors import (
    OffsetOutOfRangeError,
    SpoolLockedError,
    TransportClosedError,
    TransportError,
    UnknownTopicError,
)
from datasoc.transport.offsets import (
    Fsync,
    fsync_dir,
    load_all_offsets,
    load_offset,
    offset_path,
    store_offset,
)
from datasoc.transport.retention import RetentionPolicy, RetentionReport, TopicRetention
from datasoc.transport.segment import FRAME_SIZE, HEADER_SIZE
from datasoc.transport.segment_files import TailRepair
from datasoc.transport.topic_log import TopicLog, TopicStats

_log = structlog.get_logger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
MIN_SEGMENT_BYTES = 256
MAX_RECORD_LIMIT = 2**31  # the frame's length field is u32; keep well inside it


def to_micros(now: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact integer arithmetic)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise TransportError(f"timestamp must be timezone-aware, got naive {now.isoformat()}")
    return (now - _EPOCH) // _US


def from_micros(micros: int) -> datetime:
    """UTC datetime of microseconds since the Unix epoch."""
    return _EPOCH + timedelta(microseconds=micros)


@dataclass(frozen=True, slots=True)
class SpoolConfig:
    """Segment size, record size limit and retention of a spool."""

    segment_bytes: int = 64 * 1024 * 1024
    max_record_bytes: int = 1024 * 1024
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)

    def __post_init__(self) -> None:
        if self.segment_bytes < MIN_SEGMENT_BYTES:
            raise ConfigError(
                f"spool.segment_bytes={self.segment_bytes!r} is invalid: must be at least {MIN_SEGMENT_BYTES}"
            )
        if not 0 < self.max_record_bytes <= MAX_RECORD_LIMIT:
            raise ConfigError(
                f"spool.max_record_bytes={self.max_record_bytes!r} is invalid: "
                f"must be in 1..{MAX_RECORD_LIMIT}"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpoolConfig:
        """Build from plain settings: `segment_bytes`, `max_record_bytes`, `retention_max_age_seconds`,
        `retention_max_bytes` (the last two may be None to switch that limit off)."""
        allowed = {"segment_bytes", "max_record_bytes", "retention_max_age_seconds", "retention_max_bytes"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ConfigError(f"spool: unknown keys {unknown}; allowed: {sorted(allowed)}")
        defaults = cls()
        for key in ("segment_bytes", "max_record_bytes", "retention_max_bytes", "retention_max_age_seconds"):
            value = data.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise ConfigError(f"spool.{key}={value!r} is invalid: must be an integer")
        age = data.get("retention_max_age_seconds", -1)
        max_age = defaults.retention.max_age if age == -1 else None if age is None else timedelta(seconds=age)
        retention = RetentionPolicy(max_age=max_age, max_bytes=data.get("retention_max_bytes"))
        return cls(
            segment_bytes=data.get("segment_bytes", defaults.segment_bytes),
            max_record_bytes=data.get("max_record_bytes", defaults.max_record_bytes),
            retention=retention,
        )


def _acquire_lock(root: Path) -> int:
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SpoolLockedError(f"spool {root} is already open in another process") from None
    return fd


class Spool(Transport):
    """Durable topics in a directory; build with `Spool.open`. Thread-safe; one process at a time."""

    def __init__(
        self,
        root: Path,
        logs: dict[str, TopicLog],
        lock_fd: int,
        config: SpoolConfig,
        fsync: Fsync,
        repairs: tuple[TailRepair, ...],
    ) -> None:
        self.root = root
        self.config = config
        self.repairs = repairs
        self._logs = logs
        self._lock_fd = lock_fd
        self._fsync = fsync
        self._closed = False
        self._close_lock = threading.Lock()

    @classmethod
    def open(
        cls,
        root: Path | str,
        *,
        topics: Sequence[str] = DEFAULT_TOPICS,
        config: SpoolConfig | None = None,
        fsync: Callable[[int], None] = os.fsync,
    ) -> Spool:
        """Open or create the spool at `root` with the declared `topics`, recovering torn tails.

        `fsync` is the function used for every durability point (tests inject a counting one).
        """
        config = config or SpoolConfig()
        names = tuple(validate_name(t) for t in topics)
        if len(set(names)) != len(names) or not names:
            raise TransportError(f"topics must be a non-empty list without duplicates, got {list(topics)}")
        root = Path(root)
        if not root.is_dir():
            root.mkdir(mode=0o700, parents=True)
            fsync_dir(root.parent, fsync)
        lock_fd = _acquire_lock(root)
        logs: dict[str, TopicLog] = {}
        repairs: list[TailRepair] = []
        try:
            for name in names:
                log, repair = TopicLog.open(
                    name,
                    root / name,
                    segment_bytes=config.segment_bytes,
                    max_record_bytes=config.max_record_bytes,
                    fsync=fsync,
                )
                logs[name] = log
                if repair is not None:
                    repairs.append(repair)
        except BaseException:
            for log in logs.values():
                log.close()
            os.close(lock_fd)
            raise
        return cls(root, logs, lock_fd, config, fsync, tuple(repairs))

    @property
    def topics(self) -> tuple[str, ...]:
        """The declared topics."""
        return tuple(self._logs)

    def _log_for(self, topic: str) -> TopicLog:
        try:
            return self._logs[topic]
        except KeyError:
            validate_name(topic)
            raise UnknownTopicError(topic, self.topics) from None

    def append(self, topic: str, payloads: Sequence[bytes], *, now: datetime) -> list[int]:
        """Append a batch stamped `now`; return its offsets once fsynced."""
        log = self._log_for(topic)
        if not payloads:
            return []
        first = log.append(payloads, to_micros(now))
        return list(range(first, first + len(payloads)))

    def read(self, topic: str, from_offset: int, max_records: int) -> list[Record]:
        """Up to `max_records` durable records from `from_offset`; `[]` at the end of the topic."""
        frames = self._log_for(topic).read(from_offset, max_records)
        return [Record(topic, f.offset, from_micros(f.timestamp_us), f.payload) for f in frames]

    def read_payloads(self, topic: str, from_offset: int, max_records: int) -> list[tuple[int, bytes]]:
        """`(offset, payload)` pairs as `read` finds them, without building records (no datetime per
        record: about half the cost of `read` for a forwarding reader such as the job's exporter)."""
        return [(f.offset, f.payload) for f in self._log_for(topic).read(from_offset, max_records)]

    def range(self, topic: str) -> TopicRange:
        """Retained offsets of `topic`."""
        start, end = self._log_for(topic).range()
        return TopicRange(start, end)

    def stats(self, topic: str) -> TopicStats:
        """Counters of `topic` since open (batches, records, group-commit fsyncs, size)."""
        return self._log_for(topic).stats()

    def consumer(self, name: str, topic: str) -> SpoolConsumer:
        """The consumer `name` of `topic`, at its committed offset (the retained start if none)."""
        validate_name(name, kind="consumer")
        self._log_for(topic)
        path = offset_path(self.root / topic / "consumers", name)
        return SpoolConsumer(self, name, topic, path, load_offset(path))

    def consumer_offsets(self, topic: str) -> dict[str, int]:
        """Committed offsets of every consumer of `topic`."""
        self._log_for(topic)
        return load_all_offsets(self.root / topic / "consumers")

    def apply_retention(self, now: datetime, policy: RetentionPolicy | None = None) -> RetentionReport:
        """Remove sealed segments past the retention policy (default: the configured one) at `now`."""
        policy = policy or self.config.retention
        now_us = to_micros(now)
        results = []
        for topic, log in self._logs.items():
            old_start, _end = log.range()
            removed, start = log.apply_retention(policy, now_us)
            lagging = tuple(sorted(n for n, off in self.consumer_offsets(topic).items() if off < start))
            result = TopicRetention(
                topic=topic,
                deleted_segments=tuple(s.path.name for s in removed),
                deleted_records=start - old_start,
                deleted_bytes=sum(s.size for s in removed),
                start_offset=start,
                lagging_consumers=lagging,
            )
            if removed:
                _log.info(
                    "spool_retention",
                    topic=topic,
                    segments=len(removed),
                    records=result.deleted_records,
                    start_offset=start,
                )
            if lagging:
                _log.warning(
                    "spool_consumers_behind_retention", topic=topic, consumers=list(lagging), start=start
                )
            results.append(result)
        return RetentionReport(tuple(results))

    def close(self) -> None:
        """Close all topics and release the directory lock; idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            for log in self._logs.values():
                log.close()
            os.close(self._lock_fd)

    def _commit_offset(self, consumer: str, topic: str, path: Path, offset: int) -> None:
        if self._closed:
            raise TransportClosedError(f"spool {self.root} is closed")
        directory = path.parent
        if not directory.is_dir():
            directory.mkdir(mode=0o700)
            fsync_dir(directory.parent, self._fsync)
        store_offset(path, consumer=consumer, topic=topic, offset=offset, fsync=self._fsync)


class SpoolConsumer(Consumer):
    """A consumer of one spool topic. Not thread-safe: one thread polls and commits it.

    When retention has removed records at the consumer's position, `poll` raises
    `OffsetOutOfRangeError` naming the consumer; the caller decides to `reset_to_start()`, which
    returns the number of records skipped so the loss is counted, never silent.
    """

    def __init__(self, spool: Spool, name: str, topic: str, path: Path, committed: int | None) -> None:
        self._spool = spool
        self._name = name
        self._topic = topic
        self._path = path
        start = spool.range(topic).start
        self._committed = start if committed is None else committed
        self._position = self._committed

    @property
    def name(self) -> str:
        """The consumer's name."""
        return self._name

    @property
    def topic(self) -> str:
        """The topic it reads."""
        return self._topic

    @property
    def position(self) -> int:
        """Offset of the next record `poll` returns."""
        return self._position

    @property
    def committed(self) -> int:
        """The committed offset (next record to process after a restart)."""
        return self._committed

    def poll(self, max_records: int) -> list[Record]:
        """Up to `max_records` records from `position`, advancing it."""
        try:
            records = self._spool.read(self._topic, self._position, max_records)
        except OffsetOutOfRangeError as exc:
            raise OffsetOutOfRangeError(
                exc.topic, exc.offset, exc.start, exc.end, consumer=self._name
            ) from None
        self._position += len(records)
        return records

    def _check_range(self, offset: int) -> None:
        current = self._spool.range(self._topic)
        if not current.start <= offset <= current.end:
            raise OffsetOutOfRangeError(self._topic, offset, current.start, current.end, consumer=self._name)

    def commit(self, offset: int | None = None) -> None:
        """Durably commit `offset` (default: `position`): tmp file, fsync, rename, directory fsync."""
        target = self._position if offset is None else offset
        self._check_range(target)
        self._spool._commit_offset(self._name, self._topic, self._path, target)
        self._committed = target

    def seek(self, offset: int) -> None:
        """Move `position` within the retained range; the committed offset is unchanged."""
        self._check_range(offset)
        self._position = offset

    def reset_to_start(self) -> int:
        """Jump to the retained start if the position fell behind it; return records skipped."""
        start = self._spool.range(self._topic).start
        skipped = max(0, start - self._position)
        if skipped:
            _log.warning("spool_consumer_skipped", consumer=self._name, topic=self._topic, skipped=skipped)
            self._position = start
        return skipped


# Per-record overhead on disk, for capacity planning and the benchmark.
RECORD_OVERHEAD_BYTES = FRAME_SIZE
SEGMENT_HEADER_BYTES = HEADER_SIZE
