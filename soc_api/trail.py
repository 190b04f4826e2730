"""In-process trace (事中全留痕): every data access on the events topic becomes a ledger entry.

Exactly once without a separate offset file: each `access` entry records the spool offset of
the event it traces (`spool_offset`), so on start the trail resumes after the last offset the
ledger already holds. The ledger append is durable before anything is acknowledged, and the
ledger is the only record of progress, so a crash can neither skip nor repeat an access.

The mapping from an event to an entry (`access_entry`) is pure. The client address is sealed
with SM4 (GB/T 39786-2021 confidentiality of personal information in audit records): the entry
keeps the proof of it, only holders of the sealing key can read it.

Linked to its grant: the entry copies the event's `approval.id` (the ledger indexes it under
`grant:<id>`, so an export by grant selects every access under it), and with a grant source the trail
records the trace's verdict on the access (`detection.trace`): `trace.verdict` (allowed, open,
violation), `trace.violations`, `trace.used` (the grant's cumulative records after this access) and
`trace.cap`. The cumulative records come from the ledger itself (`soc_api.governance.usage.LedgerUsage`:
the newest access entry of a grant carries them), so the trail keeps no other state; a batch's counts
stand only once its entries are durable.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from audit.ledger import Ledger
from audit.sealed import sealed_draft
from collectors.inputs.quick import surely_wire_form
from crypto.recipes import SealingKey
from datasoc.event import Event
from datasoc.grants import GrantBook
from datasoc.logging import get_logger
from datasoc.transport import EVENTS, OffsetOutOfRangeError, Transport
from detection.trace import trace
from soc_api.governance.usage import LedgerUsage
from soc_api.steps import Gap
from soc_api.stream.grants import GrantSource

log = get_logger("trail")

ACCESS_KIND = "access"
#: Payload fields sealed before they reach the ledger.
SENSITIVE_FIELDS = ("source.ip",)
_COPIED = (
    "event.action",
    "event.outcome",
    "event.dataset",
    "datasoc.lifecycle",
    "datasoc.actor_role",
    "data.asset.name",
    "data.classification",
    "data.region",
    "data.records",
    "data.bytes",
    "approval.id",
    "source.ip",
    "source.geo.city_name",
)


def is_access(event: Event) -> bool:
    """An event that touches data: it has a lifecycle stage (see collectors' lifecycle table)."""
    return event.lifecycle is not None


def access_entry(event: Event, spool_offset: int) -> tuple[str, str, dict[str, Any]]:
    """`(actor, subject, payload)` of the ledger entry that traces `event`."""
    return access_entry_of(event.to_dict(), spool_offset)


def access_entry_of(wire: Mapping[str, Any], spool_offset: int) -> tuple[str, str, dict[str, Any]]:
    """`access_entry` of an event in its wire form (`Event.to_dict`)."""
    actor = wire.get("user.name") or wire.get("user.id") or "unknown"
    subject = wire.get("data.asset.id") or wire["event.action"]
    payload: dict[str, Any] = {
        "event.id": wire["event.id"],
        "@timestamp": wire["@timestamp"],
        "spool_offset": spool_offset,
    }
    for key in _COPIED:
        if key in wire:
            payload[key] = wire[key]
    return str(actor), str(subject), payload


def wire_form(payload: bytes) -> dict[str, Any]:
    """A spool record as an event's wire form, decoded once: as it is when the collectors wrote
    it (`surely_wire_form`), else through the model (raises ValueError when it is not an event)."""
    data = orjson.loads(payload)
    if surely_wire_form(data):
        return dict(data)
    return Event.from_dict(data).to_dict()


@dataclass(frozen=True)
class TrailReport:
    """One run: events read, accesses ledgered, next spool offset to trace, events still waiting."""

    read: int
    ledgered: int
    next_offset: int
    lag: int = 0

    @property
    def more(self) -> bool:
        """Whether events were left for the next run."""
        return self.lag > 0


@dataclass
class TrailState:
    """Where the trail resumes, and the event ids it traced recently (replays are not accesses)."""

    next_offset: int
    recent_ids: set[str]


def resume_state(ledger: Ledger, *, scan_limit: int = 100_000) -> TrailState:
    """Scan the newest `scan_limit` ledger entries: next offset and recently traced event ids.

    A collector that re-reads a file after a crash appends the same events (same `event.id`)
    again; they are the same accesses and are not traced twice while they fall in the window.
    """
    store = ledger.store
    end = store.size
    start = max(0, end - scan_limit)
    next_offset: int | None = None
    recent: set[str] = set()
    step = 1024
    while end > start:
        begin = max(start, end - step)
        for raw in reversed(store.read_raw_range(begin, end)):
            entry = json.loads(raw)
            payload = entry["payload"]
            if entry.get("kind") == "system.gap" and entry.get("actor") == "system:trail":
                # The trail skipped a retention gap here: it resumes after it (not twice).
                if next_offset is None and isinstance(payload.get("to_offset"), int):
                    next_offset = int(payload["to_offset"])
                continue
            if entry.get("kind") != ACCESS_KIND:
                continue
            recent.add(str(payload.get("event.id")))
            if next_offset is None and isinstance(payload.get("spool_offset"), int):
                next_offset = int(payload["spool_offset"]) + 1
        end = begin
    return TrailState(next_offset=next_offset or 0, recent_ids=recent)


class Trail:
    """The trail as a consumer kept between runs: it scans the ledger once (`resume_state`), then
    keeps its cursor and the recently traced ids in memory instead of rescanning every run.

    A retention gap (the events at its cursor were removed before it traced them) is skipped,
    counted and reported through `on_gap` (ledgered as `system.gap`): never a permanent stop.
    """

    def __init__(
        self,
        transport: Transport,
        ledger: Ledger,
        sealing_key: SealingKey,
        *,
        batch_size: int = 1000,
        rng: Callable[[int], bytes] = os.urandom,
        on_gap: Callable[[Gap, datetime], None] | None = None,
        recent_limit: int = 100_000,
        grants: GrantSource | None = None,
    ) -> None:
        self.transport = transport
        self.grants = grants
        self._usage = LedgerUsage(ledger)
        self.ledger = ledger
        self.sealing_key = sealing_key
        self.batch_size = batch_size
        self._rng = rng
        self._on_gap = on_gap
        self._recent_limit = recent_limit
        self._state: TrailState | None = None
        self._recent_order: deque[str] = deque()

    def _resume(self) -> TrailState:
        if self._state is None:
            self._state = resume_state(self.ledger, scan_limit=self._recent_limit)
            self._recent_order.extend(self._state.recent_ids)
        return self._state

    def _remember(self, state: TrailState, event_id: str) -> None:
        state.recent_ids.add(event_id)
        self._recent_order.append(event_id)
        while len(self._recent_order) > self._recent_limit:
            state.recent_ids.discard(self._recent_order.popleft())

    def _read(self, state: TrailState, now: datetime) -> list[tuple[int, bytes]]:
        try:
            return self.transport.read_payloads(EVENTS, state.next_offset, self.batch_size)
        except OffsetOutOfRangeError:
            start = self.transport.range(EVENTS).start
            gap = Gap("trail", EVENTS, max(start - state.next_offset, 0), state.next_offset, start)
            if self._on_gap is not None:
                self._on_gap(gap, now)  # first: should ledgering fail, the gap is found again
            state.next_offset = start
            return self.transport.read_payloads(EVENTS, state.next_offset, self.batch_size)

    def _verdict(self, wire: Mapping[str, Any], book: GrantBook) -> dict[str, Any]:
        """The `trace.*` keys of one access (none when the trace does not judge it)."""
        try:
            result = trace(wire, book, self._usage)
        except (ValueError, TypeError, OverflowError) as exc:  # logged; the access is still ledgered
            log.warning("access_not_traced", event_id=wire.get("event.id"), error=str(exc)[:200])
            return {}
        return result.payload() if result is not None else {}

    def run(self, *, now: datetime, max_batches: int | None = None) -> TrailReport:
        """Ledger the accesses of up to `max_batches` batches (all pending when None)."""
        state = self._resume()
        book = self.grants.book() if self.grants is not None else None
        read = ledgered = batches = 0
        while max_batches is None or batches < max_batches:
            records = self._read(state, now)
            if not records:
                break
            drafts = []
            batch_ids: set[str] = set()
            for offset, raw in records:
                try:
                    wire = wire_form(raw)
                except ValueError:
                    continue  # the indexer dead-letters undecodable payloads; nothing to trace
                event_id = wire["event.id"]
                if "datasoc.lifecycle" not in wire or event_id in state.recent_ids or event_id in batch_ids:
                    continue  # not an access, or already traced
                batch_ids.add(event_id)
                actor, subject, payload = access_entry_of(wire, offset)
                if book is not None:
                    payload.update(self._verdict(wire, book))
                drafts.append(
                    sealed_draft(
                        now=now,
                        kind=ACCESS_KIND,
                        actor=actor,
                        subject=subject,
                        payload=payload,
                        sensitive=SENSITIVE_FIELDS,
                        key=self.sealing_key,
                        rng=self._rng,
                    )
                )
            if drafts:
                try:
                    self.ledger.append_many(drafts, now=now)
                except BaseException:
                    self._usage.rollback()  # the batch is traced again, its records counted once
                    raise
            self._usage.commit()
            # Only once durable: a failed append is retried with the same events, none skipped.
            for event_id in batch_ids:
                self._remember(state, event_id)
            read += len(records)
            ledgered += len(drafts)
            batches += 1
            state.next_offset = records[-1][0] + 1
        lag = max(self.transport.range(EVENTS).end - state.next_offset, 0)
        return TrailReport(read=read, ledgered=ledgered, next_offset=state.next_offset, lag=lag)


def trace_pending(
    transport: Transport,
    ledger: Ledger,
    sealing_key: SealingKey,
    *,
    now: datetime,
    batch_size: int = 1000,
    rng: Callable[[int], bytes] = os.urandom,
) -> TrailReport:
    """Ledger every access on the events topic not yet traced; returns when all are durable
    (one-shot use: it scans the ledger to resume, as a fresh `Trail` does)."""
    return Trail(transport, ledger, sealing_key, batch_size=batch_size, rng=rng).run(now=now)
