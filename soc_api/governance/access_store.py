"""SQL of pre-approval: policy versions, access requests with their decisions, grants, notifications."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from datasoc.grants import Grant, GrantBook
from datasoc.state import StateStore
from soc_api.governance.errors import ConflictError, NotFoundError, SeparationOfDutiesError
from soc_api.governance.records import DecisionRecord, GrantRecord, RequestRecord, RequestTerms
from soc_api.governance.rows import by_id, or_none, page_by_id
from soc_api.governance.store import counter
from soc_api.identity.records import need_ts, parse_ts, ts


def _decision(row: sqlite3.Row) -> DecisionRecord:
    return DecisionRecord(
        row["account_id"],
        row["username"],
        frozenset(json.loads(row["roles"])),
        frozenset(json.loads(row["departments"])),
        row["decision"],
        row["note"],
        need_ts(row["at"]),
    )


def _request(conn: sqlite3.Connection, row: sqlite3.Row) -> RequestRecord:
    decisions = tuple(
        _decision(d)
        for d in conn.execute(
            "SELECT * FROM gov_decisions WHERE request_id = ? ORDER BY at, account_id", (row["id"],)
        )
    )
    return RequestRecord(
        id=row["id"],
        requester_id=row["requester_id"],
        requester=row["requester"],
        terms=RequestTerms.from_dict(json.loads(row["document"])),
        grade=row["grade"],
        sub_grade=row["sub_grade"],
        owners=frozenset(json.loads(row["owners"])),
        policy_version=row["policy_version"],
        status=row["status"],
        created_at=need_ts(row["created_at"]),
        decided_at=parse_ts(row["decided_at"]),
        decisions=decisions,
    )


def _grant(row: sqlite3.Row) -> GrantRecord:
    return GrantRecord(
        Grant.from_dict(json.loads(row["document"])),
        row["status"],
        row["source"],
        need_ts(row["issued_at"]),
        need_ts(row["updated_at"]),
    )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class AccessStore:
    """The pre-approval tables (see module docstring)."""

    def __init__(self, state: StateStore) -> None:
        self.state = state

    # ---- policies ----

    def policy(self, version: int | None = None) -> tuple[int, dict[str, Any]] | None:
        """A policy version and its document (the latest when `version` is None); None when absent."""
        with self.state.read() as conn:
            if version is None:
                row = conn.execute("SELECT * FROM gov_policies ORDER BY version DESC LIMIT 1").fetchone()
            else:
                row = conn.execute("SELECT * FROM gov_policies WHERE version = ?", (version,)).fetchone()
        return (row["version"], json.loads(row["document"])) if row else None

    def policies(self) -> list[dict[str, Any]]:
        """Every stored version (newest first) with who made it, when and why."""
        with self.state.read() as conn:
            rows = conn.execute("SELECT * FROM gov_policies ORDER BY version DESC").fetchall()
        return [
            {
                "version": r["version"],
                "document": json.loads(r["document"]),
                "created_at": r["created_at"],
                "created_by": r["created_by"],
                "note": r["note"],
            }
            for r in rows
        ]

    def add_policy(
        self, version: int, document: Mapping[str, Any], actor: str, note: str, now: datetime
    ) -> None:
        """Store the next version (`ConflictError` when another writer took it first)."""
        try:
            with self.state.write() as conn:
                conn.execute(
                    "INSERT INTO gov_policies (version, document, "
                    "created_at, created_by, note) VALUES (?, ?, ?, ?, ?)",
                    (version, _json(dict(document)), ts(now), actor, note),
                )
        except sqlite3.IntegrityError:
            raise ConflictError(
                f"策略版本 {version} 已存在 / policy version {version} exists: retry"
            ) from None

    # ---- requests and decisions ----

    def add_request(self, record: RequestRecord) -> None:
        """Store a new request (`ConflictError` when its id exists)."""
        try:
            with self.state.write() as conn:
                conn.execute(
                    "INSERT INTO gov_requests (id, requester_id, "
                    "requester, document, grade, sub_grade, owners, "
                    "policy_version, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                    (
                        record.id,
                        record.requester_id,
                        record.requester,
                        _json(record.terms.to_dict()),
                        record.grade,
                        record.sub_grade,
                        _json(sorted(record.owners)),
                        record.policy_version,
                        ts(record.created_at),
                    ),
                )
        except sqlite3.IntegrityError:
            raise ConflictError(f"申请 {record.id} 已存在 / request {record.id!r} exists") from None

    def request(self, request_id: str) -> RequestRecord:
        """The request with its decisions, else `NotFoundError`."""
        with self.state.read() as conn:
            return _request(conn, by_id(conn, "gov_requests", request_id, zh="申请", en="request"))

    def find_request(self, request_id: str) -> RequestRecord | None:
        """The request, or None."""
        return or_none(self.request, request_id)

    def requests(
        self,
        *,
        status: str | None = None,
        requester_id: str | None = None,
        before: tuple[str, str] | None = None,
        limit: int = 50,
    ) -> list[RequestRecord]:
        """Requests, newest first (by creation time, then id), before the cursor."""
        where, args = ["1 = 1"], []
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if requester_id is not None:
            where.append("requester_id = ?")
            args.append(requester_id)
        if before is not None:
            where.append("(created_at, id) < (?, ?)")
            args.extend(before)
        sql = (
            f"SELECT * FROM gov_requests WHERE {' AND '.join(where)} "  # noqa: S608 - fixed clauses, bound values
            "ORDER BY created_at DESC, id DESC LIMIT ?"
        )
        with self.state.read() as conn:
            rows = conn.execute(sql, (*args, limit)).fetchall()
            return [_request(conn, r) for r in rows]

    def add_decision(self, request_id: str, decision: DecisionRecord) -> None:
        """Record one person's decision on a pending request (the key refuses a second one)."""
        with self.state.write() as conn:
            status = conn.execute("SELECT status FROM gov_requests WHERE id = ?", (request_id,)).fetchone()
            if status is None:
                raise NotFoundError(f"没有申请 {request_id} / no request {request_id!r}")
            if status[0] != "pending":
                raise ConflictError(
                    f"申请 {request_id} 已{status[0]} / request {request_id!r} is {status[0]}"
                )
            try:
                conn.execute(
                    "INSERT INTO gov_decisions (request_id, account_id, "
                    "username, roles, departments, decision, "
                    "note, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        request_id,
                        decision.account_id,
                        decision.username,
                        _json(sorted(decision.roles)),
                        _json(sorted(decision.departments)),
                        decision.decision,
                        decision.note,
                        ts(decision.at),
                    ),
                )
            except sqlite3.IntegrityError:
                raise SeparationOfDutiesError(
                    "同一人对一项申请只能决定一次 / one person decides once on a request"
                ) from None

    def close_request(
        self, request_id: str, status: str, now: datetime, grant: GrantRecord | None = None
    ) -> None:
        """Move a pending request to `status`; with `grant`, issue it in the same transaction."""
        with self.state.write() as conn:
            done = conn.execute(
                "UPDATE gov_requests SET status = ?, decided_at = ? WHERE id = ? AND status = 'pending'",
                (status, ts(now), request_id),
            ).rowcount
            if not done:
                raise ConflictError(f"申请 {request_id} 不再待审 / request {request_id!r} is not pending")
            if grant is not None:
                self._insert_grant(conn, grant)

    # ---- grants ----

    @staticmethod
    def _insert_grant(conn: sqlite3.Connection, record: GrantRecord) -> None:
        try:
            conn.execute(
                "INSERT INTO gov_grants (id, user, status, source, document, issued_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.grant.id,
                    record.grant.user,
                    record.status,
                    record.source,
                    _json(record.grant.to_dict()),
                    ts(record.issued_at),
                    ts(record.updated_at),
                ),
            )
        except sqlite3.IntegrityError:
            raise ConflictError(f"授权 {record.grant.id} 已存在 / grant {record.grant.id!r} exists") from None

    def add_grants(self, records: Iterable[GrantRecord]) -> None:
        """Store new grants (an import), all or none."""
        with self.state.write() as conn:
            for record in records:
                self._insert_grant(conn, record)

    def grant(self, grant_id: str) -> GrantRecord:
        """The grant, else `NotFoundError`."""
        with self.state.read() as conn:
            row = by_id(conn, "gov_grants", grant_id, zh="授权", en="grant")
        return _grant(row)

    def grants(
        self,
        *,
        user: str | None = None,
        status: str | None = None,
        after: str | None = None,
        limit: int = 1_000_000,
    ) -> list[GrantRecord]:
        """Grants by id, filtered, after the cursor id."""
        filters = (("user", user), ("status", status))
        with self.state.read() as conn:
            rows = page_by_id(conn, "gov_grants", filters, after=after, limit=limit)
        return [_grant(r) for r in rows]

    def update_grant(self, grant: Grant, status: str, now: datetime, *, expect: str) -> None:
        """Replace a grant's history and status when it is still `expect` (else `ConflictError`)."""
        with self.state.write() as conn:
            done = conn.execute(
                "UPDATE gov_grants SET document = ?, status = ?, updated_at = ? WHERE id = ? AND status = ?",
                (_json(grant.to_dict()), status, ts(now), grant.id, expect),
            ).rowcount
        if not done:
            raise ConflictError(f"授权 {grant.id} 不是{expect}状态 / grant {grant.id!r} is not {expect}")

    def book(self) -> GrantBook:
        """Every grant, at the grants counter's value read in the same snapshot."""
        with self.state.read() as conn:
            version = conn.execute("SELECT value FROM counters WHERE name = 'governance_grants'").fetchone()
            rows = conn.execute("SELECT document FROM gov_grants").fetchall()
        return GrantBook.of(
            (Grant.from_dict(json.loads(r[0])) for r in rows), int(version[0]) if version else 0
        )

    def grants_version(self) -> int:
        """The grants change counter."""
        return counter(self.state, "governance_grants")

    # ---- notifications ----

    def notify(self, account_ids: Iterable[str], request_id: str, reason: str, now: datetime) -> list[str]:
        """Inbox entries for accounts not yet notified of the request; the ones added."""
        added: list[str] = []
        with self.state.write() as conn:
            for account_id in account_ids:
                done = conn.execute(
                    "INSERT OR IGNORE INTO gov_notifications (account_id, request_id, reason, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    (account_id, request_id, reason, ts(now)),
                ).rowcount
                if done:
                    added.append(account_id)
        return added

    def notifications(self, account_id: str, *, limit: int = 200) -> list[dict[str, Any]]:
        """An account's notifications, newest first."""
        with self.state.read() as conn:
            rows = conn.execute(
                "SELECT * FROM gov_notifications WHERE account_id = ? ORDER BY id DESC LIMIT ?",
                (account_id, limit),
            ).fetchall()
        return [
            {
                "id": r["id"],
                "request_id": r["request_id"],
                "reason": r["reason"],
                "created_at": r["created_at"],
                "read_at": r["read_at"],
            }
            for r in rows
        ]

    def mark_read(self, account_id: str, request_id: str, now: datetime) -> None:
        """The account has seen (or decided) the request."""
        with self.state.write() as conn:
            conn.execute(
                "UPDATE gov_notifications SET read_at = ? WHERE "
                "account_id = ? AND request_id = ? AND read_at IS NULL",
                (ts(now), account_id, request_id),
            )

    def notified_at(self, request_id: str) -> dict[str, str]:
        """When each account was notified of a request (for turnaround figures)."""
        with self.state.read() as conn:
            rows = conn.execute(
                "SELECT account_id, created_at FROM gov_notifications WHERE request_id = ?", (request_id,)
            ).fetchall()
        return {r[0]: r[1] for r in rows}
