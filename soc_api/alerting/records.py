"""Frozen records read from the alerting tables, and the stored time format."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from datasoc.event import format_timestamp, parse_timestamp


def ts(when: datetime) -> str:
    """Stored time: UTC with microseconds and `Z` (sorts as time)."""
    return format_timestamp(when)


def opt_ts(when: datetime | None) -> str | None:
    """`ts`, None staying None."""
    return None if when is None else format_timestamp(when)


def parse_ts(text: str | None) -> datetime | None:
    """A stored time back (None stays None)."""
    return None if text is None else parse_timestamp(text)


def need_ts(text: str) -> datetime:
    """A stored time that is never null."""
    return parse_timestamp(text)


def dumps(value: Any) -> str:
    """Compact JSON with sorted keys, UTF-8 kept (orjson: it is on the intake's hot path)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def loads(text: str | bytes) -> Any:
    """A stored JSON column back (orjson: the notifier decodes every payload it sends)."""
    return orjson.loads(text)


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """A handled alert (a roll-up of detection alerts of one rule and group key)."""

    id: str
    rule_id: str
    rule_title: str
    rule_level: str
    tags: tuple[str, ...]
    warning_level: str
    event_class: str
    grade: str | None
    group_key: str
    group: tuple[tuple[str, str], ...]
    facts: dict[str, Any]
    sources: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime
    count: int
    events: int
    status: str
    resolution: str | None
    suppressed_by: str | None
    assignee: str | None
    case_id: str | None
    raised_at: datetime
    updated_at: datetime
    notified_at: datetime | None
    responded_at: datetime | None
    closed_at: datetime | None
    sla_stage: str
    sla_due_at: datetime | None
    sla_step: int
    sla_breaches: int

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AlertRecord:
        """From a row of `alerts`."""
        return cls(
            id=row["id"],
            rule_id=row["rule_id"],
            rule_title=row["rule_title"],
            rule_level=row["rule_level"],
            tags=tuple(loads(row["tags"])),
            warning_level=row["warning_level"],
            event_class=row["event_class"],
            grade=row["grade"],
            group_key=row["group_key"],
            group=tuple((str(f), str(v)) for f, v in loads(row["group_values"])),
            facts=loads(row["facts"]),
            sources=tuple(loads(row["sources"])),
            first_seen=need_ts(row["first_seen"]),
            last_seen=need_ts(row["last_seen"]),
            count=row["count"],
            events=row["events"],
            status=row["status"],
            resolution=row["resolution"],
            suppressed_by=row["suppressed_by"],
            assignee=row["assignee"],
            case_id=row["case_id"],
            raised_at=need_ts(row["raised_at"]),
            updated_at=need_ts(row["updated_at"]),
            notified_at=parse_ts(row["notified_at"]),
            responded_at=parse_ts(row["responded_at"]),
            closed_at=parse_ts(row["closed_at"]),
            sla_stage=row["sla_stage"],
            sla_due_at=parse_ts(row["sla_due_at"]),
            sla_step=row["sla_step"],
            sla_breaches=row["sla_breaches"],
        )


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of an alert's history (`alert_changes`)."""

    seq: int
    alert_id: str
    at: datetime
    actor: str
    action: str
    detail: dict[str, Any]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Change:
        """From a row of `alert_changes`."""
        return cls(
            row["seq"],
            row["alert_id"],
            need_ts(row["at"]),
            row["actor"],
            row["action"],
            loads(row["detail"]),
        )


@dataclass(frozen=True, slots=True)
class Member:
    """A detection alert rolled into a handled alert."""

    detection_id: str
    alert_id: str
    first_seen: datetime
    last_seen: datetime
    events: int
    event_ids: tuple[str, ...]
    received_at: datetime

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Member:
        """From a row of `alert_members`."""
        return cls(
            row["detection_id"],
            row["alert_id"],
            need_ts(row["first_seen"]),
            need_ts(row["last_seen"]),
            row["events"],
            tuple(loads(row["event_ids"])),
            need_ts(row["received_at"]),
        )


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """One row of the outbox."""

    id: int
    key: str
    channel: str
    kind: str
    alert_id: str | None
    payload: dict[str, Any]
    created_at: datetime
    status: str
    batch: str | None
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    delivered_at: datetime | None
    acked_at: datetime | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> NotificationRecord:
        """From a row of `notifications`."""
        return cls(
            id=row["id"],
            key=row["key"],
            channel=row["channel"],
            kind=row["kind"],
            alert_id=row["alert_id"],
            payload=loads(row["payload"]),
            created_at=need_ts(row["created_at"]),
            status=row["status"],
            batch=row["batch"],
            attempts=row["attempts"],
            next_attempt_at=need_ts(row["next_attempt_at"]),
            last_error=row["last_error"],
            delivered_at=parse_ts(row["delivered_at"]),
            acked_at=parse_ts(row["acked_at"]),
        )
