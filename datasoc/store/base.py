"""The `EventStore` interface: what the platform needs from an event search backend.

Small on purpose. SQLite (`datasoc.store.sqlite`) implements it now; OpenSearch and Elasticsearch
will implement it later against the same contract tests (`tests/datasoc/store/`). The query
semantics every backend follows are written down in `datasoc.store.query`.

Deletion is not part of the public surface: events leave the store only through
`datasoc.store.retention.RetentionJob`, which enforces the legal minimum retention and reports
every purge so the application can record it in the audit ledger.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self

from datasoc.event import Event
from datasoc.store.query import EPOCH, Bucket, FieldFilter, SearchPage, SearchQuery


@dataclass(frozen=True, slots=True)
class EncodedEvent:
    """An event already validated, in its wire form as compact JSON text (as the spool holds it).

    Lets the indexer store what it read without decoding, re-validating and re-encoding each event:
    `doc` must be the JSON of a mapping that `Event.from_dict` accepts unchanged (wire-form times,
    no null values), `event_id` and `timestamp_us` its `event.id` and `@timestamp` in microseconds.
    """

    event_id: str
    timestamp_us: int
    doc: str


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    """An event the backend refused for good (a mapping conflict, a reserved field name...)."""

    event: Event
    reason: str


@dataclass(frozen=True, slots=True)
class InsertResult:
    """What `insert_batch` did: how many events were new, and which were refused with why."""

    inserted: int
    rejected: tuple[RejectedEvent, ...] = ()


class EventStore(ABC):
    """A searchable, append-only store of normalized events, keyed by `event.id`."""

    def insert_encoded(self, events: Sequence[EncodedEvent]) -> InsertResult:
        """`insert_batch` for events already in wire form (see `EncodedEvent`); same idempotence.

        This default decodes each one; a backend that stores the JSON as it is overrides it."""
        return self.insert_batch([Event.from_dict(json.loads(e.doc)) for e in events])

    def insert_batch(self, events: Sequence[Event]) -> InsertResult:
        """Store `events`; return how many were new and the events the backend refused for good.

        A refused event is not stored and never retried: the caller dead-letters it with its
        reason. Everything else of the batch is stored. SQLite refuses nothing; the search
        backends may (see `RejectedEvent`). Transient failures raise `StoreUnavailableError`
        and store nothing that the caller should consider acknowledged.
        """
        return InsertResult(inserted=self.insert_many(events))

    @abstractmethod
    def insert_many(self, events: Sequence[Event]) -> int:
        """Store `events` in one batch; return how many were new.

        Idempotent on `event.id`: an id already stored (or repeated in the batch) is skipped, the
        first write wins and is never compared or replaced. So replaying a transport after a crash
        is safe. A backend that refuses some events stores the rest and raises
        `RejectedEventsError` naming them (`insert_batch` returns them instead).
        """

    @abstractmethod
    def get(self, event_id: str) -> Event | None:
        """The event with this `event.id`, or None."""

    @abstractmethod
    def search(self, query: SearchQuery) -> SearchPage:
        """One page of matching events, newest first (see `datasoc.store.query` for semantics)."""

    @abstractmethod
    def count(self, query: SearchQuery) -> int:
        """How many events match `query` (its `limit` and `after` are ignored)."""

    @abstractmethod
    def count_by(
        self,
        field: str,
        start: datetime,
        end: datetime,
        bucket: timedelta,
        *,
        filters: Sequence[FieldFilter] = (),
        origin: datetime = EPOCH,
    ) -> list[Bucket]:
        """Counts of events in `[start, end)` grouped by time bucket and by the value of `field`.

        Buckets start at `origin + k * bucket` (the first may begin before `start`, but counts only
        events at or after `start`). Only non-empty (bucket, value) pairs are returned, ordered by
        bucket start then value; events without `field` are not counted; an array field counts
        once per element (as an OpenSearch `terms` aggregation does).
        """

    @abstractmethod
    def sync(self) -> None:
        """Make every insert that has returned durable on disk.

        Call before acknowledging upstream (committing a spool offset): backends may defer fsync.
        """

    @abstractmethod
    def _purge_before(self, cutoff: datetime) -> int:
        """Delete events with `@timestamp < cutoff`; return how many.

        Retention only: call through `RetentionJob`, never directly, so the minimum retention is
        enforced and the purge is reported to the ledger.
        """

    @abstractmethod
    def close(self) -> None:
        """Release the backend; later calls raise `StoreClosedError`. Closing twice is harmless."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
