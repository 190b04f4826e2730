"""Where parsed records go: events to the `events` topic, rejects to `deadletter`, both durable.

`TransportSink` batches what collectors hand it and appends each batch with one group-committed
fsync; a record counts as accepted only once the append holding it has returned. A rejected
record is never dropped: its reason, source, position and raw bytes go to the dead-letter topic
and it is counted per source.

Dead-letter record (JSON, one per rejected input record):
`{"stage": "parse"|"validate"|"index", "source": str, "position": int|null, "reason": str,
  "received_at": RFC 3339, "raw_b64": base64 of the raw bytes, "raw_text": str|null}`
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from datasoc.event import Event
from datasoc.transport import DEADLETTER, EVENTS, Transport
from datasoc.transport.deadletter import MAX_RAW_KEPT, dead_letter

__all__ = ["MAX_RAW_KEPT", "SinkStats", "TransportSink", "dead_letter", "encode_event"]


def encode_event(event: Event) -> bytes:
    """Spool payload of an event: compact JSON of its wire form (decoded by `Event.from_dict`)."""
    return json.dumps(event.to_dict(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass
class SinkStats:
    """What a sink has durably accepted and rejected, per source."""

    accepted: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    batches: int = 0


class TransportSink:
    """Batching writer of events and dead letters onto a transport."""

    def __init__(self, transport: Transport, *, batch_size: int = 500) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._transport = transport
        self._batch_size = batch_size
        self._events: list[tuple[str, bytes]] = []
        self._dead: list[tuple[str, bytes]] = []
        self.stats = SinkStats()

    def add_event(self, event: Event, *, source: str, now: datetime) -> None:
        """Queue an event; flushes when the batch is full."""
        self._events.append((source, encode_event(event)))
        if len(self._events) >= self._batch_size:
            self.flush(now=now)

    def add_rejected(
        self, *, stage: str, source: str, position: int | None, reason: str, raw: bytes, now: datetime
    ) -> None:
        """Queue a rejected record for the dead-letter topic."""
        payload = dead_letter(
            stage=stage, source=source, position=position, reason=reason, raw=raw, received_at=now
        )
        self._dead.append((source, payload))
        if len(self._dead) >= self._batch_size:
            self.flush(now=now)

    def flush(self, *, now: datetime) -> None:
        """Append what is queued; returns only when it is durable (then it counts as accepted)."""
        for topic, queue, counter in (
            (EVENTS, self._events, self.stats.accepted),
            (DEADLETTER, self._dead, self.stats.rejected),
        ):
            if not queue:
                continue
            self._transport.append(topic, [payload for _, payload in queue], now=now)
            counter.update(source for source, _ in queue)
            self.stats.batches += 1
            queue.clear()

    def pending(self) -> Sequence[tuple[str, bytes]]:
        """Queued, not yet durable records (events then dead letters)."""
        return [*self._events, *self._dead]
