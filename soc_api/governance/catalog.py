"""The asset catalog with classification and grading (数据分类分级), audited and scoped by department.

Who may change what: a security administrator any asset; a data owner the assets of the departments
they belong to; the host's operator (`datasoc catalog import`, `cli:<user>`) the catalog as a whole
(the import path of existing deployments, whose catalog file is the authority). Grades are set by a
person (a data owner or a security administrator), each change ledgered with who, why and the grade
before (`admin.classification_changed`). Discovery suggests, never sets, a grade. Provider events that
announce a new or regraded dataset become proposals the owner accepts or rejects.

Every change is ledgered before it is made (fail closed: `AuditUnavailableError` refuses it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from collectors.catalog import Catalog
from collectors.errors import CatalogError
from soc_api.governance.discovery import Discovery, FieldSpec, discover
from soc_api.governance.errors import ConflictError, ForbiddenError, InvalidError
from soc_api.governance.forms import asset_form, asset_from_dict, dataset_form
from soc_api.governance.records import (
    Asset,
    Department,
    GradeChange,
    Proposal,
    check_grade,
    text,
)
from soc_api.governance.store import CatalogStore, counter
from soc_api.identity.actors import Actor
from soc_api.identity.audit import AuditSink, audit_draft, audited
from soc_api.identity.errors import IdentityError
from soc_api.identity.roles import Role
from soc_api.identity.store import IdentityStore

MAX_SAMPLES: Final = 1000


def may_manage(actor: Actor, owner: str, departments: frozenset[str]) -> bool:
    """Whether `actor` may change an asset of department `owner` (`departments`: the actor's own)."""
    if Role.SECURITY_ADMIN in actor.roles:
        return True
    return Role.DATA_OWNER in actor.roles and owner in departments


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What a catalog import did."""

    departments: int
    added: tuple[str, ...]
    updated: tuple[str, ...]
    regraded: tuple[str, ...]


class CatalogService:
    """Catalog reads and audited changes (see module docstring)."""

    def __init__(
        self, store: CatalogStore, audit: AuditSink, identity: IdentityStore, *, new_id: Callable[[], str]
    ) -> None:
        self.store = store
        self.audit = audit
        self.identity = identity
        self._new_id = new_id

    # ---- reads ----

    def asset(self, asset_id: str) -> Asset:
        """One asset."""
        return self.store.asset(asset_id)

    def version(self) -> int:
        """The catalog change counter (moves on every change)."""
        return counter(self.store.state, "governance_catalog")

    def snapshot(self) -> Catalog | None:
        """The catalog as the parsers enrich from (None before anything was imported or registered)."""
        meta = self.store.meta()
        assets = self.store.assets()
        if meta is None and not assets:
            return None
        meta = meta or {"city": "-"}
        data = {
            **meta,
            "departments": [
                {"id": d.id, "name": d.name, "name_en": d.name_en} for d in self.store.departments()
            ],
            "datasets": [dataset_form(a) for a in assets if a.lifecycle != "deleted"],
        }
        return Catalog.from_dict(data)

    # ---- audit helpers ----

    def _deny(
        self, actor: Actor, kind: str, subject: str, error: IdentityError, now: datetime, **payload: Any
    ) -> None:
        self.audit.record(
            audit_draft(
                now=now,
                kind=kind,
                actor=actor.label,
                subject=subject,
                outcome="denied",
                reason=error.problem,
                detail=error.detail[:300],
                **payload,
            )
        )
        raise error

    def _check_scope(self, actor: Actor, owner: str, kind: str, subject: str, now: datetime) -> None:
        if actor.kind == "cli":
            return
        if actor.kind != "user" or not may_manage(actor, owner, self.store.departments_of(actor.id)):
            self._deny(
                actor,
                kind,
                subject,
                ForbiddenError(
                    f"仅 {owner} 的数据所有者或安全管理员可以修改 / only a "
                    f"data owner of {owner} or a security "
                    "administrator may change it"
                ),
                now,
            )

    # ---- assets ----

    def register(self, actor: Actor, data: Any, *, now: datetime) -> Asset:
        """Add an asset to the catalog (its owner's data owner, a security administrator, the operator)."""
        asset = asset_from_dict(data)
        self._check_scope(actor, asset.owner, "admin.asset_registered", asset.id, now)
        if self.store.find_asset(asset.id) is not None:
            raise ConflictError(f"数据资源 {asset.id} 已存在 / asset {asset.id!r} exists")
        draft = audit_draft(
            now=now,
            kind="admin.asset_registered",
            actor=actor.label,
            subject=asset.id,
            outcome="success",
            asset=asset.to_dict() | {"created_at": None, "updated_at": None},
        )
        return audited(self.audit, draft, lambda: self.store.insert_asset(asset, now))

    def update(self, actor: Actor, asset_id: str, data: Any, *, now: datetime) -> Asset:
        """Change an asset's metadata and fields; its grades (the asset's and its fields') change
        only through `set_grade`."""
        current = self.store.asset(asset_id)
        self._check_scope(actor, current.owner, "admin.asset_updated", asset_id, now)
        if not isinstance(data, Mapping):
            raise InvalidError("asset: 需要对象 / expected an object")
        merged = {
            **current.to_dict(),
            **{k: v for k, v in data.items() if k not in ("id", "owner", "grade", "sub_grade")},
        }
        changed = asset_from_dict(merged)
        fields = tuple(
            replace(f, grade=old.grade, sub_grade=old.sub_grade)
            if (old := current.field(f.name))
            else replace(f, grade=None, sub_grade=None)
            for f in changed.fields
        )
        changed = replace(changed, fields=fields)
        draft = audit_draft(
            now=now,
            kind="admin.asset_updated",
            actor=actor.label,
            subject=asset_id,
            outcome="success",
            changes=sorted(k for k in data if k in merged),
        )
        return audited(self.audit, draft, lambda: self.store.update_asset(changed, now))

    def set_grade(
        self,
        actor: Actor,
        asset_id: str,
        grade: Any,
        sub_grade: Any,
        *,
        reason: str,
        now: datetime,
        field: str | None = None,
    ) -> Asset:
        """Change the grade of an asset or of one of its fields; ledgered with who, why and the
        grade before."""
        asset = self.store.asset(asset_id)
        subject = asset_id
        if actor.kind != "user":
            self._deny(
                actor,
                "admin.classification_changed",
                subject,
                ForbiddenError(
                    "分级由数据所有者或安全管理员本人确定 / a data owner or "
                    "security administrator sets grades"
                ),
                now,
            )
        self._check_scope(actor, asset.owner, "admin.classification_changed", subject, now)
        why = text(reason, "reason", limit=500)
        after = check_grade(grade, sub_grade, "grade") if grade is not None else (None, None)
        if field is None:
            if after[0] is None:
                raise InvalidError("grade: 数据资源必须有分级 / an asset always has a grade")
            before: tuple[str | None, int | None] = (asset.grade, asset.sub_grade)
        else:
            found = asset.field(field)
            if found is None:
                raise InvalidError(f"field: {asset_id} 没有字段 {field} / no such field")
            before = (found.grade, found.sub_grade)
        if before == after:
            return asset
        change = GradeChange(asset_id, field, before, after, why, actor.label, now)
        draft = audit_draft(
            now=now,
            kind="admin.classification_changed",
            actor=actor.label,
            subject=subject,
            outcome="success",
            field=field,
            before={"grade": before[0], "sub_grade": before[1]},
            after={"grade": after[0], "sub_grade": after[1]},
            reason=why,
        )
        return audited(self.audit, draft, lambda: self.store.set_grade(change))

    def history(self, asset_id: str) -> list[GradeChange]:
        """Every grade change of an asset, oldest first."""
        self.store.asset(asset_id)
        return self.store.grade_history(asset_id)

    # ---- discovery ----

    def discover(
        self, actor: Actor, asset_id: str, samples: Sequence[Mapping[str, Any]], *, now: datetime
    ) -> Discovery:
        """Run discovery over sample records (or the field names alone) and keep its evidence; the
        suggestion is never applied here."""
        asset = self.store.asset(asset_id)
        self._check_scope(actor, asset.owner, "admin.discovery_run", asset_id, now)
        if len(samples) > MAX_SAMPLES:
            raise InvalidError(f"samples: 最多 {MAX_SAMPLES} 条样本 / at most {MAX_SAMPLES} sample records")
        if not all(isinstance(s, Mapping) for s in samples):
            raise InvalidError("samples: 需要对象列表 / expected a list of objects")
        found = discover([FieldSpec(f.name, f.type) for f in asset.fields], samples, today=now.date())
        evidence = found.to_dict() | {"current": {"grade": asset.grade, "sub_grade": asset.sub_grade}}
        draft = audit_draft(
            now=now,
            kind="admin.discovery_run",
            actor=actor.label,
            subject=asset_id,
            outcome="success",
            evidence=evidence,
        )
        audited(self.audit, draft, lambda: self.store.add_discovery(asset_id, evidence, actor.label, now))
        return found

    # ---- proposals (from provider events) ----

    def _owner_of(self, proposal: Proposal) -> str:
        asset = self.store.find_asset(proposal.asset_id)
        return asset.owner if asset is not None else str(proposal.document.get("department", ""))

    def accept(
        self, actor: Actor, proposal_id: str, *, now: datetime, changes: Mapping[str, Any] | None = None
    ) -> Asset:
        """Accept an open proposal: a regrade is applied as the acceptor's grade change (its basis the
        reason); a new dataset is registered with what the acceptor adds (`grade` and `region` at least)."""
        proposal = self.store.proposal(proposal_id)
        if proposal.status != "open":
            raise ConflictError(f"提议 {proposal_id} 已处理 / the proposal is {proposal.status}")
        extra = dict(changes or {})
        self._check_scope(actor, self._owner_of(proposal), "admin.proposal_accepted", proposal.asset_id, now)
        document = proposal.document
        if proposal.kind == "grade":
            reason = f"采纳提议 {proposal_id} / accepted proposal {proposal_id}: {document.get('basis', '')}"
            asset = self.set_grade(
                actor,
                proposal.asset_id,
                extra.get("grade", document.get("to")),
                extra.get("sub_grade"),
                reason=reason[:500],
                now=now,
            )
        else:
            data = {
                "id": proposal.asset_id,
                "name": document.get("name") or proposal.asset_id,
                "owner": document.get("department"),
                "record_count": document.get("record_count"),
                **extra,
            }
            asset = self.register(actor, data, now=now)
        draft = audit_draft(
            now=now,
            kind="admin.proposal_accepted",
            actor=actor.label,
            subject=proposal.asset_id,
            outcome="success",
            proposal=proposal_id,
        )
        audited(
            self.audit,
            draft,
            lambda: self.store.decide_proposal(proposal_id, "accepted", actor.label, "", now),
        )
        return asset

    def reject(self, actor: Actor, proposal_id: str, *, note: str, now: datetime) -> None:
        """Reject an open proposal (the catalog stays as it is)."""
        proposal = self.store.proposal(proposal_id)
        self._check_scope(actor, self._owner_of(proposal), "admin.proposal_rejected", proposal.asset_id, now)
        why = text(note, "note", limit=500)
        draft = audit_draft(
            now=now,
            kind="admin.proposal_rejected",
            actor=actor.label,
            subject=proposal.asset_id,
            outcome="success",
            proposal=proposal_id,
            note=why,
        )
        audited(
            self.audit,
            draft,
            lambda: self.store.decide_proposal(proposal_id, "rejected", actor.label, why, now),
        )

    # ---- departments and members ----

    def set_members(
        self, actor: Actor, department: str, usernames: Sequence[str], *, now: datetime
    ) -> list[str]:
        """Make exactly these accounts a department's members. Membership decides who approves for a
        department, so only a security administrator (or the host's operator) sets it."""
        subject = f"department:{department}"
        if actor.kind != "cli" and Role.SECURITY_ADMIN not in actor.roles:
            self._deny(
                actor,
                "admin.department_members",
                subject,
                ForbiddenError("部门成员由安全管理员维护 / a security administrator sets department members"),
                now,
            )
        ids = [self.identity.find(u).id for u in usernames]
        draft = audit_draft(
            now=now,
            kind="admin.department_members",
            actor=actor.label,
            subject=subject,
            outcome="success",
            members=sorted(usernames),
        )
        audited(self.audit, draft, lambda: self.store.set_members(department, ids, now))
        return ids

    # ---- import (the path of existing deployments) ----

    def import_document(self, actor: Actor, data: Any, *, now: datetime, source: str) -> ImportReport:
        """Import a catalog file (`collectors.catalog` form, fields optional): the network plan and
        departments are replaced, new assets added, known ones updated, grade differences applied (each
        ledgered as a classification change by the importer, reason naming the file)."""
        if actor.kind not in ("cli", "system") and Role.SECURITY_ADMIN not in actor.roles:
            self._deny(
                actor,
                "admin.catalog_imported",
                "catalog",
                ForbiddenError("整体导入目录须由安全管理员执行 / a security administrator imports it"),
                now,
            )
        try:
            parsed = Catalog.from_dict(data)
        except CatalogError as exc:
            raise InvalidError(str(exc)) from None
        assert isinstance(data, Mapping)
        assets = [
            asset_from_dict(asset_form(d), f"datasets[{i}]") for i, d in enumerate(data.get("datasets", []))
        ]
        meta = {
            "city": parsed.city,
            "districts": [d.to_dict() for d in parsed.districts],
            "external_networks": [e.to_dict() for e in parsed.external_networks],
            "service_accounts": sorted(parsed.service_accounts),
        }
        departments = [Department(d.id, d.name, d.name_en) for d in parsed.departments]
        draft = audit_draft(
            now=now,
            kind="admin.catalog_imported",
            actor=actor.label,
            subject="catalog",
            outcome="success",
            source=source[:200],
            departments=len(departments),
            datasets=len(assets),
        )
        self.audit.record(draft)
        self.store.put_meta(meta, now)
        self.store.put_departments(departments)
        added: list[str] = []
        updated: list[str] = []
        regraded: list[str] = []
        for asset in assets:
            current = self.store.find_asset(asset.id)
            if current is None:
                self.store.insert_asset(asset, now)
                added.append(asset.id)
                continue
            keep_fields = tuple(
                replace(f, grade=old.grade, sub_grade=old.sub_grade) if (old := current.field(f.name)) else f
                for f in (asset.fields or current.fields)
            )
            if (
                replace(
                    asset,
                    fields=keep_fields,
                    created_at=current.created_at,
                    updated_at=current.updated_at,
                    grade=current.grade,
                    sub_grade=current.sub_grade,
                )
                != current
            ):
                self.store.update_asset(replace(asset, fields=keep_fields), now)
                updated.append(asset.id)
            if (asset.grade, asset.sub_grade) != (current.grade, current.sub_grade):
                change = GradeChange(
                    asset.id,
                    None,
                    (current.grade, current.sub_grade),
                    (asset.grade, asset.sub_grade),
                    f"catalog file {source}"[:500],
                    actor.label,
                    now,
                )
                self.audit.record(
                    audit_draft(
                        now=now,
                        kind="admin.classification_changed",
                        actor=actor.label,
                        subject=asset.id,
                        outcome="success",
                        field=None,
                        before={"grade": current.grade, "sub_grade": current.sub_grade},
                        after={"grade": asset.grade, "sub_grade": asset.sub_grade},
                        reason=change.reason,
                    )
                )
                self.store.set_grade(change)
                regraded.append(asset.id)
        return ImportReport(len(departments), tuple(added), tuple(updated), tuple(regraded))
