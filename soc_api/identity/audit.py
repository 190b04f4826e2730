"""The platform's own audit: every action of a person or token is recorded before its effect.

`AuditSink.record(draft)` is durable when it returns, or raises `AuditUnavailableError`, and the
action is then refused (HTTP 503), never performed unaudited. Two sinks:

- `LedgerAudit`: the real ledger (`audit.ledger.Ledger`), in the process that holds it
  (`datasoc run`, or a CLI command while the platform is stopped).
- `OutboxAudit`: the state store's `audit_outbox`, for a CLI command while `datasoc run` holds
  the ledger's lock; the running platform moves outbox entries into the ledger within a second or
  two (`drain_outbox`), in order, and the CLI waits for that before it reports success.

Every entry recorded in the ledger is also indexed in `audit_index` (state store) so the audit
administrator can search by actor, action, target, time and outcome. The index is derived: a
failed index write is logged and repaired by `catch_up_index`, which re-reads the ledger.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

from audit.entry import EntryDraft, LedgerEntry
from audit.errors import AuditError
from audit.ledger import Ledger
from datasoc.logging import get_logger
from datasoc.state import StateStore, StateUnavailableError
from soc_api.identity.errors import AuditUnavailableError
from soc_api.identity.records import need_ts, ts

log = get_logger("platform_audit")
T = TypeVar("T")
#: Ledger kind families that belong to the platform's own audit (indexed for search).
INDEXED_FAMILIES = ("login", "admin", "read", "authz", "export", "grant", "approval")


@dataclass(frozen=True, slots=True)
class AuditReceipt:
    """Where an audit record went: a ledger position, or an outbox row awaiting the ledger."""

    seq: int | None
    outbox_id: int | None = None


class AuditSink(Protocol):
    """Records an action durably before its effect (see module docstring)."""

    def record(self, draft: EntryDraft) -> AuditReceipt:
        """Durable when it returns; `AuditUnavailableError` when it cannot be."""
        ...


def audit_draft(
    *, now: datetime, kind: str, actor: str, subject: str, outcome: str, **payload: Any
) -> EntryDraft:
    """An entry of the platform audit: `outcome` is `success`, `denied` or `failed`."""
    body = {"outcome": outcome, **{k: v for k, v in payload.items() if v is not None}}
    return EntryDraft.create(now=now, kind=kind, actor=actor[:200], subject=subject[:200], payload=body)


def _indexed(kind: str) -> bool:
    return kind.split(".", 1)[0] in INDEXED_FAMILIES


def _index(state: StateStore, entries: list[tuple[int, EntryDraft | LedgerEntry]]) -> None:
    rows = [
        (
            seq,
            e.ts,
            e.kind,
            e.actor,
            e.subject,
            str(e.payload.get("outcome", "success")),
            json.dumps(dict(e.payload), ensure_ascii=False, sort_keys=True),
        )
        for seq, e in entries
        if _indexed(e.kind)
    ]
    if rows:
        # Derived from the ledger: no fsync of its own; `catch_up_index` re-reads what a power
        # loss took (from the position its last run reached, at every start).
        with state.write(durable=False) as conn:
            conn.executemany("INSERT OR IGNORE INTO audit_index VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


class LedgerAudit:
    """Audit into the ledger, then index for search."""

    def __init__(self, ledger: Ledger, state: StateStore, clock: Callable[[], datetime]) -> None:
        self.ledger = ledger
        self.state = state
        self.clock = clock

    def record(self, draft: EntryDraft) -> AuditReceipt:
        """Append durably to the ledger (refused with `AuditUnavailableError` when it cannot)."""
        try:
            receipt = self.ledger.append(draft, now=self.clock())
        except (AuditError, OSError, ValueError) as exc:
            log.error(
                "audit_unavailable", kind=draft.kind, error=str(exc)[:300], error_type=type(exc).__name__
            )
            raise AuditUnavailableError(
                "审计记录无法写入，操作已拒绝 / the audit ledger cannot be written: the action is refused"
            ) from None
        try:
            _index(self.state, [(receipt.seq, draft)])
        except StateUnavailableError as exc:
            # Derived data: the ledger entry is durable; catch_up_index repairs the index.
            log.error("audit_index_failed", seq=receipt.seq, error=str(exc)[:300])
        return AuditReceipt(seq=receipt.seq)


def _draft_json(draft: EntryDraft) -> str:
    return json.dumps(
        {
            "ts": draft.ts,
            "kind": draft.kind,
            "actor": draft.actor,
            "subject": draft.subject,
            "payload": dict(draft.payload),
        },
        ensure_ascii=False,
    )


class OutboxAudit:
    """Audit into the state store's outbox (the platform process moves it into the ledger)."""

    def __init__(self, state: StateStore) -> None:
        self.state = state

    def record(self, draft: EntryDraft) -> AuditReceipt:
        """Insert durably into `audit_outbox`."""
        try:
            with self.state.write() as conn:
                cursor = conn.execute(
                    "INSERT INTO audit_outbox (entry, created_at) VALUES (?, ?)",
                    (_draft_json(draft), draft.ts),
                )
                row_id = cursor.lastrowid
        except (StateUnavailableError, sqlite3.Error) as exc:
            log.error("audit_unavailable", kind=draft.kind, error=str(exc)[:300])
            raise AuditUnavailableError(
                "审计记录无法写入，操作已拒绝 / the audit outbox cannot be written: the action is refused"
            ) from None
        return AuditReceipt(seq=None, outbox_id=row_id)

    def pending(self, outbox_id: int) -> bool:
        """True while the outbox row has not reached the ledger."""
        with self.state.read() as conn:
            return (
                conn.execute("SELECT 1 FROM audit_outbox WHERE id = ?", (outbox_id,)).fetchone() is not None
            )


_drain_lock = threading.Lock()


def drain_outbox(state: StateStore, ledger: Ledger, *, now: datetime, limit: int = 1000) -> int:
    """Move outbox entries into the ledger in order (ledger first, then delete); how many moved.

    At least once: a crash between the ledger append and the delete ledgers them again on the
    next drain, each copy carrying the same `outbox_id` in its payload, so a reader can tell.
    """
    with _drain_lock:
        with state.read() as conn:
            rows = conn.execute("SELECT id, entry FROM audit_outbox ORDER BY id LIMIT ?", (limit,)).fetchall()
        if not rows:
            return 0
        drafts = []
        for row in rows:
            data = json.loads(row["entry"])
            payload: Mapping[str, Any] = {**data["payload"], "outbox_id": row["id"]}
            drafts.append(
                EntryDraft.create(
                    now=need_ts(data["ts"]),
                    kind=data["kind"],
                    actor=data["actor"],
                    subject=data["subject"],
                    payload=payload,
                )
            )
        receipts = ledger.append_many(drafts, now=now)
        try:
            _index(state, [(r.seq, d) for r, d in zip(receipts, drafts, strict=True)])
        except StateUnavailableError as exc:
            log.error("audit_index_failed", error=str(exc)[:300])
        with state.write() as conn:
            conn.executemany("DELETE FROM audit_outbox WHERE id = ?", [(row["id"],) for row in rows])
        log.info("audit_outbox_drained", entries=len(rows))
        return len(rows)


def catch_up_index(state: StateStore, ledger: Ledger, *, max_entries: int = 5_000_000) -> int:
    """Index platform-audit entries the index missed (after the last indexed position); how many."""
    with state.read() as conn:
        row = conn.execute("SELECT value FROM counters WHERE name = 'audit_index_scanned'").fetchone()
    start = int(row[0]) if row else 0
    end = min(ledger.store.size, start + max_entries)
    batch: list[tuple[int, EntryDraft | LedgerEntry]] = []
    for entry in ledger.store.entries(start, end):
        if _indexed(entry.kind):
            batch.append((entry.seq, entry))
    _index(state, batch)
    with state.write() as conn:
        conn.execute(
            "INSERT INTO counters (name, value) VALUES ('audit_index_scanned', ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (end,),
        )
    return len(batch)


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """A search of the platform audit: every given criterion must hold; newest first."""

    actor: str | None = None
    action: str | None = None
    target: str | None = None
    outcome: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    before_seq: int | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One indexed platform-audit entry (its ledger position is `seq`)."""

    seq: int
    ts: str
    kind: str
    actor: str
    subject: str
    outcome: str
    payload: dict[str, Any]


def search_audit(state: StateStore, query: AuditQuery) -> list[AuditRow]:
    """Indexed entries matching `query`, newest (highest seq) first, at most `limit`."""
    where: list[str] = []
    args: list[str | int] = []
    for column, value in (("actor", query.actor), ("subject", query.target), ("outcome", query.outcome)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if query.action is not None:
        if query.action.endswith(".*"):
            where.append("kind LIKE ?")
            args.append(query.action[:-1].replace("%", "").replace("_", "\\_") + "%")
            where[-1] += " ESCAPE '\\'"
        else:
            where.append("kind = ?")
            args.append(query.action)
    if query.start is not None:
        where.append("ts >= ?")
        args.append(ts(query.start))
    if query.end is not None:
        where.append("ts < ?")
        args.append(ts(query.end))
    if query.before_seq is not None:
        where.append("seq < ?")
        args.append(query.before_seq)
    sql = (
        "SELECT * FROM audit_index"  # noqa: S608 - fixed clauses; every value is bound
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY seq DESC LIMIT ?"
    )
    with state.read() as conn:
        rows = conn.execute(sql, (*args, query.limit)).fetchall()
    return [
        AuditRow(
            r["seq"], r["ts"], r["kind"], r["actor"], r["subject"], r["outcome"], json.loads(r["payload"])
        )
        for r in rows
    ]


def audited(sink: AuditSink, draft: EntryDraft, effect: Callable[[], T]) -> T:
    """Record `draft`, then perform `effect`; if the effect fails, record that too and re-raise.

    The order is the fail-closed contract: no record, no effect (`AuditUnavailableError`).
    """
    sink.record(draft)
    try:
        return effect()
    except Exception as exc:
        from soc_api.identity.errors import IdentityError

        detail = exc.detail if isinstance(exc, IdentityError) else type(exc).__name__
        failure = audit_draft(
            now=need_ts(draft.ts),
            kind=draft.kind,
            actor=draft.actor,
            subject=draft.subject,
            outcome="failed",
            error=type(exc).__name__,
            detail=detail[:300],
        )
        try:
            sink.record(failure)
        except AuditUnavailableError:
            log.error("audit_failure_unrecorded", kind=draft.kind, error=type(exc).__name__)
        raise
