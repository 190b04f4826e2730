"""Idempotent HTTP ingest: a retried request stores its events once.

A sender that did not get its answer (timeout, reset, the platform killed) resends the request;
without help every event whose `event.id` the server assigned would be stored twice. Two ways
make a retry harmless, and both end in one rule: within a window of the most recent `capacity`
event ids appended to `events`, an id already there is not appended again (the answer counts it
in `duplicates`, and in `accepted`: it is stored).

- The sender sets `event.id` (normalized events) or the parser derives a stable one from the
  native record (every parser does: request id, audit record id, else source, line and text).
- `Idempotency-Key: <key>` header: records without `event.id` get ids derived from
  (source, key, ordinal in the request) instead of random ones, so a retry of the same body with
  the same key carries the same ids.

The window survives a restart: `recent_event_ids` reads the ids of the last `capacity` records of
`events` when the collector starts, so a retry after `kill -9` is deduplicated too. A request
whose events are being stored by another request at the same moment gets 409 (retry), never a
200 for events not yet durable. The event store is idempotent on `event.id` as well, so a retry
from beyond the window is still stored once there (it reaches the spool twice).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

import orjson

from collectors.inputs.errors import ConflictError, InputConfigError
from datasoc.transport import EVENTS, Transport

MAX_KEY_CHARS: Final = 200


def check_key(key: str) -> str:
    """A usable `Idempotency-Key` (printable, at most 200 characters), else `ValueError`."""
    if not key or len(key) > MAX_KEY_CHARS or not key.isprintable():
        raise ValueError(f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} printable characters")
    return key


@dataclass(frozen=True, slots=True)
class Claim:
    """Indexes of a batch's ids that are new (reserved for this request) and how many were not."""

    ids: tuple[str, ...]
    fresh: tuple[int, ...]
    duplicates: int


class RecentIds:
    """The window of recent event ids (module docstring); thread-safe."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise InputConfigError("collect.limits.idempotency_window", "must be at least 1")
        self.capacity = capacity
        self._lock = threading.Lock()
        # id -> durable (True) or being appended by a request (False); insertion order = age.
        self._ids: dict[str, bool] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def seed(self, ids: Iterable[str]) -> None:
        """Mark ids as durable (the spool's recent events, at start)."""
        with self._lock:
            for event_id in ids:
                self._ids[event_id] = True
            self._trim()

    def claim(self, ids: Sequence[str]) -> Claim:
        """Reserve the ids not yet in the window; `ConflictError` if another request holds one."""
        fresh: list[int] = []
        mine: set[str] = set()  # an id repeated inside one request is a duplicate of its first copy
        duplicates = 0
        with self._lock:
            for index, event_id in enumerate(ids):
                state = self._ids.get(event_id)
                if state is None:
                    self._ids[event_id] = False
                    fresh.append(index)
                    mine.add(event_id)
                elif state or event_id in mine:
                    duplicates += 1
                else:
                    for taken in fresh:
                        self._ids.pop(ids[taken], None)
                    raise ConflictError(f"event {event_id[:80]!r} is being stored by another request; retry")
        return Claim(tuple(ids), tuple(fresh), duplicates)

    def commit(self, claim: Claim) -> None:
        """The claimed events are durable: they count as duplicates from now on."""
        with self._lock:
            for index in claim.fresh:
                self._ids[claim.ids[index]] = True
            self._trim()

    def release(self, claim: Claim) -> None:
        """The append failed: forget the reservations so a retry can store the events."""
        with self._lock:
            for index in claim.fresh:
                if self._ids.get(claim.ids[index]) is False:
                    del self._ids[claim.ids[index]]

    def _trim(self) -> None:
        excess = len(self._ids) - self.capacity
        if excess > 0:
            for event_id in list(itertools.islice(self._ids, excess)):
                del self._ids[event_id]


def recent_event_ids(transport: Transport, capacity: int, *, chunk: int = 10_000) -> list[str]:
    """`event.id` of the last `capacity` records of `events` (records without one are skipped)."""
    span = transport.range(EVENTS)
    offset = max(span.start, span.end - capacity)
    ids: list[str] = []
    while offset < span.end:
        payloads = transport.read_payloads(EVENTS, offset, min(chunk, span.end - offset))
        if not payloads:
            break
        for _, payload in payloads:
            try:
                value = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            if isinstance(value, dict) and isinstance(value.get("event.id"), str):
                ids.append(value["event.id"])
        offset = payloads[-1][0] + 1
    return ids
