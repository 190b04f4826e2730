"""Applying lifecycle steps to stored alerts, inside the caller's transaction: the new columns
(status, resolution, times, SLA timer), the history row, and the ledger draft the caller records
before it commits. Used by the service (people), the deliverer (通报 on delivery or receipt) and the
SLA step (escalation)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from audit.entry import EntryDraft
from soc_api.alerting import store
from soc_api.alerting.config import AlertingConfig
from soc_api.alerting.errors import AlertNotFound
from soc_api.alerting.lifecycle import Action, next_status
from soc_api.alerting.notices import EscalationInfo
from soc_api.alerting.outbox import enqueue_for_alert
from soc_api.alerting.records import AlertRecord, ts
from soc_api.alerting.routing import Route
from soc_api.alerting.sla import Escalation


def draft(now: datetime, kind: str, actor: str, alert_id: str, payload: dict[str, Any]) -> EntryDraft:
    """A ledger entry about one alert."""
    return EntryDraft.create(
        now=now, kind=kind, actor=actor[:200], subject=f"alert:{alert_id}", payload=payload
    )


def load(conn: sqlite3.Connection, alert_id: str) -> AlertRecord:
    """The alert, or `AlertNotFound`."""
    alert = store.get(conn, alert_id)
    if alert is None:
        raise AlertNotFound(f"没有该告警 / no alert {alert_id!r}")
    return alert


def transition(
    conn: sqlite3.Connection,
    config: AlertingConfig,
    alert: AlertRecord,
    action: Action,
    *,
    actor: str,
    now: datetime,
    detail: dict[str, Any],
    resolution: str | None = None,
) -> tuple[AlertRecord, EntryDraft | None]:
    """Move `alert` by `action`; returns the stored result and the ledger draft of the step (None
    when `notify` found it already past 通报: recorded in its history only)."""
    status = next_status(alert.status, action)
    columns: dict[str, Any] = {"status": status, "updated_at": now}
    if action == "notify":
        if alert.notified_at is None:
            columns["notified_at"] = now
    elif action == "start":
        columns["responded_at"] = alert.responded_at or now
    elif action == "close":
        columns["resolution"] = resolution
        columns["closed_at"] = now
        columns["responded_at"] = alert.responded_at or now
    elif action == "reopen":
        columns["resolution"] = None
        columns["closed_at"] = None
    if status != alert.status:
        stage, due = config.sla.on_status(
            alert.warning_level, status, alert.raised_at, now, reopened=action == "reopen"
        )
        columns["sla_stage"] = stage
        columns["sla_due_at"] = due
    store.update(conn, alert.id, **columns)
    name = {"notify": "notified", "start": "started", "close": "closed", "reopen": "reopened"}[action]
    changed = status != alert.status
    store.add_change(
        conn,
        alert.id,
        at=now,
        actor=actor,
        action=name if changed or action != "notify" else "delivered",
        detail=detail,
    )
    stored = load(conn, alert.id)
    if action == "notify" and not changed:
        return stored, None
    payload = {**detail, "from": alert.status, "to": status}
    return stored, draft(now, f"alert.{name}", actor, alert.id, payload)


def notify(
    conn: sqlite3.Connection,
    config: AlertingConfig,
    alert_id: str,
    *,
    actor: str,
    now: datetime,
    detail: dict[str, Any],
) -> EntryDraft | None:
    """通报 done for `alert_id` (a delivery to a `delivery` channel, or a receipt). The common case
    on the notifier's path, in two statements: new → notified (the respond timer runs on unchanged),
    or, already past 通报, the delivery recorded in the history only."""
    stamp = ts(now)
    moved = conn.execute(
        "UPDATE alerts SET status = 'notified', notified_at = coalesce(notified_at, ?), updated_at = ? "
        "WHERE id = ? AND status = 'new'",
        (stamp, stamp, alert_id),
    ).rowcount
    if moved:
        store.add_change(conn, alert_id, at=now, actor=actor, action="notified", detail=detail)
        return draft(now, "alert.notified", actor, alert_id, {**detail, "from": "new", "to": "notified"})
    known = conn.execute(
        "UPDATE alerts SET notified_at = coalesce(notified_at, ?) WHERE id = ?", (stamp, alert_id)
    ).rowcount
    if known:
        store.add_change(conn, alert_id, at=now, actor=actor, action="delivered", detail=detail)
    return None


def escalate(
    conn: sqlite3.Connection,
    config: AlertingConfig,
    routes: Sequence[Route],
    alert: AlertRecord,
    step: Escalation,
    *,
    now: datetime,
) -> EntryDraft:
    """Apply an SLA escalation: hand on, restart the timer, route an `escalation` notification."""
    store.update(
        conn,
        alert.id,
        assignee=step.assignee,
        sla_step=step.step,
        sla_due_at=step.due,
        sla_breaches=alert.sla_breaches + 1,
        updated_at=now,
    )
    detail = {
        "stage": step.stage,
        "step": step.step,
        "from": step.previous,
        "to": step.assignee,
        "overdue_seconds": int(step.overdue.total_seconds()),
        "warning_level": alert.warning_level,
    }
    store.add_change(conn, alert.id, at=now, actor="system:sla", action="escalated", detail=detail)
    stored = load(conn, alert.id)
    info = EscalationInfo(
        step.stage, step.step, step.assignee, step.previous, int(step.overdue.total_seconds())
    )
    enqueue_for_alert(conn, config, routes, stored, kind="escalation", now=now, escalation=info)
    return draft(now, "alert.escalated", "system:sla", alert.id, detail)
