"""The transport seam: named topics of records with offsets, and consumers with committed offsets.

The embedded implementation is `datasoc.transport.spool.Spool`; `datasoc.transport.kafka.
KafkaTransport` is the scale-out one (`transport.backend`). Contract shared by all implementations:

* `append` returns the offsets of a batch only once the batch is durable (fsync for the spool,
  `acks=all` for Kafka). Offsets in a topic are consecutive from 0 and never reused.
* `read` returns only durable records, in offset order, and never returns a record it cannot
  verify: damage is an error, not a gap.
* A consumer's committed offset is the offset of the *next* record it wants (Kafka convention),
  so after processing records up to offset `n` it commits `n + 1`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Self

from datasoc.transport.errors import TopicNameError

EVENTS = "events"
ALERTS = "alerts"
DEADLETTER = "deadletter"
DEFAULT_TOPICS: tuple[str, ...] = (EVENTS, ALERTS, DEADLETTER)

# Plain identifiers only: no dots or slashes, so a name can never climb out of the spool directory.
NAME_PATTERN = r"[a-z][a-z0-9_-]{0,63}"
_NAME_RE = re.compile(NAME_PATTERN)


def validate_name(name: object, *, kind: str = "topic") -> str:
    """Return `name` when it is a valid topic or consumer name, else raise `TopicNameError`."""
    if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
        raise TopicNameError(kind, name, NAME_PATTERN)
    return name


@dataclass(frozen=True, slots=True)
class Record:
    """One stored record: where it is (topic, offset), when it was appended, and its bytes."""

    topic: str
    offset: int
    timestamp: datetime
    payload: bytes


@dataclass(frozen=True, slots=True)
class TopicRange:
    """Retained offsets of a topic: records `start` to `end - 1` can be read; `end` is the next offset."""

    start: int
    end: int


class Consumer(ABC):
    """A named reader of one topic that resumes from its committed offset."""

    @property
    @abstractmethod
    def name(self) -> str:
        """The consumer's name (one committed offset per name and topic)."""

    @property
    @abstractmethod
    def topic(self) -> str:
        """The topic it reads."""

    @property
    @abstractmethod
    def position(self) -> int:
        """Offset of the next record `poll` returns."""

    @property
    @abstractmethod
    def committed(self) -> int:
        """The durable committed offset (next record to process after a restart)."""

    @abstractmethod
    def poll(self, max_records: int) -> list[Record]:
        """Up to `max_records` records from `position` on, advancing `position`; may be empty."""

    @abstractmethod
    def commit(self, offset: int | None = None) -> None:
        """Durably commit `offset` (default: `position`), the next offset to process."""

    @abstractmethod
    def seek(self, offset: int) -> None:
        """Move `position` (not the committed offset)."""

    @abstractmethod
    def reset_to_start(self) -> int:
        """Move `position` to the topic's retained start; return how many records were skipped."""


class Transport(ABC):
    """Durable, ordered, named topics."""

    @property
    @abstractmethod
    def topics(self) -> tuple[str, ...]:
        """The topics this transport was opened with."""

    @abstractmethod
    def append(self, topic: str, payloads: Sequence[bytes], *, now: datetime) -> list[int]:
        """Append a batch stamped `now`; return its offsets once it is durable."""

    @abstractmethod
    def read(self, topic: str, from_offset: int, max_records: int) -> list[Record]:
        """Up to `max_records` durable records from `from_offset`, in order."""

    def read_payloads(self, topic: str, from_offset: int, max_records: int) -> list[tuple[int, bytes]]:
        """`(offset, payload)` of up to `max_records` durable records from `from_offset`: `read` without
        the append times, for readers that only forward payloads (a transport may do it cheaper)."""
        return [(r.offset, r.payload) for r in self.read(topic, from_offset, max_records)]

    @abstractmethod
    def range(self, topic: str) -> TopicRange:
        """Retained offsets of `topic`."""

    @abstractmethod
    def consumer_offsets(self, topic: str) -> dict[str, int]:
        """Committed offsets of every consumer of `topic` by name (the collectors' back-pressure)."""

    @abstractmethod
    def consumer(self, name: str, topic: str) -> Consumer:
        """A consumer positioned at its committed offset (or the retained start for a new name)."""

    @abstractmethod
    def close(self) -> None:
        """Release files and locks; idempotent."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
