"""Retention planning for the spool: pure decisions over segment summaries, no I/O.

Retention removes whole sealed segments from the *oldest* end only, so a topic always stays one
contiguous range of offsets. The active (last) segment is never removed, whatever the policy says.
Retention does not wait for consumers: the spool is a bounded buffer, and a consumer that falls
behind the retained start gets `OffsetOutOfRangeError` on its next poll (it is also named in the
`RetentionReport`) rather than silently jumping ahead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from datasoc.errors import ConfigError

_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Keep records for `max_age` and a topic under `max_bytes`; None switches a limit off."""

    max_age: timedelta | None = timedelta(days=7)
    max_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.max_age is not None and self.max_age <= timedelta(0):
            raise ConfigError(f"spool.retention max_age={self.max_age} is invalid: must be positive or None")
        if self.max_bytes is not None and self.max_bytes <= 0:
            raise ConfigError(
                f"spool.retention max_bytes={self.max_bytes!r} is invalid: must be positive or None"
            )


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    """What retention needs to know about one segment."""

    base_offset: int
    end_offset: int  # offset after its last record
    size: int  # bytes on disk, header included
    max_timestamp_us: int | None  # newest record timestamp; None when the segment holds no record


def plan_retention(segments: Sequence[SegmentInfo], policy: RetentionPolicy, now_us: int) -> int:
    """How many leading segments of a topic (sorted by base offset) to delete at `now_us`.

    A segment goes when its newest record is older than `max_age`, or while the topic is larger
    than `max_bytes`; the last segment always stays.
    """
    deletable = len(segments) - 1
    cutoff = None if policy.max_age is None else now_us - policy.max_age // _US
    total = sum(s.size for s in segments)
    count = 0
    while count < deletable:
        segment = segments[count]
        too_old = cutoff is not None and (
            segment.max_timestamp_us is None or segment.max_timestamp_us < cutoff
        )
        too_big = policy.max_bytes is not None and total > policy.max_bytes
        if not (too_old or too_big):
            break
        total -= segment.size
        count += 1
    return count


@dataclass(frozen=True, slots=True)
class TopicRetention:
    """What retention did to one topic."""

    topic: str
    deleted_segments: tuple[str, ...]
    deleted_records: int
    deleted_bytes: int
    start_offset: int  # the retained start after this run
    lagging_consumers: tuple[str, ...]  # committed offset now before start_offset


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """Outcome of one `apply_retention(now)` over all topics."""

    topics: tuple[TopicRetention, ...]

    @property
    def deleted_records(self) -> int:
        """Records removed across all topics."""
        return sum(t.deleted_records for t in self.topics)

    @property
    def deleted_bytes(self) -> int:
        """Bytes removed across all topics."""
        return sum(t.deleted_bytes for t in self.topics)
