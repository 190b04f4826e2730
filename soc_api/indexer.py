"""The indexer: committed events from the transport into the event store, at least once.

Order per batch: read from the consumer's committed offset, decode, insert (idempotent on
`event.id`), make the store durable (`sync`), then commit the offset. A crash anywhere replays
the batch, and replays are harmless. A payload that does not decode into a valid event goes to
the dead-letter topic with its offset and reason; it is never skipped silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from collectors.sink import dead_letter
from datasoc.errors import EventValidationError
from datasoc.event import Event
from datasoc.logging import get_logger
from datasoc.store import EventStore
from datasoc.transport import DEADLETTER, EVENTS, Transport

log = get_logger("indexer")


@dataclass(frozen=True)
class IndexReport:
    """One indexing pass: records read, events newly stored, rejects dead-lettered."""

    read: int
    stored: int
    rejected: int
    committed_offset: int


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
        dead: list[bytes] = []
        for record in records:
            where = f"{EVENTS}@{record.offset}"
            try:
                events.append(Event.from_dict(json.loads(record.payload), where=where))
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
        if dead:
            transport.append(DEADLETTER, dead, now=now)
            log.warning("index_rejected", count=len(dead), first_offset=records[0].offset)
        stored += store.insert_many(events)
        store.sync()
        reader.commit()
        read += len(records)
        rejected += len(dead)
        batches += 1
    return IndexReport(read=read, stored=stored, rejected=rejected, committed_offset=reader.committed)
