"""Durable delivery of an `IngestBatch`: append to the spool, then count it.

`deliver` blocks until the spool append holding the batch returned (fsync'd), so it runs in a
worker thread (`asyncio.to_thread`); concurrent requests and connections then share the spool's
group commits. Health counters are updated only after the records are durable.

When the spool cannot take writes (disk full, a failed fsync) `deliver` raises the transport's
error; the inputs answer 503 with Retry-After (HTTP) or hold their frames and retry (syslog).
The failure is logged once when it starts and once when writes succeed again, not per request
(a full disk used to log a traceback for every request).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from collectors.health import HealthTracker
from collectors.inputs.records import IngestBatch
from datasoc.logging import get_logger
from datasoc.transport import DEADLETTER, EVENTS, Transport, TransportError

log = get_logger("collectors.delivery")


class HealthRecorder(Protocol):
    """Receives per-source counts (`collectors.health.HealthTracker` is one)."""

    def record(self, source: str, *, now: datetime, accepted: int, rejected: int, bytes_: int) -> None: ...


@dataclass
class DeliveryStats:
    """Durably accepted and rejected records and bytes per source, since start."""

    accepted: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    bytes: Counter[str] = field(default_factory=Counter)


class SharedHealth:
    """A health recorder shared by threads: one lock, and times that never go backwards.

    Requests finish out of order, so the `now` a worker thread brings can be older than one
    already recorded; the tracker refuses time going backwards, so the later of the two is used.
    """

    def __init__(self, tracker: HealthTracker) -> None:
        self.tracker = tracker
        self.lock = threading.Lock()
        self._latest: datetime | None = None

    def at(self, now: datetime) -> datetime:
        """`now`, or the latest time already given to the tracker if that is later (call under `lock`)."""
        if self._latest is None or now > self._latest:
            self._latest = now
        return self._latest

    def record(self, source: str, *, now: datetime, accepted: int, rejected: int, bytes_: int) -> None:
        """Forward to the tracker under the lock with a monotonic time."""
        with self.lock:
            self.tracker.record(source, now=self.at(now), accepted=accepted, rejected=rejected, bytes_=bytes_)


class Delivery:
    """Appends batches to the transport and reports what became durable."""

    def __init__(self, transport: Transport, *, health: SharedHealth | None = None) -> None:
        self._transport = transport
        self._health = health
        self._lock = threading.Lock()
        self.stats = DeliveryStats()
        #: The reason the spool refused the last write, while it keeps refusing; None when writable.
        self.failing: str | None = None
        self.failures = 0

    def deliver(self, batch: IngestBatch, *, source: str, now: datetime, bytes_: int) -> None:
        """Append the batch's dead letters and events; returns once both are durable."""
        # Dead letters first: if the process dies between the two appends the request was not
        # acknowledged, and a retry resends everything; the reject record is merely duplicated.
        try:
            if batch.dead:
                self._transport.append(DEADLETTER, batch.dead, now=now)
            if batch.events:
                self._transport.append(EVENTS, batch.events, now=now)
        except TransportError as exc:
            with self._lock:
                self.failures += 1
                started, self.failing = self.failing is None, str(exc)[:300]
            if started:
                log.error("spool_unwritable", error=self.failing, error_type=type(exc).__name__)
            raise
        with self._lock:
            recovered, self.failing = self.failing is not None, None
            self.stats.accepted[source] += batch.accepted
            self.stats.rejected[source] += batch.rejected
            self.stats.bytes[source] += bytes_
        if recovered:
            log.warning("spool_writable_again", failures=self.failures)
        if self._health is not None:
            self._health.record(
                source, now=now, accepted=batch.accepted, rejected=batch.rejected, bytes_=bytes_
            )
