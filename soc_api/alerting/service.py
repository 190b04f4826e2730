"""The alerting service: what people (API, CLI) do with alerts, suppressions, routes and the outbox.

Every action is audited before its effect through the identity work's fail-closed `AuditSink`
(`audited`: entry, then effect; an effect that fails gets a second entry with `outcome: failed`).
Reads of alerts are not ledgered (alerts carry no original logs; the events they cite are read
through the ledgered events API).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from datasoc.state import StateStore
from soc_api.alerting import outbox, store, transitions
from soc_api.alerting.config import AlertingConfig
from soc_api.alerting.delivery import record_receipt
from soc_api.alerting.errors import AlertNotFound, AlreadyExists, InvalidAlertingRequest, TransitionRefused
from soc_api.alerting.lifecycle import check_note, check_resolution
from soc_api.alerting.records import AlertRecord, Change, Member, NotificationRecord, dumps, ts
from soc_api.alerting.routing import Route, check_channels
from soc_api.alerting.suppression import Condition, Suppression
from soc_api.identity.actors import Actor
from soc_api.identity.audit import AuditSink, audit_draft, audited

_ACCOUNT = re.compile(r"[A-Za-z0-9_.@-]{1,128}\Z")


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """A configured channel as the API lists it (never its secret)."""

    name: str
    type: str
    receipt: str
    target: str


@dataclass(frozen=True, slots=True)
class AlertDetail:
    """An alert with its members, history and notifications."""

    alert: AlertRecord
    members: tuple[Member, ...]
    changes: tuple[Change, ...]
    notifications: tuple[NotificationRecord, ...]


@dataclass
class Alerting:
    """The service (see module docstring)."""

    state: StateStore
    audit: AuditSink
    config: AlertingConfig
    channels: Mapping[str, ChannelInfo] = field(default_factory=dict)
    new_id: Callable[[], str] = field(default=lambda: "")
    #: The SM2 push key's public half (PEM), for receivers to verify pushes.
    push_public_key: bytes | None = None

    # -- reads ------------------------------------------------------------------------------------

    def find(self, query: store.AlertQuery) -> list[AlertRecord]:
        """Alerts matching `query`, newest first."""
        with self.state.read() as conn:
            return store.list_alerts(conn, query)

    def get(self, alert_id: str) -> AlertDetail:
        """One alert with its members, history and notifications."""
        with self.state.read() as conn:
            alert = transitions.load(conn, alert_id)
            return AlertDetail(
                alert,
                tuple(store.members(conn, alert_id)),
                tuple(store.changes(conn, alert_id)),
                tuple(outbox.list_notifications(conn, alert_id=alert_id, limit=200)),
            )

    def get_many(self, alert_ids: Sequence[str]) -> dict[str, AlertRecord]:
        """The alerts of `alert_ids` that exist, by id (the SSE stream sends each change's alert)."""
        with self.state.read() as conn:
            return store.get_many(conn, alert_ids)

    def stamps(self, start: datetime, end: datetime) -> list[store.AlertStamp]:
        """Queue alerts last seen in `[start, end)` (the dashboard's counts)."""
        with self.state.read() as conn:
            return store.stamps(conn, start, end)

    def changes_after(self, seq: int, limit: int = 200) -> list[Change]:
        """Changes of every alert after `seq` (the SSE stream)."""
        with self.state.read() as conn:
            return store.changes_after(conn, seq, limit)

    def last_change(self) -> int:
        """The newest change's sequence number."""
        with self.state.read() as conn:
            return store.last_change(conn)

    # -- lifecycle --------------------------------------------------------------------------------

    def _act(
        self,
        actor: Actor,
        alert_id: str,
        action: str,
        now: datetime,
        payload: dict[str, Any],
        effect: Callable[[Any], Any],
    ) -> AlertRecord:
        with self.state.read() as conn:
            transitions.load(conn, alert_id)  # 404 before anything is ledgered
        draft = audit_draft(
            now=now,
            kind=f"alert.{action}",
            actor=actor.label,
            subject=f"alert:{alert_id}",
            outcome="success",
            **payload,
        )

        def apply() -> AlertRecord:
            with self.state.write() as conn:
                effect(conn)
                return transitions.load(conn, alert_id)

        result: AlertRecord = audited(self.audit, draft, apply)
        return result

    def start(self, actor: Actor, alert_id: str, *, now: datetime, note: str | None = None) -> AlertRecord:
        """处置: take the alert in hand (it is assigned to the actor when nobody has it)."""
        text = check_note(note, required=False)

        def effect(conn: Any) -> None:
            alert = transitions.load(conn, alert_id)
            transitions.transition(
                conn, self.config, alert, "start", actor=actor.label, now=now, detail={"note": text}
            )
            if alert.assignee is None and actor.kind == "user":
                store.update(conn, alert_id, assignee=actor.name)

        return self._act(actor, alert_id, "started", now, {"note": text}, effect)

    def assign(self, actor: Actor, alert_id: str, assignee: str | None, *, now: datetime) -> AlertRecord:
        """Hand the alert to `assignee` (an account name), or to nobody."""
        if assignee is not None and not _ACCOUNT.match(assignee):
            raise InvalidAlertingRequest("assignee: an account name expected")

        def effect(conn: Any) -> None:
            alert = transitions.load(conn, alert_id)
            if alert.status == "closed":
                raise TransitionRefused("a closed alert is reopened before it is assigned")
            store.update(conn, alert_id, assignee=assignee, updated_at=now)
            detail = {"from": alert.assignee, "to": assignee}
            store.add_change(conn, alert_id, at=now, actor=actor.label, action="assigned", detail=detail)

        return self._act(actor, alert_id, "assigned", now, {"assignee": assignee}, effect)

    def comment(self, actor: Actor, alert_id: str, text: str, *, now: datetime) -> AlertRecord:
        """A comment in the alert's history."""
        body = check_note(text, required=True)

        def effect(conn: Any) -> None:
            store.add_change(
                conn, alert_id, at=now, actor=actor.label, action="commented", detail={"text": body}
            )
            store.update(conn, alert_id, updated_at=now)

        return self._act(actor, alert_id, "commented", now, {"text": body}, effect)

    def close(self, actor: Actor, alert_id: str, *, resolution: str, note: str, now: datetime) -> AlertRecord:
        """闭环: close with a resolution and a required disposition note."""
        kind = check_resolution(resolution)
        text = check_note(note, required=True)

        def effect(conn: Any) -> None:
            alert = transitions.load(conn, alert_id)
            detail = {"resolution": kind, "note": text}
            transitions.transition(
                conn, self.config, alert, "close", actor=actor.label, now=now, detail=detail, resolution=kind
            )

        return self._act(actor, alert_id, "closed", now, {"resolution": kind, "note": text}, effect)

    def reopen(self, actor: Actor, alert_id: str, *, note: str, now: datetime) -> AlertRecord:
        """Reopen a closed alert (back to 处置); the history is kept."""
        text = check_note(note, required=True)

        def effect(conn: Any) -> None:
            alert = transitions.load(conn, alert_id)
            transitions.transition(
                conn, self.config, alert, "reopen", actor=actor.label, now=now, detail={"note": text}
            )

        return self._act(actor, alert_id, "reopened", now, {"note": text}, effect)

    def receipt(self, actor: Actor, alert_id: str, *, channel: str, now: datetime) -> AlertRecord:
        """A receipt from the upper platform (an acknowledgement carrying the alert id): 通报 done."""
        if channel not in self.channels:
            raise InvalidAlertingRequest(f"channel: one of {sorted(self.channels)}")

        def effect(conn: Any) -> None:
            record_receipt(conn, self.config, alert_id, channel=channel, actor=actor.label, now=now)

        return self._act(actor, alert_id, "receipt", now, {"channel": channel}, effect)

    # -- suppressions -----------------------------------------------------------------------------

    def suppressions(self) -> list[tuple[Suppression, int]]:
        """Every suppression with its hit count, newest first."""
        with self.state.read() as conn:
            return store.all_suppressions(conn)

    def add_suppression(
        self,
        actor: Actor,
        *,
        rule_id: str,
        conditions: Sequence[Condition],
        owner: str,
        reason: str,
        expires_at: datetime,
        now: datetime,
    ) -> Suppression:
        """A new exception or allow-list entry (owner, reason and expiry required)."""
        suppression = Suppression(
            id="sup-" + self.new_id(),
            rule_id=rule_id,
            conditions=tuple(conditions),
            owner=owner.strip()[:128],
            reason=reason.strip()[:1000],
            expires_at=expires_at,
            created_by=actor.label,
            created_at=now,
        )
        draft = audit_draft(
            now=now,
            kind="alert.suppression_created",
            actor=actor.label,
            subject=f"suppression:{suppression.id}",
            outcome="success",
            rule_id=rule_id,
            conditions=[c.to_dict() for c in suppression.conditions],
            owner=suppression.owner,
            reason=suppression.reason,
            expires_at=ts(expires_at),
        )

        def effect() -> Suppression:
            with self.state.write() as conn:
                store.insert_suppression(conn, suppression)
            return suppression

        result: Suppression = audited(self.audit, draft, effect)
        return result

    def revoke_suppression(self, actor: Actor, suppression_id: str, *, now: datetime) -> None:
        """End a suppression now (alerts it covered stay as they are)."""
        with self.state.read() as conn:
            if (
                conn.execute(
                    "SELECT 1 FROM suppressions WHERE id = ? AND revoked_at IS NULL", (suppression_id,)
                ).fetchone()
                is None
            ):
                raise AlertNotFound(f"no active suppression {suppression_id!r}")
        draft = audit_draft(
            now=now,
            kind="alert.suppression_revoked",
            actor=actor.label,
            subject=f"suppression:{suppression_id}",
            outcome="success",
        )

        def effect() -> None:
            with self.state.write() as conn:
                conn.execute(
                    "UPDATE suppressions SET revoked_at = ?, revoked_by = ? "
                    "WHERE id = ? AND revoked_at IS NULL",
                    (ts(now), actor.label, suppression_id),
                )

        audited(self.audit, draft, effect)

    # -- routes -----------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """Configured routes (settings, read-only) then stored ones."""
        with self.state.read() as conn:
            return [*self.config.routes, *store.stored_routes(conn)]

    def put_route(self, actor: Actor, route: Route, *, now: datetime, create_only: bool = False) -> Route:
        """Create or replace a stored route by name (settings routes are read-only); `create_only`:
        refuse with `AlreadyExists` when the name is taken (checked again inside the write)."""
        if any(r.name == route.name for r in self.config.routes):
            raise TransitionRefused(f"route {route.name!r} is configured in settings: change it there")
        check_channels([route], self.channels)
        with self.state.read() as conn:
            row = conn.execute("SELECT id FROM routes WHERE name = ?", (route.name,)).fetchone()
        if create_only and row is not None:
            raise AlreadyExists(f"路由规则 {route.name!r} 已存在 / route {route.name!r} already exists")
        stored = Route.from_dict(
            {**route.to_dict(), "id": row[0] if row else "rte-" + self.new_id(), "origin": "api"}
        )
        draft = audit_draft(
            now=now,
            kind="alert.route_saved",
            actor=actor.label,
            subject=f"route:{stored.name}",
            outcome="success",
            route=stored.to_dict(),
        )

        def effect() -> Route:
            with self.state.write() as conn:
                # Create-only: a route made between the check above and this write is kept, not
                # replaced (the entry says the attempt failed).
                conflict = (
                    "NOTHING"
                    if create_only
                    else ("UPDATE SET body = excluded.body, updated_at = excluded.updated_at")
                )
                written = conn.execute(
                    "INSERT INTO routes (id, name, body, created_by, created_at, updated_at) "  # noqa: S608 - constants
                    f"VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO {conflict}",
                    (stored.id, stored.name, dumps(stored.to_dict()), actor.label, ts(now), ts(now)),
                ).rowcount
                if not written:
                    raise AlreadyExists(
                        f"路由规则 {route.name!r} 已存在 / route {route.name!r} already exists"
                    )
            return stored

        result: Route = audited(self.audit, draft, effect)
        return result

    def delete_route(self, actor: Actor, name: str, *, now: datetime) -> None:
        """Remove a stored route."""
        with self.state.read() as conn:
            if conn.execute("SELECT 1 FROM routes WHERE name = ?", (name,)).fetchone() is None:
                raise AlertNotFound(f"no stored route {name!r}")
        draft = audit_draft(
            now=now, kind="alert.route_deleted", actor=actor.label, subject=f"route:{name}", outcome="success"
        )

        def effect() -> None:
            with self.state.write() as conn:
                conn.execute("DELETE FROM routes WHERE name = ?", (name,))

        audited(self.audit, draft, effect)

    # -- the outbox -------------------------------------------------------------------------------

    def notifications(
        self, *, status: str | None = None, before_id: int | None = None, limit: int = 50
    ) -> list[NotificationRecord]:
        """Outbox rows (dead letters with `status="dead"`), newest first."""
        with self.state.read() as conn:
            return outbox.list_notifications(conn, status=status, before_id=before_id, limit=limit)

    def outbox_counts(self) -> dict[str, int]:
        """Notifications per status."""
        with self.state.read() as conn:
            return outbox.counts(conn)

    def resend(self, actor: Actor, notification_id: int, *, now: datetime) -> NotificationRecord:
        """Send a dead letter again (same idempotency key)."""
        with self.state.read() as conn:
            if (
                conn.execute(
                    "SELECT 1 FROM notifications WHERE id = ? AND status = 'dead'", (notification_id,)
                ).fetchone()
                is None
            ):
                raise AlertNotFound(f"no dead-lettered notification {notification_id}")
        draft = audit_draft(
            now=now,
            kind="alert.notification_resent",
            actor=actor.label,
            subject=f"notification:{notification_id}",
            outcome="success",
        )

        def effect() -> NotificationRecord:
            with self.state.write() as conn:
                row = outbox.resend(conn, notification_id, now=now)
                if row is None:
                    raise TransitionRefused(f"notification {notification_id} is no longer dead-lettered")
                if row.alert_id is not None:
                    detail = {"notification": notification_id, "key": row.key, "channel": row.channel}
                    store.add_change(
                        conn,
                        row.alert_id,
                        at=now,
                        actor=actor.label,
                        action="notification_resent",
                        detail=detail,
                    )
                return row

        result: NotificationRecord = audited(self.audit, draft, effect)
        return result
