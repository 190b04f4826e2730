"""SQL of the catalog: departments, members, assets with fields, grade history, proposals, discoveries.

The services (`catalog`, `access`) are the only callers; every change they make is ledgered first
(fail closed), then written here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from datasoc.state import StateStore
from soc_api.governance.errors import ConflictError, NotFoundError
from soc_api.governance.records import Asset, AssetField, Department, GradeChange, Proposal, TableRef
from soc_api.governance.rows import by_id, or_none, page_by_id
from soc_api.identity.records import need_ts, parse_ts, ts


def counter(state: StateStore, name: str) -> int:
    """A change counter's value (0 when absent)."""
    with state.read() as conn:
        row = conn.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


def _asset(conn: sqlite3.Connection, row: sqlite3.Row) -> Asset:
    fields = tuple(
        AssetField(f["name"], f["type"], f["description"], f["grade"], f["sub_grade"])
        for f in conn.execute("SELECT * FROM gov_fields WHERE asset_id = ? ORDER BY position", (row["id"],))
    )
    table = (
        TableRef(row["table_engine"], row["table_database"], row["table_name"])
        if row["table_engine"] is not None
        else None
    )
    return Asset(
        id=row["id"],
        name=row["name"],
        name_en=row["name_en"],
        owner=row["owner"],
        region=row["region"],
        grade=row["grade"],
        sub_grade=row["sub_grade"],
        lifecycle=row["lifecycle"],
        table=table,
        record_count=row["record_count"],
        fields=fields,
        created_at=need_ts(row["created_at"]),
        updated_at=need_ts(row["updated_at"]),
    )


def _proposal(row: sqlite3.Row) -> Proposal:
    return Proposal(
        id=row["id"],
        asset_id=row["asset_id"],
        kind=row["kind"],
        source=row["source"],
        document=json.loads(row["document"]),
        status=row["status"],
        created_at=need_ts(row["created_at"]),
        decided_by=row["decided_by"],
        decided_at=parse_ts(row["decided_at"]),
        note=row["note"],
    )


class CatalogStore:
    """The catalog tables (see module docstring)."""

    def __init__(self, state: StateStore) -> None:
        self.state = state

    # ---- the network plan, departments and members ----

    def meta(self) -> dict[str, Any] | None:
        """The catalog's city, districts, external networks and service accounts (None before import)."""
        with self.state.read() as conn:
            row = conn.execute("SELECT document FROM gov_meta WHERE id = 1").fetchone()
        return json.loads(row[0]) if row else None

    def put_meta(self, document: Mapping[str, Any], now: datetime) -> None:
        """Replace the network plan document."""
        with self.state.write() as conn:
            conn.execute(
                "INSERT INTO gov_meta (id, document, updated_at) VALUES (1, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET document = "
                "excluded.document, updated_at = excluded.updated_at",
                (json.dumps(dict(document), ensure_ascii=False, sort_keys=True), ts(now)),
            )

    def departments(self) -> list[Department]:
        """Every department, by id."""
        with self.state.read() as conn:
            rows = conn.execute("SELECT * FROM gov_departments ORDER BY id").fetchall()
        return [Department(r["id"], r["name"], r["name_en"]) for r in rows]

    def put_departments(self, departments: Iterable[Department]) -> None:
        """Insert or rename departments (a department is never removed: assets refer to it)."""
        with self.state.write() as conn:
            conn.executemany(
                "INSERT INTO gov_departments (id, name, name_en) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE "
                "SET name = excluded.name, name_en = excluded.name_en "
                "WHERE name != excluded.name OR name_en != excluded.name_en",
                [(d.id, d.name, d.name_en) for d in departments],
            )

    def departments_of(self, account_id: str) -> frozenset[str]:
        """The departments an account belongs to."""
        with self.state.read() as conn:
            rows = conn.execute(
                "SELECT department_id FROM gov_members WHERE account_id = ?", (account_id,)
            ).fetchall()
        return frozenset(r[0] for r in rows)

    def members(self, department: str) -> list[str]:
        """Account ids of a department's members."""
        with self.state.read() as conn:
            rows = conn.execute(
                "SELECT account_id FROM gov_members WHERE department_id = ? ORDER BY account_id",
                (department,),
            ).fetchall()
        return [r[0] for r in rows]

    def set_members(self, department: str, account_ids: Iterable[str], now: datetime) -> None:
        """Make exactly `account_ids` the department's members."""
        wanted = set(account_ids)
        with self.state.write() as conn:
            if conn.execute("SELECT 1 FROM gov_departments WHERE id = ?", (department,)).fetchone() is None:
                raise NotFoundError(f"没有部门 {department} / no department {department!r}")
            current = {
                r[0]
                for r in conn.execute(
                    "SELECT account_id FROM gov_members WHERE department_id = ?", (department,)
                )
            }
            conn.executemany(
                "DELETE FROM gov_members WHERE department_id = ? AND account_id = ?",
                [(department, a) for a in current - wanted],
            )
            try:
                conn.executemany(
                    "INSERT INTO gov_members (account_id, department_id, since) VALUES (?, ?, ?)",
                    [(a, department, ts(now)) for a in sorted(wanted - current)],
                )
            except sqlite3.IntegrityError:
                raise NotFoundError("成员须为已有账户 / members must be existing accounts") from None

    # ---- assets ----

    def asset(self, asset_id: str) -> Asset:
        """The asset with that id, else `NotFoundError`."""
        with self.state.read() as conn:
            return _asset(conn, by_id(conn, "gov_assets", asset_id, zh="数据资源", en="asset"))

    def find_asset(self, asset_id: str) -> Asset | None:
        """The asset with that id, or None."""
        return or_none(self.asset, asset_id)

    def assets(
        self,
        *,
        grade: str | None = None,
        owner: str | None = None,
        after: str | None = None,
        limit: int = 1_000_000,
    ) -> list[Asset]:
        """Assets by id, filtered, after the cursor id."""
        filters = (("grade", grade), ("owner", owner))
        with self.state.read() as conn:
            rows = page_by_id(conn, "gov_assets", filters, after=after, limit=limit)
            return [_asset(conn, r) for r in rows]

    def insert_asset(self, asset: Asset, now: datetime) -> Asset:
        """Add a new asset with its fields (`ConflictError` when the id exists)."""
        with self.state.write() as conn:
            try:
                conn.execute(
                    "INSERT INTO gov_assets (id, name, name_en, owner, region, table_engine, table_database, "
                    "table_name, record_count, lifecycle, grade, sub_grade, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        asset.id,
                        asset.name,
                        asset.name_en,
                        asset.owner,
                        asset.region,
                        asset.table.engine if asset.table else None,
                        asset.table.database if asset.table else None,
                        asset.table.name if asset.table else None,
                        asset.record_count,
                        asset.lifecycle,
                        asset.grade,
                        asset.sub_grade,
                        ts(now),
                        ts(now),
                    ),
                )
            except sqlite3.IntegrityError as exc:
                if "UNIQUE" in str(exc) or "PRIMARY" in str(exc):
                    raise ConflictError(f"数据资源 {asset.id} 已存在 / asset {asset.id!r} exists") from None
                raise NotFoundError(f"没有部门 {asset.owner} / no department {asset.owner!r}") from None
            self._write_fields(conn, asset.id, asset.fields)
        return self.asset(asset.id)

    @staticmethod
    def _write_fields(conn: sqlite3.Connection, asset_id: str, fields: Iterable[AssetField]) -> None:
        conn.execute("DELETE FROM gov_fields WHERE asset_id = ?", (asset_id,))
        conn.executemany(
            "INSERT INTO gov_fields (asset_id, name, type, description, grade, sub_grade, position) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (asset_id, f.name, f.type, f.description, f.grade, f.sub_grade, i)
                for i, f in enumerate(fields)
            ],
        )

    def update_asset(self, asset: Asset, now: datetime) -> Asset:
        """Replace an asset's metadata and fields (its grade changes only through `set_grade`)."""
        with self.state.write() as conn:
            done = conn.execute(
                "UPDATE gov_assets SET name = ?, name_en = ?, region = ?, record_count = ?, lifecycle = ?, "
                "table_engine = ?, table_database = ?, table_name = ?, updated_at = ? WHERE id = ?",
                (
                    asset.name,
                    asset.name_en,
                    asset.region,
                    asset.record_count,
                    asset.lifecycle,
                    asset.table.engine if asset.table else None,
                    asset.table.database if asset.table else None,
                    asset.table.name if asset.table else None,
                    ts(now),
                    asset.id,
                ),
            ).rowcount
            if not done:
                raise NotFoundError(f"没有数据资源 {asset.id} / no asset {asset.id!r}")
            self._write_fields(conn, asset.id, asset.fields)
        return self.asset(asset.id)

    def set_grade(self, change: GradeChange) -> Asset:
        """Apply a grade change (of the asset, or of one field) and keep it in the history."""
        grade, sub = change.after
        with self.state.write() as conn:
            if change.field is None:
                done = conn.execute(
                    "UPDATE gov_assets SET grade = ?, sub_grade = ?, updated_at = ? WHERE id = ?",
                    (grade, sub, ts(change.at), change.asset_id),
                ).rowcount
            else:
                done = conn.execute(
                    "UPDATE gov_fields SET grade = ?, sub_grade = ? WHERE asset_id = ? AND name = ?",
                    (grade, sub, change.asset_id, change.field),
                ).rowcount
            if not done:
                raise NotFoundError(f"没有 {change.asset_id} {change.field or ''} / not found")
            conn.execute(
                "INSERT INTO gov_grade_history (asset_id, field, "
                "before_grade, before_sub, after_grade, after_sub, "
                "reason, actor, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    change.asset_id,
                    change.field,
                    *change.before,
                    grade,
                    sub,
                    change.reason,
                    change.actor,
                    ts(change.at),
                ),
            )
        return self.asset(change.asset_id)

    def grade_history(self, asset_id: str) -> list[GradeChange]:
        """Every grade change of an asset and its fields, oldest first."""
        with self.state.read() as conn:
            rows = conn.execute(
                "SELECT * FROM gov_grade_history WHERE asset_id = ? ORDER BY id", (asset_id,)
            ).fetchall()
        return [
            GradeChange(
                r["asset_id"],
                r["field"],
                (r["before_grade"], r["before_sub"]),
                (r["after_grade"], r["after_sub"]),
                r["reason"],
                r["actor"],
                need_ts(r["at"]),
            )
            for r in rows
        ]

    # ---- proposals and discoveries ----

    def add_proposal(self, proposal: Proposal) -> bool:
        """Record a proposal; False when one with its id exists (a replayed event proposes nothing new)."""
        with self.state.write() as conn:
            done = conn.execute(
                "INSERT OR IGNORE INTO gov_proposals (id, asset_id, "
                "kind, source, document, status, created_at) "
                "VALUES (?, ?, ?, ?, ?, 'open', ?)",
                (
                    proposal.id,
                    proposal.asset_id,
                    proposal.kind,
                    proposal.source,
                    json.dumps(dict(proposal.document), ensure_ascii=False, sort_keys=True),
                    ts(proposal.created_at),
                ),
            ).rowcount
        return bool(done)

    def proposal(self, proposal_id: str) -> Proposal:
        """The proposal with that id, else `NotFoundError`."""
        with self.state.read() as conn:
            row = by_id(conn, "gov_proposals", proposal_id, zh="提议", en="proposal")
        return _proposal(row)

    def find_proposal(self, proposal_id: str) -> Proposal | None:
        """The proposal, or None."""
        return or_none(self.proposal, proposal_id)

    def proposals(self, *, status: str | None = None, limit: int = 200) -> list[Proposal]:
        """Proposals, newest first."""
        with self.state.read() as conn:
            rows = conn.execute(
                "SELECT * FROM gov_proposals WHERE ? IS NULL OR "
                "status = ? ORDER BY created_at DESC, id LIMIT ?",
                (status, status, limit),
            ).fetchall()
        return [_proposal(r) for r in rows]

    def decide_proposal(self, proposal_id: str, status: str, actor: str, note: str, now: datetime) -> None:
        """Close an open proposal (`ConflictError` when it is not open)."""
        with self.state.write() as conn:
            done = conn.execute(
                "UPDATE gov_proposals SET status = ?, decided_by = ?, decided_at = ?, note = ? "
                "WHERE id = ? AND status = 'open'",
                (status, actor, ts(now), note, proposal_id),
            ).rowcount
        if not done:
            raise ConflictError(f"提议 {proposal_id} 已处理 / proposal {proposal_id!r} is not open")

    def add_discovery(self, asset_id: str, evidence: Mapping[str, Any], actor: str, now: datetime) -> None:
        """Keep a discovery run's evidence."""
        with self.state.write() as conn:
            conn.execute(
                "INSERT INTO gov_discoveries (asset_id, at, actor, evidence) VALUES (?, ?, ?, ?)",
                (asset_id, ts(now), actor, json.dumps(dict(evidence), ensure_ascii=False, sort_keys=True)),
            )

    def latest_discovery(self, asset_id: str) -> dict[str, Any] | None:
        """The newest discovery run of an asset: evidence, time and actor."""
        with self.state.read() as conn:
            row = conn.execute(
                "SELECT * FROM gov_discoveries WHERE asset_id = ? ORDER BY id DESC LIMIT 1", (asset_id,)
            ).fetchone()
        if row is None:
            return None
        return {"at": row["at"], "actor": row["actor"], **json.loads(row["evidence"])}
