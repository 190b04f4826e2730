"""The indexer: committed events from the transport into the event store, at least once.

Order per batch: read from the consumer's position, decode, insert (idempotent on `event.id`),
make the store durable (`sync`), then commit the offset. A crash anywhere replays the batch, and
replays are harmless. A payload that does not decode into a valid event goes to the dead-letter
topic with its offset and reason; it is never skipped silently.

Each record is decoded once (orjson). One the collectors wrote is already a valid event in wire
form, which `surely_valid` (the collectors' conservative pre-check) confirms cheaply; it is stored
as the bytes it arrived in (`EventStore.insert_encoded`) instead of being validated by the full
model and encoded again. Anything else takes the full `Event.from_dict` path, which also names
what is wrong for the dead letter. An event the store refuses for good (a search engine's
mapping conflict) is dead-lettered too, with the store's reason.

A retention gap (records removed before the indexer read them) is skipped, counted and reported
through `on_gap` (the platform ledgers it as `system.gap`): never a permanent stop. When the
store is unavailable (a search cluster down or pushing back past its retries) the batch is not
committed: the round raises, the supervised step backs off and reads it again; the events wait in
the transport, the collectors' lag grows until they answer with back-pressure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from collectors.inputs.quick import surely_wire_form
from collectors.sink import dead_letter
from datasoc.errors import EventValidationError
from datasoc.event import Event
from datasoc.logging import get_logger
from datasoc.store import EncodedEvent, EventStore
from datasoc.store.query import to_micros
from datasoc.transport import DEADLETTER, EVENTS, Consumer, OffsetOutOfRangeError, Record, Transport
from soc_api.steps import Gap, rewind, skip_gap

log = get_logger("indexer")
CONSUMER: Final = "indexer"


@dataclass(frozen=True)
class IndexReport:
    """One indexing run: records read, events newly stored, rejects dead-lettered, skipped by a gap."""

    read: int
    stored: int
    rejected: int
    committed_offset: int
    skipped: int = 0
    #: Records still waiting after this run (its batch budget ran out).
    lag: int = 0

    @property
    def more(self) -> bool:
        """Whether records were left for the next run."""
        return self.lag > 0


def encoded(data: Any, payload: bytes) -> EncodedEvent | None:
    """The payload as stored, if it is surely a valid event already in wire form; else None."""
    if not surely_wire_form(data):
        return None
    moment = datetime.fromisoformat(data["@timestamp"][:-1]).replace(tzinfo=UTC)
    return EncodedEvent(
        event_id=data["event.id"], timestamp_us=to_micros(moment), doc=payload.decode("utf-8")
    )


class Indexer:
    """The `indexer` consumer of `events`, kept between runs (see module docstring)."""

    def __init__(
        self,
        transport: Transport,
        store: EventStore,
        *,
        consumer: str = CONSUMER,
        batch_size: int = 1000,
        on_gap: Callable[[Gap, datetime], None] | None = None,
    ) -> None:
        self.transport = transport
        self.store = store
        self.batch_size = batch_size
        self._reader: Consumer = transport.consumer(consumer, EVENTS)
        self._on_gap = on_gap

    def run(self, *, now: datetime, max_batches: int | None = None) -> IndexReport:
        """Index up to `max_batches` batches (all that is pending when None)."""
        read = stored = rejected = batches = skipped = 0
        while max_batches is None or batches < max_batches:
            records, gap = self._poll(now)
            if gap is not None:
                skipped += gap.skipped
            if not records:
                break
            try:
                new, dead = self._index(records, now)
            except BaseException:
                # The batch is read again next run: nothing after the committed offset is skipped.
                rewind(self.transport, self._reader, now, self._on_gap)
                raise
            stored += new
            rejected += dead
            read += len(records)
            batches += 1
        end = self.transport.range(EVENTS).end
        return IndexReport(
            read=read,
            stored=stored,
            rejected=rejected,
            committed_offset=self._reader.committed,
            skipped=skipped,
            lag=max(end - self._reader.committed, 0),
        )

    def _poll(self, now: datetime) -> tuple[list[Record], Gap | None]:
        try:
            return self._reader.poll(self.batch_size), None
        except OffsetOutOfRangeError:
            gap = skip_gap(self.transport, self._reader, now, self._on_gap)
            return self._reader.poll(self.batch_size), gap

    def _index(self, records: list[Record], now: datetime) -> tuple[int, int]:
        fast: list[EncodedEvent] = []
        slow: list[Event] = []
        fast_at: list[int] = []
        slow_at: list[int] = []
        dead: list[bytes] = []
        for record in records:
            where = f"{EVENTS}@{record.offset}"
            try:
                data = orjson.loads(record.payload)
                ready = encoded(data, record.payload)
                if ready is not None:
                    fast.append(ready)
                    fast_at.append(record.offset)
                else:
                    slow.append(Event.from_dict(data, where=where))
                    slow_at.append(record.offset)
            except (ValueError, EventValidationError) as exc:
                # orjson.JSONDecodeError and UnicodeDecodeError are ValueErrors too.
                dead.append(
                    dead_letter(
                        stage="index",
                        source=where,
                        position=record.offset,
                        reason=str(exc),
                        raw=record.payload,
                        received_at=now,
                    )
                )
        offsets = {e.event_id: off for e, off in zip(fast, fast_at, strict=True)}
        offsets.update((e.event_id, off) for e, off in zip(slow, slow_at, strict=True))
        # A store that cannot take writes now raises StoreUnavailableError: nothing is committed,
        # the round fails and the step reads the batch again after its back-off.
        results = (self.store.insert_encoded(fast), self.store.insert_batch(slow))
        stored = sum(r.inserted for r in results)
        for refused in (r for result in results for r in result.rejected):
            offset = offsets.get(refused.event.event_id)
            dead.append(
                dead_letter(
                    stage="index",
                    source=f"{EVENTS}@{offset}",
                    position=offset,
                    reason=f"refused by the event store: {refused.reason}",
                    raw=refused.event.canonical(),
                    received_at=now,
                )
            )
        if dead:
            # Before the commit: a crash in between dead-letters these records again, never loses them.
            self.transport.append(DEADLETTER, dead, now=now)
            log.warning("index_rejected", count=len(dead), first_offset=records[0].offset)
        self.store.sync()
        self._reader.commit()
        return stored, len(dead)


def index_pending(
    transport: Transport,
    store: EventStore,
    *,
    now: datetime,
    consumer: str = CONSUMER,
    batch_size: int = 1000,
    max_batches: int | None = None,
) -> IndexReport:
    """Index everything committed to the events topic since the consumer's offset (one-shot use)."""
    return Indexer(transport, store, consumer=consumer, batch_size=batch_size).run(
        now=now, max_batches=max_batches
    )
