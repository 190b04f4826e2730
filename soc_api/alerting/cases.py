"""Cases: alerts grouped into one investigation, with tasks (owner, due date), observables and their
other sightings in the store, a timeline, attachments, merging, and a case report (HTML/PDF).

Every change is audited before its effect (`alert.case_*` entries) and appended to the case's
timeline (append-only). Attachments are kept in the state store (at most `MAX_ATTACHMENT` bytes
each), named by their SM3 digest in the ledger entry.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crypto.recipes import sm3_hex
from datasoc.state import StateStore
from soc_api.alerting import store
from soc_api.alerting.case_records import Attachment, Case, CaseDetail, Sighting, Task, TimelineEntry
from soc_api.alerting.case_report import case_report
from soc_api.alerting.errors import AlertNotFound, InvalidAlertingRequest, TransitionRefused
from soc_api.alerting.levels import WARNING_LEVELS
from soc_api.alerting.records import AlertRecord, dumps, loads, need_ts, parse_ts, ts
from soc_api.identity.actors import Actor
from soc_api.identity.audit import AuditSink, audit_draft, audited
from soc_api.reports import Document

MAX_ATTACHMENT = 5 * 1024 * 1024
_MEDIA = re.compile(r"[a-z]+/[a-z0-9.+-]{1,100}\Z")
_NAME = re.compile(r"[^/\\\x00-\x1f]{1,200}\Z")


def _text(value: str, what: str, limit: int, *, required: bool = True) -> str:
    text = value.strip()
    if required and not text:
        raise InvalidAlertingRequest(f"{what}: required")
    if len(text) > limit:
        raise InvalidAlertingRequest(f"{what}: at most {limit} characters")
    return text


@dataclass
class Cases:
    """The case service (see module docstring)."""

    state: StateStore
    audit: AuditSink
    new_id: Callable[[], str] = field(default=lambda: "")

    # -- reads ------------------------------------------------------------------------------------

    def find(
        self, *, status: str | None = None, before: tuple[str, str] | None = None, limit: int = 50
    ) -> list[Case]:
        """Cases newest first."""
        where, args = [], []
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if before is not None:
            where.append("(created_at < ? OR (created_at = ? AND id < ?))")
            args.extend([before[0], before[0], before[1]])
        sql = (
            "SELECT * FROM cases"  # noqa: S608 - fixed clauses; values bound
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY created_at DESC, id DESC LIMIT ?"
        )
        with self.state.read() as conn:
            return [Case.from_row(r) for r in conn.execute(sql, (*args, limit))]

    def get(self, case_id: str) -> CaseDetail:
        """One case in full."""
        with self.state.read() as conn:
            case = _load(conn, case_id)
            alerts = store.list_alerts(conn, store.AlertQuery(case_id=case_id, suppressed=None, limit=500))
            tasks = [
                Task(
                    r["id"],
                    r["case_id"],
                    r["title"],
                    r["owner"],
                    parse_ts(r["due_at"]),
                    parse_ts(r["done_at"]),
                    r["created_by"],
                    need_ts(r["created_at"]),
                )
                for r in conn.execute(
                    "SELECT * FROM case_tasks WHERE case_id = ? ORDER BY created_at, id", (case_id,)
                )
            ]
            attachments = [
                Attachment(
                    r["id"],
                    r["case_id"],
                    r["name"],
                    r["media_type"],
                    r["size"],
                    r["digest"],
                    r["created_by"],
                    need_ts(r["created_at"]),
                )
                for r in conn.execute(
                    "SELECT id, case_id, name, media_type, size, digest, created_by, created_at "
                    "FROM case_attachments WHERE case_id = ? ORDER BY created_at, id",
                    (case_id,),
                )
            ]
            timeline = [
                TimelineEntry(r["seq"], need_ts(r["at"]), r["actor"], r["action"], loads(r["detail"]))
                for r in conn.execute(
                    "SELECT * FROM case_timeline WHERE case_id = ? ORDER BY seq", (case_id,)
                )
            ]
            mine = {a.id for a in alerts}
            sightings = []
            for kind, value in store.observables(conn, sorted(mine)):
                others = tuple(a.id for a in store.sightings(conn, kind, value, limit=50) if a.id not in mine)
                sightings.append(Sighting(kind, value, others))
        return CaseDetail(
            case, tuple(alerts), tuple(tasks), tuple(attachments), tuple(timeline), tuple(sightings)
        )

    def attachment(self, case_id: str, attachment_id: str) -> tuple[Attachment, bytes]:
        """An attachment with its bytes."""
        with self.state.read() as conn:
            row = conn.execute(
                "SELECT * FROM case_attachments WHERE id = ? AND case_id = ?", (attachment_id, case_id)
            ).fetchone()
        if row is None:
            raise AlertNotFound(f"no attachment {attachment_id!r} in case {case_id!r}")
        meta = Attachment(
            row["id"],
            row["case_id"],
            row["name"],
            row["media_type"],
            row["size"],
            row["digest"],
            row["created_by"],
            need_ts(row["created_at"]),
        )
        return meta, bytes(row["content"])

    # -- changes ----------------------------------------------------------------------------------

    def _change(
        self,
        actor: Actor,
        case_id: str | None,
        action: str,
        now: datetime,
        payload: dict[str, Any],
        effect: Callable[[sqlite3.Connection], Any],
    ) -> Any:
        draft = audit_draft(
            now=now,
            kind=f"alert.case_{action}",
            actor=actor.label,
            subject=f"case:{case_id or 'new'}",
            outcome="success",
            **payload,
        )

        def apply() -> Any:
            with self.state.write() as conn:
                return effect(conn)

        return audited(self.audit, draft, apply)

    def create(
        self,
        actor: Actor,
        *,
        title: str,
        description: str = "",
        alert_ids: Sequence[str] = (),
        owner: str | None = None,
        now: datetime,
    ) -> Case:
        """A new case over `alert_ids` (its level the highest of theirs)."""
        title = _text(title, "title", 200)
        description = _text(description, "description", 4000, required=False)
        case_id = "case-" + self.new_id()
        with self.state.read() as conn:
            alerts = [_alert(conn, a) for a in alert_ids]
        level = max((a.warning_level for a in alerts), key=WARNING_LEVELS.index, default="blue")

        def effect(conn: sqlite3.Connection) -> Case:
            conn.execute(
                "INSERT INTO cases (id, title, description, status, warning_level, owner, created_by, "
                "created_at, updated_at) VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?)",
                (case_id, title, description, level, owner, actor.label, ts(now), ts(now)),
            )
            _timeline(conn, case_id, now, actor.label, "created", {"title": title, "alerts": list(alert_ids)})
            _link(conn, case_id, alert_ids, actor.label, now)
            return _load(conn, case_id)

        result: Case = self._change(
            actor, case_id, "created", now, {"title": title, "alerts": list(alert_ids)}, effect
        )
        return result

    def add_alerts(self, actor: Actor, case_id: str, alert_ids: Sequence[str], *, now: datetime) -> Case:
        """Link more alerts (the case's level rises with them)."""
        with self.state.read() as conn:
            _open(conn, case_id)
            for a in alert_ids:
                _alert(conn, a)

        def effect(conn: sqlite3.Connection) -> Case:
            _link(conn, case_id, alert_ids, actor.label, now)
            _timeline(conn, case_id, now, actor.label, "alerts_added", {"alerts": list(alert_ids)})
            return _load(conn, case_id)

        result: Case = self._change(actor, case_id, "alerts_added", now, {"alerts": list(alert_ids)}, effect)
        return result

    def note(self, actor: Actor, case_id: str, text: str, *, now: datetime) -> None:
        """A note on the timeline."""
        body = _text(text, "note", 4000)
        with self.state.read() as conn:
            _load(conn, case_id)
        self._change(
            actor,
            case_id,
            "noted",
            now,
            {"text": body},
            lambda conn: _timeline(conn, case_id, now, actor.label, "noted", {"text": body}),
        )

    def set_owner(self, actor: Actor, case_id: str, owner: str | None, *, now: datetime) -> Case:
        """Hand the case to `owner`."""
        with self.state.read() as conn:
            _open(conn, case_id)

        def effect(conn: sqlite3.Connection) -> Case:
            conn.execute("UPDATE cases SET owner = ?, updated_at = ? WHERE id = ?", (owner, ts(now), case_id))
            _timeline(conn, case_id, now, actor.label, "owner_set", {"owner": owner})
            return _load(conn, case_id)

        result: Case = self._change(actor, case_id, "owner_set", now, {"owner": owner}, effect)
        return result

    def close(self, actor: Actor, case_id: str, note: str, *, now: datetime) -> Case:
        """Close the case (its alerts keep their own status)."""
        text = _text(note, "note", 4000)
        with self.state.read() as conn:
            _open(conn, case_id)

        def effect(conn: sqlite3.Connection) -> Case:
            conn.execute(
                "UPDATE cases SET status = 'closed', closed_at = ?, updated_at = ? WHERE id = ?",
                (ts(now), ts(now), case_id),
            )
            _timeline(conn, case_id, now, actor.label, "closed", {"note": text})
            return _load(conn, case_id)

        result: Case = self._change(actor, case_id, "closed", now, {"note": text}, effect)
        return result

    def add_task(
        self,
        actor: Actor,
        case_id: str,
        *,
        title: str,
        owner: str | None,
        due_at: datetime | None,
        now: datetime,
    ) -> Task:
        """A task with an owner and a due date."""
        title = _text(title, "task title", 200)
        task_id = "task-" + self.new_id()
        with self.state.read() as conn:
            _open(conn, case_id)

        def effect(conn: sqlite3.Connection) -> Task:
            conn.execute(
                "INSERT INTO case_tasks (id, case_id, title, owner, due_at, created_by, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (task_id, case_id, title, owner, ts(due_at) if due_at else None, actor.label, ts(now)),
            )
            _timeline(
                conn,
                case_id,
                now,
                actor.label,
                "task_added",
                {"task": task_id, "title": title, "owner": owner},
            )
            return Task(task_id, case_id, title, owner, due_at, None, actor.label, now)

        payload = {"task": task_id, "title": title, "owner": owner, "due_at": ts(due_at) if due_at else None}
        result: Task = self._change(actor, case_id, "task_added", now, payload, effect)
        return result

    def complete_task(self, actor: Actor, case_id: str, task_id: str, *, now: datetime) -> None:
        """Mark a task done."""
        with self.state.read() as conn:
            row = conn.execute(
                "SELECT done_at FROM case_tasks WHERE id = ? AND case_id = ?", (task_id, case_id)
            ).fetchone()
        if row is None:
            raise AlertNotFound(f"no task {task_id!r} in case {case_id!r}")
        if row[0] is not None:
            raise TransitionRefused(f"task {task_id} is already done")

        def effect(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE case_tasks SET done_at = ? WHERE id = ?", (ts(now), task_id))
            _timeline(conn, case_id, now, actor.label, "task_done", {"task": task_id})

        self._change(actor, case_id, "task_done", now, {"task": task_id}, effect)

    def attach(
        self, actor: Actor, case_id: str, *, name: str, media_type: str, content: bytes, now: datetime
    ) -> Attachment:
        """Keep a file with the case (at most `MAX_ATTACHMENT` bytes)."""
        if not _NAME.match(name) or not _MEDIA.match(media_type):
            raise InvalidAlertingRequest("attachment: a plain file name and a media type such as text/plain")
        if len(content) > MAX_ATTACHMENT:
            raise InvalidAlertingRequest(f"attachment: at most {MAX_ATTACHMENT} bytes")
        with self.state.read() as conn:
            _open(conn, case_id)
        attachment = Attachment(
            "att-" + self.new_id(),
            case_id,
            name,
            media_type,
            len(content),
            sm3_hex(content),
            actor.label,
            now,
        )

        def effect(conn: sqlite3.Connection) -> Attachment:
            conn.execute(
                "INSERT INTO case_attachments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    attachment.id,
                    case_id,
                    name,
                    media_type,
                    len(content),
                    attachment.digest,
                    content,
                    actor.label,
                    ts(now),
                ),
            )
            _timeline(
                conn,
                case_id,
                now,
                actor.label,
                "attached",
                {"attachment": attachment.id, "name": name, "digest": attachment.digest},
            )
            return attachment

        payload = {
            "attachment": attachment.id,
            "name": name,
            "size": len(content),
            "digest": attachment.digest,
        }
        result: Attachment = self._change(actor, case_id, "attached", now, payload, effect)
        return result

    def merge(self, actor: Actor, source_id: str, into_id: str, *, now: datetime) -> Case:
        """Merge `source_id` into `into_id`: its alerts, tasks and attachments move; it is marked merged."""
        if source_id == into_id:
            raise InvalidAlertingRequest("a case is not merged into itself")
        with self.state.read() as conn:
            _open(conn, source_id)
            _open(conn, into_id)

        def effect(conn: sqlite3.Connection) -> Case:
            moved = [r[0] for r in conn.execute("SELECT id FROM alerts WHERE case_id = ?", (source_id,))]
            _link(conn, into_id, moved, actor.label, now)
            conn.execute("UPDATE case_tasks SET case_id = ? WHERE case_id = ?", (into_id, source_id))
            conn.execute("UPDATE case_attachments SET case_id = ? WHERE case_id = ?", (into_id, source_id))
            conn.execute(
                "UPDATE cases SET status = 'merged', merged_into = ?, closed_at = ?, updated_at = ? "
                "WHERE id = ?",
                (into_id, ts(now), ts(now), source_id),
            )
            _timeline(conn, source_id, now, actor.label, "merged_into", {"case": into_id})
            _timeline(conn, into_id, now, actor.label, "merged_from", {"case": source_id, "alerts": moved})
            return _load(conn, into_id)

        result: Case = self._change(actor, source_id, "merged", now, {"into": into_id}, effect)
        return result

    def report(self, case_id: str, *, now: datetime) -> Document:
        """The case report (a `soc_api.reports.Document`; render with `render_html`/`render_pdf`)."""
        return case_report(self.get(case_id), now=now)


def _load(conn: sqlite3.Connection, case_id: str) -> Case:
    row = conn.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()
    if row is None:
        raise AlertNotFound(f"没有该案件 / no case {case_id!r}")
    return Case.from_row(row)


def _open(conn: sqlite3.Connection, case_id: str) -> Case:
    case = _load(conn, case_id)
    if case.status != "open":
        raise TransitionRefused(f"case {case_id} is {case.status}")
    return case


def _alert(conn: sqlite3.Connection, alert_id: str) -> AlertRecord:
    alert = store.get(conn, alert_id)
    if alert is None:
        raise AlertNotFound(f"没有该告警 / no alert {alert_id!r}")
    return alert


def _timeline(
    conn: sqlite3.Connection, case_id: str, at: datetime, actor: str, action: str, detail: dict[str, Any]
) -> None:
    conn.execute(
        "INSERT INTO case_timeline (case_id, at, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
        (case_id, ts(at), actor, action, dumps(detail)),
    )


def _link(
    conn: sqlite3.Connection, case_id: str, alert_ids: Sequence[str], actor: str, now: datetime
) -> None:
    for alert_id in alert_ids:
        alert = _alert(conn, alert_id)
        store.update(conn, alert_id, case_id=case_id, updated_at=now)
        store.add_change(
            conn,
            alert_id,
            at=now,
            actor=actor,
            action="case_linked",
            detail={"case": case_id, "from": alert.case_id},
        )
        row = conn.execute("SELECT warning_level FROM cases WHERE id = ?", (case_id,)).fetchone()
        if WARNING_LEVELS.index(alert.warning_level) > WARNING_LEVELS.index(row[0]):
            conn.execute("UPDATE cases SET warning_level = ? WHERE id = ?", (alert.warning_level, case_id))
    conn.execute("UPDATE cases SET updated_at = ? WHERE id = ?", (ts(now), case_id))
