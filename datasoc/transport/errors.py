"""Errors of the transport (spool and Kafka): all are `TransportError`, itself a `DatasocError`."""

from __future__ import annotations

from pathlib import Path

from datasoc.errors import DatasocError


class TransportError(DatasocError):
    """Root of the transport's errors."""


class TopicNameError(TransportError, ValueError):
    """A topic or consumer name is not a plain identifier (this is also what stops path traversal)."""

    def __init__(self, kind: str, name: object, pattern: str) -> None:
        self.kind = kind
        self.name = name
        super().__init__(f"invalid {kind} name {name!r}: must match {pattern}")


class UnknownTopicError(TransportError, KeyError):
    """The topic was not declared when the transport was opened."""

    def __init__(self, topic: str, known: tuple[str, ...]) -> None:
        self.topic = topic
        super().__init__(f"unknown topic {topic!r}; declared topics: {', '.join(known)}")

    def __str__(self) -> str:
        # KeyError would otherwise repr() the message.
        return str(self.args[0])


class RecordTooLargeError(TransportError, ValueError):
    """A payload exceeds the configured maximum record size."""

    def __init__(self, topic: str, index: int, size: int, limit: int) -> None:
        self.topic = topic
        self.index = index
        self.size = size
        self.limit = limit
        super().__init__(
            f"topic {topic!r}: payload #{index} in batch is {size} bytes, above max_record_bytes={limit}"
        )


class CorruptRecordError(TransportError):
    """A record that should be intact is not: names the file and byte position, never skipped silently."""

    def __init__(self, path: Path, position: int, reason: str) -> None:
        self.path = path
        self.position = position
        self.reason = reason
        super().__init__(f"corrupt record in {path} at byte {position}: {reason}")


class OffsetOutOfRangeError(TransportError):
    """An offset lies outside the retained range `[start, end]` of a topic.

    Raised in particular for a consumer whose committed offset was removed by retention: it must
    decide explicitly (`Consumer.reset_to_start()`) to skip the lost records.
    """

    def __init__(self, topic: str, offset: int, start: int, end: int, *, consumer: str = "") -> None:
        self.topic = topic
        self.offset = offset
        self.start = start
        self.end = end
        self.consumer = consumer
        who = f"consumer {consumer!r} " if consumer else ""
        hint = (
            "; records before the start were removed by retention, call reset_to_start() to skip them"
            if offset < start
            else ""
        )
        super().__init__(
            f"{who}offset {offset} is outside topic {topic!r} retained range [{start}, {end}]{hint}"
        )


class SpoolLockedError(TransportError):
    """Another process holds the spool directory open."""


class TransportClosedError(TransportError):
    """The transport was closed, or a topic was failed by an I/O error and must be reopened."""


class FrameError(TransportError):
    """Framing check failed at `position` (relative to the decoded buffer); the spool re-raises it as a
    `CorruptRecordError` naming the file, or cuts the tail when it is in the last segment."""

    def __init__(self, position: int, reason: str) -> None:
        self.position = position
        self.reason = reason
        super().__init__(f"bad frame at byte {position}: {reason}")


class TransportUnavailableError(TransportError):
    """The broker did not acknowledge (down, unreachable, or the local queue is full): retry later."""
