"""The transactional outbox of notifications (SQL and pure decisions; the sending is `delivery`).

- `enqueue_*` write rows inside the caller's transaction (the alert change that causes them). A row's
  `key` is derived from what it announces (alert, channel, kind, a marker such as the level or the
  escalation step), so writing the same notification twice is one row (`INSERT OR IGNORE`).
- `form_batches` fixes what the next sends are, durably, before anything is sent: a row joins a
  `batch` (its own key, or a digest of several for robots in a burst or webhooks with `max_batch`).
  A send retried after a crash is the same batch with the same idempotency key, so the receiver can
  recognise it.
- `record_success`, `record_failure` (exponential back-off with jitter, dead letter after the last
  attempt), `resend` (a dead letter back to pending, same key).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from soc_api.alerting.config import AlertingConfig
from soc_api.alerting.notices import AlertSummary, BulletinInfo, EscalationInfo, Notice
from soc_api.alerting.records import AlertRecord, NotificationRecord, dumps, ts
from soc_api.alerting.routing import Kind as RouteKind
from soc_api.alerting.routing import Route, RouteQuery, channels_for

MAX_ERROR = 500


def notification_key(owner_id: str, *parts: str) -> str:
    """`ntf-` + 32 hex, stable across processes and replays: SHA-256 over the owner's id (an alert's or
    a bulletin's) and the parts. For an alert the first 11 digits are its id's own (its first-seen
    millisecond, `intake.store_alert_id`), so the outbox's unique key index takes the keys of new
    alerts at its right edge instead of at a random page each."""
    digest = hashlib.sha256("\0".join((owner_id, *parts)).encode("utf-8")).hexdigest()
    if owner_id.startswith("alr-") and len(owner_id) == 28:
        return "ntf-" + owner_id[4:15] + digest[:21]
    return "ntf-" + digest[:32]


def summary(alert: AlertRecord, config: AlertingConfig) -> AlertSummary:
    """The alert as notifications tell it."""
    return AlertSummary(
        id=alert.id,
        rule_id=alert.rule_id,
        rule_title=alert.rule_title,
        level=alert.warning_level,
        grade=alert.grade,
        event_class=alert.event_class,
        count=alert.count,
        events=alert.events,
        first_seen=ts(alert.first_seen),
        last_seen=ts(alert.last_seen),
        group=alert.group,
        sources=alert.sources,
        status=alert.status,
        assignee=alert.assignee,
        url=config.url_of(alert.id),
    )


def enqueue(conn: sqlite3.Connection, notice: Notice, *, alert_id: str | None, now: datetime) -> bool:
    """Write one outbox row (pending, due now); False when that notification already exists."""
    cursor = conn.execute(
        "INSERT OR IGNORE INTO notifications (key, channel, kind, alert_id, payload, created_at, status, "
        "next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?)",
        (notice.key, notice.channel, notice.kind, alert_id, dumps(notice.to_dict()), ts(now), ts(now)),
    )
    return cursor.rowcount == 1


def enqueue_for_alert(
    conn: sqlite3.Connection,
    config: AlertingConfig,
    routes: Sequence[Route],
    alert: AlertRecord,
    *,
    kind: str,
    now: datetime,
    escalation: EscalationInfo | None = None,
) -> int:
    """Route `alert` (kind `alert`, `level_raised` or `escalation`) and write its notifications."""
    route_kind: RouteKind = "escalation" if kind == "escalation" else "alert"
    query = RouteQuery(route_kind, alert.warning_level, alert.grade, alert.tags, alert.sources)
    marker = (
        alert.warning_level
        if escalation is None
        else f"{escalation.stage}:{escalation.step}:{alert.sla_breaches}"
    )
    written = 0
    for channel in channels_for(routes, query, now, config.zone):
        if channel not in config.channels:
            continue  # a stored route naming a channel removed from settings: skipped, listed by the API
        key = notification_key(alert.id, channel, kind, marker)
        notice = Notice(key, kind, channel, ts(now), alert=summary(alert, config), escalation=escalation)
        written += enqueue(conn, notice, alert_id=alert.id, now=now)
    return written


def enqueue_bulletin(
    conn: sqlite3.Connection,
    config: AlertingConfig,
    routes: Sequence[Route],
    bulletin: BulletinInfo,
    *,
    now: datetime,
) -> int:
    """Route a bulletin to the channels of `bulletin` routes."""
    written = 0
    for channel in channels_for(routes, RouteQuery("bulletin"), now, config.zone):
        if channel in config.channels:
            notice = Notice(
                notification_key(bulletin.id, channel, "bulletin"),
                "bulletin",
                channel,
                ts(now),
                bulletin=bulletin,
            )
            written += enqueue(conn, notice, alert_id=None, now=now)
    return written


@dataclass(frozen=True, slots=True)
class Batch:
    """One send: its idempotency key, channel and the notifications it carries (in order)."""

    key: str
    channel: str
    rows: tuple[NotificationRecord, ...]

    @property
    def attempts(self) -> int:
        """Attempts made so far (the same for every row of the batch)."""
        return max(r.attempts for r in self.rows)


@dataclass(frozen=True, slots=True)
class ChannelPlan:
    """How a channel takes notifications: at most `max_batch` per send; `digest`: a burst of more
    than one becomes one send; `slots`: sends it may start now (rate limit, free workers)."""

    max_batch: int = 1
    digest: bool = False
    slots: int = 1


def batch_key(keys: Sequence[str]) -> str:
    """A batch's key: the row's own for one row, else `bat-` + 32 hex over the sorted keys."""
    if len(keys) == 1:
        return keys[0]
    return "bat-" + hashlib.sha256("\0".join(sorted(keys)).encode()).hexdigest()[:32]


def form_batches(
    conn: sqlite3.Connection,
    plans: Mapping[str, ChannelPlan],
    *,
    now: datetime,
    busy: set[str],
    limit: int = 2000,
) -> list[Batch]:
    """Due batches to send now (inside a write transaction): first those already formed (retries,
    sends interrupted by a crash), then fresh rows grouped per channel's plan; `busy` holds the
    batches in flight (never handed out twice)."""
    # Chosen on the light columns first: with a backlog, most due rows wait for a later round, and
    # decoding every one of their payloads each round took a fifth of the notifier's time.
    rows = conn.execute(
        "SELECT id, key, channel, batch FROM notifications WHERE status = 'pending' "
        "AND next_attempt_at <= ? ORDER BY id LIMIT ?",
        (ts(now), limit),
    ).fetchall()
    formed: dict[str, list[sqlite3.Row]] = {}
    fresh: dict[str, list[sqlite3.Row]] = {}
    for row in rows:
        if row["batch"] is not None:
            if row["batch"] not in busy:
                formed.setdefault(row["batch"], []).append(row)
        elif row["channel"] in plans:
            fresh.setdefault(row["channel"], []).append(row)
    slots = {name: plan.slots for name, plan in plans.items()}
    chosen: list[tuple[str, str, list[int]]] = []
    for key, members in formed.items():
        channel = members[0]["channel"]
        if slots.get(channel, 0) > 0:
            chosen.append((key, channel, [r["id"] for r in members]))
            slots[channel] -= 1
    for channel, members in fresh.items():
        plan = plans[channel]
        size = len(members) if plan.digest and len(members) > 1 else plan.max_batch
        size = max(1, min(size, 50 if plan.digest else plan.max_batch))
        while members and slots[channel] > 0:
            chunk, members = members[:size], members[size:]
            key = batch_key([r["key"] for r in chunk])
            ids = [r["id"] for r in chunk]
            conn.executemany("UPDATE notifications SET batch = ? WHERE id = ?", [(key, i) for i in ids])
            chosen.append((key, channel, ids))
            slots[channel] -= 1
    if not chosen:
        return []
    wanted = [i for _key, _channel, ids in chosen for i in ids]
    full = {
        r["id"]: NotificationRecord.from_row(r)
        for r in conn.execute(
            "SELECT * FROM notifications WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(wanted),)
        )
    }
    return [Batch(key, channel, tuple(full[i] for i in ids)) for key, channel, ids in chosen]


def record_success(conn: sqlite3.Connection, batch: Batch, *, now: datetime) -> None:
    """The batch reached its receiver."""
    conn.executemany(
        "UPDATE notifications SET status = 'delivered', attempts = attempts + 1, delivered_at = ?, "
        "last_error = NULL WHERE id = ? AND status = 'pending'",
        [(ts(now), r.id) for r in batch.rows],
    )


def record_failure(
    conn: sqlite3.Connection, batch: Batch, error: str, *, now: datetime, retry_at: datetime | None
) -> None:
    """A failed attempt: retried at `retry_at`, or dead-lettered (None). The batch is kept, so the
    retry is the same send with the same key."""
    status = "pending" if retry_at is not None else "dead"
    conn.executemany(
        "UPDATE notifications SET attempts = attempts + 1, last_error = ?, status = ?, next_attempt_at = ? "
        "WHERE id = ? AND status = 'pending'",
        [(error[:MAX_ERROR], status, ts(retry_at or now), r.id) for r in batch.rows],
    )


def resend(conn: sqlite3.Connection, notification_id: int, *, now: datetime) -> NotificationRecord | None:
    """A dead letter back to pending (same key: a receiver that had it recognises it); None when
    there is no such dead letter."""
    row = conn.execute(
        "SELECT * FROM notifications WHERE id = ? AND status = 'dead'", (notification_id,)
    ).fetchone()
    if row is None:
        return None
    # Its batch is dissolved: it goes out on its own, still under its own key.
    conn.execute(
        "UPDATE notifications SET status = 'pending', attempts = 0, next_attempt_at = ?, batch = NULL, "
        "last_error = NULL WHERE id = ?",
        (ts(now), notification_id),
    )
    return NotificationRecord.from_row(row)


def list_notifications(
    conn: sqlite3.Connection,
    *,
    status: str | None = None,
    alert_id: str | None = None,
    channel: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[NotificationRecord]:
    """Outbox rows, newest first."""
    where: list[str] = []
    args: list[Any] = []
    for column, value in (("status", status), ("alert_id", alert_id), ("channel", channel)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if before_id is not None:
        where.append("id < ?")
        args.append(before_id)
    sql = (
        "SELECT * FROM notifications"  # noqa: S608 - fixed clauses; values bound
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY id DESC LIMIT ?"
    )
    return [NotificationRecord.from_row(r) for r in conn.execute(sql, (*args, limit))]


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Outbox rows per status."""
    return {r[0]: r[1] for r in conn.execute("SELECT status, count(*) FROM notifications GROUP BY status")}


def oldest_pending(conn: sqlite3.Connection) -> datetime | None:
    """Creation time of the oldest pending notification (the delivery step's lag)."""
    from soc_api.alerting.records import parse_ts

    row = conn.execute("SELECT min(created_at) FROM notifications WHERE status = 'pending'").fetchone()
    return parse_ts(row[0]) if row and row[0] else None


def payload_of(rows: Sequence[NotificationRecord]) -> list[dict[str, Any]]:
    """The payloads of rows (for listing)."""
    return [r.payload for r in rows]
