"""In-process trace (事中全留痕): every data access on the events topic becomes a ledger entry.

Exactly once without a separate offset file: each `access` entry records the spool offset of
the event it traces (`spool_offset`), so on start the trail resumes after the last offset the
ledger already holds. The ledger append is durable before anything is acknowledged, and the
ledger is the only record of progress, so a crash can neither skip nor repeat an access.

The mapping from an event to an entry (`access_entry`) is pure. The client address is sealed
with SM4 (GB/T 39786-2021 confidentiality of personal information in audit records): the entry
keeps the proof of it, only holders of the sealing key can read it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from audit.ledger import Ledger
from audit.sealed import sealed_draft
from crypto.recipes import SealingKey
from datasoc.event import Event, format_timestamp
from datasoc.transport import EVENTS, Transport

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
    actor = event.user_name or event.user_id or "unknown"
    subject = event.asset_id or event.action
    payload: dict[str, Any] = {
        "event.id": event.event_id,
        "@timestamp": format_timestamp(event.timestamp),
        "spool_offset": spool_offset,
    }
    wire = event.to_dict()
    for key in _COPIED:
        if key in wire:
            payload[key] = wire[key]
    return actor, subject, payload


@dataclass(frozen=True)
class TrailReport:
    """One pass: events read, accesses ledgered, next spool offset to trace."""

    read: int
    ledgered: int
    next_offset: int


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
            if entry.get("kind") != ACCESS_KIND:
                continue
            payload = entry["payload"]
            recent.add(str(payload.get("event.id")))
            if next_offset is None and isinstance(payload.get("spool_offset"), int):
                next_offset = int(payload["spool_offset"]) + 1
        end = begin
    return TrailState(next_offset=next_offset or 0, recent_ids=recent)


def trace_pending(
    transport: Transport,
    ledger: Ledger,
    sealing_key: SealingKey,
    *,
    now: datetime,
    batch_size: int = 1000,
    rng: Callable[[int], bytes] = os.urandom,
    decode: Callable[[bytes], Mapping[str, Any]] = json.loads,
) -> TrailReport:
    """Ledger every access on the events topic not yet traced; returns when all are durable."""
    state = resume_state(ledger)
    offset = state.next_offset
    read = ledgered = 0
    while True:
        records = transport.read(EVENTS, offset, batch_size)
        if not records:
            break
        drafts = []
        for record in records:
            try:
                event = Event.from_dict(decode(record.payload))
            except ValueError:
                continue  # the indexer dead-letters undecodable payloads; nothing to trace
            if not is_access(event) or event.event_id in state.recent_ids:
                continue
            state.recent_ids.add(event.event_id)
            actor, subject, payload = access_entry(event, record.offset)
            drafts.append(
                sealed_draft(
                    now=now,
                    kind=ACCESS_KIND,
                    actor=actor,
                    subject=subject,
                    payload=payload,
                    sensitive=SENSITIVE_FIELDS,
                    key=sealing_key,
                    rng=rng,
                )
            )
        if drafts:
            ledger.append_many(drafts, now=now)
        read += len(records)
        ledgered += len(drafts)
        offset = records[-1].offset + 1
    return TrailReport(read=read, ledgered=ledgered, next_offset=offset)
