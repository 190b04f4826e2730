"""SQL of the alert store over the state store: rows in, records out. No policy here: callers
(intake, the service) decide, inside the transactions they open, what to write."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from soc_api.alerting.facts import AlertFacts
from soc_api.alerting.records import AlertRecord, Change, Member, dumps, loads, need_ts, parse_ts, ts
from soc_api.alerting.routing import Route
from soc_api.alerting.suppression import Condition, Suppression

_LIMIT_MAX = 500


def find_open(conn: sqlite3.Connection, group_key: str, *, suppressed: bool) -> AlertRecord | None:
    """The latest open alert of `group_key` (suppressed alerts roll up apart from the others)."""
    which = "suppressed_by IS NOT NULL" if suppressed else "suppressed_by IS NULL"
    row = conn.execute(
        "SELECT * FROM alerts WHERE group_key = ? AND status != 'closed' AND "  # noqa: S608 - a constant
        + which
        + " ORDER BY last_seen DESC LIMIT 1",
        (group_key,),
    ).fetchone()
    return None if row is None else AlertRecord.from_row(row)


def known_members(conn: sqlite3.Connection, detection_ids: Sequence[str]) -> set[str]:
    """Which of `detection_ids` are already taken in."""
    found: set[str] = set()
    for start in range(0, len(detection_ids), 500):
        chunk = detection_ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"SELECT detection_id FROM alert_members WHERE detection_id IN ({marks})", chunk)  # noqa: S608 - placeholders only
        found.update(r[0] for r in rows)
    return found


def insert_alert(
    conn: sqlite3.Connection,
    *,
    alert_id: str,
    facts: AlertFacts,
    suppressed_by: str | None,
    assignee: str | None,
    now: datetime,
    sla_due: datetime,
) -> AlertRecord:
    """A new alert from its first detection alert; returns it as stored."""
    conn.execute(
        "INSERT INTO alerts (id, rule_id, rule_title, rule_level, tags, warning_level, event_class, grade, "
        "group_key, group_values, facts, sources, first_seen, last_seen, count, events, status, "
        "suppressed_by, assignee, raised_at, updated_at, sla_stage, sla_due_at, sla_step) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, 'new', ?, ?, ?, ?, 'respond', ?, 0)",
        (
            alert_id,
            facts.rule_id,
            facts.rule_title,
            facts.rule_level,
            dumps(list(facts.tags)),
            facts.warning_level,
            facts.event_class,
            facts.grade,
            facts.group_key,
            dumps([list(p) for p in facts.group]),
            dumps(dict(facts.common)),
            dumps(list(facts.sources)),
            ts(facts.first_seen),
            ts(facts.last_seen),
            facts.events,
            suppressed_by,
            assignee,
            ts(now),
            ts(now),
            ts(sla_due),
        ),
    )
    return AlertRecord(
        id=alert_id,
        rule_id=facts.rule_id,
        rule_title=facts.rule_title,
        rule_level=facts.rule_level,
        tags=facts.tags,
        warning_level=facts.warning_level,
        event_class=facts.event_class,
        grade=facts.grade,
        group_key=facts.group_key,
        group=facts.group,
        facts=dict(facts.common),
        sources=facts.sources,
        first_seen=facts.first_seen,
        last_seen=facts.last_seen,
        count=1,
        events=facts.events,
        status="new",
        resolution=None,
        suppressed_by=suppressed_by,
        assignee=assignee,
        case_id=None,
        raised_at=now,
        updated_at=now,
        notified_at=None,
        responded_at=None,
        closed_at=None,
        sla_stage="respond",
        sla_due_at=sla_due,
        sla_step=0,
        sla_breaches=0,
    )


def roll_up(
    conn: sqlite3.Connection,
    alert: AlertRecord,
    facts: AlertFacts,
    *,
    level: str,
    grade: str | None,
    now: datetime,
) -> None:
    """Add one detection alert to `alert`: count, events, first and last seen, level and grade."""
    sources = sorted(set(alert.sources) | set(facts.sources))
    conn.execute(
        "UPDATE alerts SET count = count + 1, events = events + ?, first_seen = min(first_seen, ?), "
        "last_seen = max(last_seen, ?), warning_level = ?, grade = ?, sources = ?, updated_at = ? "
        "WHERE id = ?",
        (
            facts.events,
            ts(facts.first_seen),
            ts(facts.last_seen),
            level,
            grade,
            dumps(sources),
            ts(now),
            alert.id,
        ),
    )


def member_row(facts: AlertFacts, alert_id: str, event_ids: Sequence[str], now: datetime) -> tuple[Any, ...]:
    """The `alert_members` row recording a detection alert as taken into `alert_id`."""
    return (
        facts.alert_id,
        alert_id,
        ts(facts.first_seen),
        ts(facts.last_seen),
        facts.events,
        dumps(list(event_ids[:50])),
        ts(now),
    )


def insert_members(conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Record detection alerts as taken in (rows of `member_row`), in one statement."""
    conn.executemany("INSERT INTO alert_members VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def add_observables(conn: sqlite3.Connection, rows: Iterable[tuple[str, str, str]]) -> None:
    """Link alerts to their users, IPs, datasets and hosts (`(kind, value, alert_id)`, for sightings)."""
    conn.executemany("INSERT OR IGNORE INTO alert_observables (kind, value, alert_id) VALUES (?, ?, ?)", rows)


def add_change(
    conn: sqlite3.Connection, alert_id: str, *, at: datetime, actor: str, action: str, detail: dict[str, Any]
) -> int:
    """Append to the alert's history; returns its sequence number (the SSE event id)."""
    cursor = conn.execute(
        "INSERT INTO alert_changes (alert_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
        (alert_id, ts(at), actor, action, dumps(detail)),
    )
    return int(cursor.lastrowid or 0)


def get(conn: sqlite3.Connection, alert_id: str) -> AlertRecord | None:
    """One alert."""
    row = conn.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)).fetchone()
    return None if row is None else AlertRecord.from_row(row)


def get_many(conn: sqlite3.Connection, alert_ids: Sequence[str]) -> dict[str, AlertRecord]:
    """The alerts of `alert_ids` that exist, by id (at most `_LIMIT_MAX` asked at once)."""
    wanted = list(dict.fromkeys(alert_ids))[:_LIMIT_MAX]
    if not wanted:
        return {}
    rows = conn.execute(
        f"SELECT * FROM alerts WHERE id IN ({','.join('?' * len(wanted))})",  # noqa: S608 - placeholders only
        wanted,
    ).fetchall()
    return {r["id"]: AlertRecord.from_row(r) for r in rows}


@dataclass(frozen=True, slots=True)
class AlertStamp:
    """What the dashboard counts of an alert: its level, rule and when it was last seen."""

    warning_level: str
    rule_id: str
    rule_title: str
    last_seen: datetime


def stamps(
    conn: sqlite3.Connection, start: datetime, end: datetime, *, limit: int = 100_000
) -> list[AlertStamp]:
    """Alerts of the queue (not suppressed) last seen in `[start, end)`, at most `limit`, newest first."""
    rows = conn.execute(
        "SELECT warning_level, rule_id, rule_title, last_seen FROM alerts"
        " WHERE suppressed_by IS NULL AND last_seen >= ? AND last_seen < ? ORDER BY last_seen DESC LIMIT ?",
        (ts(start), ts(end), limit),
    ).fetchall()
    return [AlertStamp(r[0], r[1], r[2], need_ts(r[3])) for r in rows]


def update(conn: sqlite3.Connection, alert_id: str, **columns: Any) -> None:
    """Set columns of one alert (names are this module's callers' constants, never user input)."""
    names = sorted(columns)
    for name in names:
        if not name.replace("_", "").isalpha():
            raise ValueError(f"bad column {name!r}")
    values = [ts(v) if isinstance(v, datetime) else v for v in (columns[n] for n in names)]
    assignments = ", ".join(f"{n} = ?" for n in names)
    conn.execute(f"UPDATE alerts SET {assignments} WHERE id = ?", (*values, alert_id))  # noqa: S608 - checked names


@dataclass(frozen=True, slots=True)
class AlertQuery:
    """A list of alerts: every given filter holds; newest first (`raised_at`, then id)."""

    status: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    rule_id: str | None = None
    assignee: str | None = None
    case_id: str | None = None
    #: False: not suppressed (the queue); True: only suppressed; None: both.
    suppressed: bool | None = False
    start: datetime | None = None
    end: datetime | None = None
    text: str | None = None
    limit: int = 50
    #: After this (raised_at, id) position (the cursor).
    after: tuple[str, str] | None = None


def list_alerts(conn: sqlite3.Connection, query: AlertQuery) -> list[AlertRecord]:
    """Alerts matching `query` (at most `limit`)."""
    where: list[str] = []
    args: list[Any] = []
    for column, values in (("status", query.status), ("warning_level", query.levels)):
        if values:
            where.append(f"{column} IN ({','.join('?' * len(values))})")
            args.extend(values)
    for column, value in (
        ("rule_id", query.rule_id),
        ("assignee", query.assignee),
        ("case_id", query.case_id),
    ):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if query.suppressed is not None:
        where.append("suppressed_by IS NOT NULL" if query.suppressed else "suppressed_by IS NULL")
    if query.start is not None:
        where.append("raised_at >= ?")
        args.append(ts(query.start))
    if query.end is not None:
        where.append("raised_at < ?")
        args.append(ts(query.end))
    if query.text:
        where.append("(instr(lower(rule_title), lower(?)) > 0 OR instr(lower(group_values), lower(?)) > 0)")
        args.extend([query.text, query.text])
    if query.after is not None:
        where.append("(raised_at < ? OR (raised_at = ? AND id < ?))")
        args.extend([query.after[0], query.after[0], query.after[1]])
    sql = (
        "SELECT * FROM alerts"  # noqa: S608 - fixed clauses; every value is bound
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY raised_at DESC, id DESC LIMIT ?"
    )
    rows = conn.execute(sql, (*args, min(query.limit, _LIMIT_MAX))).fetchall()
    return [AlertRecord.from_row(r) for r in rows]


def members(conn: sqlite3.Connection, alert_id: str, limit: int = 200) -> list[Member]:
    """The detection alerts rolled into `alert_id`, oldest first."""
    rows = conn.execute(
        "SELECT * FROM alert_members WHERE alert_id = ? ORDER BY first_seen, detection_id LIMIT ?",
        (alert_id, limit),
    ).fetchall()
    return [Member.from_row(r) for r in rows]


def changes(conn: sqlite3.Connection, alert_id: str) -> list[Change]:
    """The alert's history, oldest first."""
    rows = conn.execute("SELECT * FROM alert_changes WHERE alert_id = ? ORDER BY seq", (alert_id,)).fetchall()
    return [Change.from_row(r) for r in rows]


def changes_after(conn: sqlite3.Connection, seq: int, limit: int = 200) -> list[Change]:
    """Every alert's changes after `seq` (the SSE stream)."""
    rows = conn.execute(
        "SELECT * FROM alert_changes WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit)
    ).fetchall()
    return [Change.from_row(r) for r in rows]


def last_change(conn: sqlite3.Connection) -> int:
    """The newest change's sequence number (0 when none)."""
    row = conn.execute("SELECT max(seq) FROM alert_changes").fetchone()
    return int(row[0] or 0)


def sightings(conn: sqlite3.Connection, kind: str, value: str, *, limit: int = 50) -> list[AlertRecord]:
    """Alerts whose events involve observable (`kind`, `value`), newest first."""
    rows = conn.execute(
        "SELECT a.* FROM alert_observables o JOIN alerts a ON a.id = o.alert_id "
        "WHERE o.kind = ? AND o.value = ? ORDER BY a.raised_at DESC, a.id DESC LIMIT ?",
        (kind, value, limit),
    ).fetchall()
    return [AlertRecord.from_row(r) for r in rows]


def observables(conn: sqlite3.Connection, alert_ids: Sequence[str]) -> list[tuple[str, str]]:
    """The distinct observables of `alert_ids`."""
    if not alert_ids:
        return []
    marks = ",".join("?" * len(alert_ids))
    rows = conn.execute(
        f"SELECT DISTINCT kind, value FROM alert_observables WHERE alert_id IN ({marks}) "  # noqa: S608
        "ORDER BY kind, value",
        tuple(alert_ids),
    )
    return [(r[0], r[1]) for r in rows]


# -- suppressions and routes ---------------------------------------------------------------------


def _suppression(row: sqlite3.Row) -> Suppression:
    return Suppression(
        id=row["id"],
        rule_id=row["rule_id"],
        conditions=tuple(Condition.from_dict(c) for c in loads(row["conditions"])),
        owner=row["owner"],
        reason=row["reason"],
        expires_at=need_ts(row["expires_at"]),
        created_by=row["created_by"],
        created_at=need_ts(row["created_at"]),
        revoked_at=parse_ts(row["revoked_at"]),
    )


def active_suppressions(conn: sqlite3.Connection, now: datetime) -> list[Suppression]:
    """Suppressions neither revoked nor expired at `now`, oldest first."""
    rows = conn.execute(
        "SELECT * FROM suppressions WHERE revoked_at IS NULL AND expires_at > ? ORDER BY created_at, id",
        (ts(now),),
    ).fetchall()
    return [_suppression(r) for r in rows]


def all_suppressions(conn: sqlite3.Connection) -> list[tuple[Suppression, int]]:
    """Every suppression with its hit count, newest first."""
    rows = conn.execute("SELECT * FROM suppressions ORDER BY created_at DESC, id DESC").fetchall()
    return [(_suppression(r), int(r["hits"])) for r in rows]


def insert_suppression(conn: sqlite3.Connection, s: Suppression) -> None:
    """Store a new suppression."""
    conn.execute(
        "INSERT INTO suppressions (id, rule_id, conditions, owner, reason, expires_at, created_by, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            s.id,
            s.rule_id,
            dumps([c.to_dict() for c in s.conditions]),
            s.owner,
            s.reason,
            ts(s.expires_at),
            s.created_by,
            ts(s.created_at),
        ),
    )


def stored_routes(conn: sqlite3.Connection) -> list[Route]:
    """Routes made through the API, by name."""
    rows = conn.execute("SELECT body FROM routes ORDER BY name").fetchall()
    return [Route.from_dict(loads(r[0])) for r in rows]
