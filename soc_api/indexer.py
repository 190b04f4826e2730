"""The indexer: committed events from the transport into the event store, at least once.

Order per batch: read from the consumer's committed offset, decode, insert (idempotent on
`event.id`), make the store durable (`sync`), then commit the offset. A crash anywhere replays
the batch, and replays are harmless. A payload that does not decode into a valid event goes to
the dead-letter topic with its offset and reason; it is never skipped silently; so does an event
the store refuses for good (a search engine's mapping conflict), with the store's reason.

When the store is unavailable (a search cluster down or pushing back past its retries) the pass
stops without committing: the events wait in the transport, the collectors' lag grows until they
answer with back-pressure, and a later pass indexes them all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from collectors.sink import dead_letter
from datasoc.errors import EventValidationError
from datasoc.event import Event
from datasoc.logging import get_logger
from datasoc.store import EventStore, StoreUnavailableError
from datasoc.transport import DEADLETTER, EVENTS, Transport

log = get_logger("indexer")


@dataclass(frozen=True)
class IndexReport:
    """One indexing pass: records read, events newly stored, rejects dead-lettered."""

    read: int
    stored: int
    rejected: int
    committed_offset: int
    #: Why the pass stopped early (the store was unavailable), or None.
    unavailable: str | None = None


def index_pending(
    transport: Transport,
    store: EventStore,
    *,
    now: datetime,
    consumer: str = "indexer",
    batch_size: int = 1000,
    max_batches: int | None = None,
) -> IndexReport:
    """Index everything committed to the events topic since the consumer's offset."""
    reader = transport.consumer(consumer, EVENTS)
    read = stored = rejected = batches = 0
    while max_batches is None or batches < max_batches:
        records = reader.poll(batch_size)
        if not records:
            break
        events: list[Event] = []
        decoded_at: list[int] = []
        dead: list[bytes] = []
        for record in records:
            where = f"{EVENTS}@{record.offset}"
            try:
                events.append(Event.from_dict(json.loads(record.payload), where=where))
                decoded_at.append(record.offset)
            except (ValueError, EventValidationError) as exc:
                # json.JSONDecodeError and UnicodeDecodeError are ValueErrors too.
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
        try:
            result = store.insert_batch(events)
            store.sync()
        except StoreUnavailableError as exc:
            # Nothing of this batch is committed: it is read again by the next pass.
            log.warning("store_unavailable", error=str(exc), first_offset=records[0].offset)
            return IndexReport(
                read=read,
                stored=stored,
                rejected=rejected,
                committed_offset=reader.committed,
                unavailable=str(exc),
            )
        offsets = {id(event): offset for event, offset in zip(events, decoded_at, strict=True)}
        for refused in result.rejected:
            offset = offsets.get(id(refused.event))
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
            transport.append(DEADLETTER, dead, now=now)
            log.warning("index_rejected", count=len(dead), first_offset=records[0].offset)
        reader.commit()
        stored += result.inserted
        read += len(records)
        rejected += len(dead)
        batches += 1
    return IndexReport(read=read, stored=stored, rejected=rejected, committed_offset=reader.committed)
