"""Grants after issue: revoke, narrow, expire (a job), import a legacy register, and the book the engines
read. Every step is a ledger entry carrying `approval.id` (the grant's id), before it takes effect.

Who: a security administrator, or a data owner of a department owning one of the granted assets; the
host's operator for imports. Revocation and narrowing take effect from their time (by event time: the
trace judges an access by the revision in force when it happened, `datasoc.grants`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from collectors.approvals import Approval
from datasoc.event import format_timestamp
from datasoc.grants import ACTIVE, GrantBook, GrantError, GrantTerms
from soc_api.governance.access_store import AccessStore
from soc_api.governance.catalog import may_manage
from soc_api.governance.errors import ConflictError, ForbiddenError, InvalidError
from soc_api.governance.records import GrantRecord, text
from soc_api.governance.store import CatalogStore
from soc_api.identity.actors import Actor
from soc_api.identity.audit import AuditSink, audit_draft, audited
from soc_api.identity.roles import Role

SYSTEM = "system:governance"


@dataclass(frozen=True, slots=True)
class ImportedGrants:
    """What a register import did."""

    added: tuple[str, ...]
    skipped: tuple[str, ...]


class GrantService:
    """Grants after issue (see module docstring)."""

    def __init__(self, store: AccessStore, catalog: CatalogStore, audit: AuditSink) -> None:
        self.store = store
        self.catalog = catalog
        self.audit = audit

    def book(self) -> GrantBook:
        """Every grant with its history: what the trace judges against."""
        return self.store.book()

    def version(self) -> int:
        """The grants change counter."""
        return self.store.grants_version()

    def grant(self, grant_id: str) -> GrantRecord:
        """One grant."""
        return self.store.grant(grant_id)

    def grants(self, **query: Any) -> list[GrantRecord]:
        """Grants by id (see `AccessStore.grants`)."""
        return self.store.grants(**query)

    def _check(self, actor: Actor, record: GrantRecord, kind: str, now: datetime) -> None:
        if actor.kind == "cli":
            return
        departments = self.catalog.departments_of(actor.id) if actor.kind == "user" else frozenset()
        owners = {a.owner for a in (self.catalog.find_asset(i) for i in record.grant.terms.assets) if a}
        if actor.kind != "user" or not any(may_manage(actor, o, departments) for o in owners or {""}):
            error = ForbiddenError(
                "仅数据所属部门的数据所有者或安全管理员可以变更授权 / only a "
                "data owner of an owning department "
                "or a security administrator changes a grant"
            )
            self.audit.record(
                audit_draft(
                    now=now,
                    kind=kind,
                    actor=actor.label,
                    subject=record.grant.id,
                    outcome="denied",
                    reason=error.problem,
                    **{"approval.id": record.grant.id},
                )
            )
            raise error

    def revoke(self, actor: Actor, grant_id: str, *, reason: str, now: datetime) -> GrantRecord:
        """Revoke an active grant from `now` on."""
        record = self.store.grant(grant_id)
        self._check(actor, record, "grant.revoked", now)
        if record.status != "active":
            raise ConflictError(f"授权 {grant_id} 已{record.status} / the grant is {record.status}")
        why = text(reason, "reason", limit=500)
        try:
            revoked = record.grant.revoke(now, why)
        except GrantError as exc:
            raise ConflictError(str(exc)) from None
        draft = audit_draft(
            now=now,
            kind="grant.revoked",
            actor=actor.label,
            subject=grant_id,
            outcome="success",
            **{"approval.id": grant_id},
            user=record.grant.user,
            reason=why,
        )
        audited(self.audit, draft, lambda: self.store.update_grant(revoked, "revoked", now, expect="active"))
        return self.store.grant(grant_id)

    def narrow(
        self, actor: Actor, grant_id: str, changes: Mapping[str, Any], *, reason: str, now: datetime
    ) -> GrantRecord:
        """Narrow an active grant from `now` on: fewer assets or fields, a shorter window, a lower cap,
        the region set, export taken away. Anything wider is refused."""
        record = self.store.grant(grant_id)
        self._check(actor, record, "grant.narrowed", now)
        if record.status != "active":
            raise ConflictError(f"授权 {grant_id} 已{record.status} / the grant is {record.status}")
        if not isinstance(changes, Mapping) or set(changes) - {
            "assets",
            "valid_from",
            "valid_to",
            "region",
            "record_cap",
            "export",
        }:
            raise InvalidError(
                "changes: 仅可收窄 assets、valid_from、valid_to、region、record_cap、export "
                "/ narrowable terms only"
            )
        why = text(reason, "reason", limit=500)
        before = record.grant.terms
        try:
            terms = GrantTerms.from_dict({**before.to_dict(), **dict(changes)}, "changes")
            narrowed = record.grant.narrow(terms, now, why)
        except GrantError as exc:
            raise InvalidError(str(exc)) from None
        draft = audit_draft(
            now=now,
            kind="grant.narrowed",
            actor=actor.label,
            subject=grant_id,
            outcome="success",
            **{"approval.id": grant_id},
            before=before.to_dict(),
            after=terms.to_dict(),
            reason=why,
        )
        audited(self.audit, draft, lambda: self.store.update_grant(narrowed, "active", now, expect="active"))
        return self.store.grant(grant_id)

    def expire_due(self, now: datetime) -> list[str]:
        """Mark active grants whose window is over as expired (the governance step runs this); each is a
        ledger entry by `system:governance`. The window alone already stops accesses: this records it."""
        expired: list[str] = []
        for record in self.store.grants(status="active"):
            grant = record.grant
            if grant.current.state != ACTIVE or grant.terms.valid_to > now:
                continue
            draft = audit_draft(
                now=now,
                kind="grant.expired",
                actor=SYSTEM,
                subject=grant.id,
                outcome="success",
                **{"approval.id": grant.id},
                user=grant.user,
                valid_to=format_timestamp(grant.terms.valid_to),
            )
            try:
                audited(
                    self.audit,
                    draft,
                    partial(self.store.update_grant, grant, "expired", now, expect="active"),
                )
            except ConflictError:
                continue  # revoked or expired meanwhile by another writer
            expired.append(grant.id)
        return expired

    def import_register(
        self, actor: Actor, approvals: Iterable[Approval], *, now: datetime, source: str
    ) -> ImportedGrants:
        """Import a legacy register (`approvals.jsonl`): new ids become grants (source `import`, each a
        `grant.imported` entry); ids already known are skipped, never overwritten."""
        if actor.kind not in ("cli", "system") and Role.SECURITY_ADMIN not in actor.roles:
            raise ForbiddenError(
                "导入须由操作员或安全管理员执行 / the operator or a security administrator imports"
            )
        added: list[str] = []
        skipped: list[str] = []
        known = {r.grant.id for r in self.store.grants()}
        for approval in approvals:
            if approval.id in known:
                skipped.append(approval.id)
                continue
            grant = approval.to_grant()
            status = "active" if grant.current.state == ACTIVE else "revoked"
            draft = audit_draft(
                now=now,
                kind="grant.imported",
                actor=actor.label,
                subject=grant.id,
                outcome="success",
                **{"approval.id": grant.id},
                source=source[:200],
                grant=grant.to_dict(),
            )
            record = GrantRecord(grant, status, "import", now, now)
            audited(self.audit, draft, partial(self.store.add_grants, [record]))
            known.add(grant.id)
            added.append(grant.id)
        return ImportedGrants(tuple(added), tuple(skipped))
