"""Pre-approval (事前管审批): access requests, approvers' decisions under the versioned policy, grants.

A data user requests assets and fields with a purpose, legal basis, region, window, record cap and
whether to export (`submit`). The request is graded by the most sensitive asset or field it names and
decided under the policy version in force when it was made (`soc_api.governance.policy`). Approvers
decide (`decide`): only a person whose decision would count may decide (the policy says whose would:
`policy.eligible`), nobody decides twice, and the requester never decides. Once the policy is
satisfied the grant is issued in the same transaction that closes the request; a rejection closes it
too. Eligible approvers are notified (the console's inbox now, the alerting channels once they
exist: `Notifier`). Every step is a ledger entry carrying `approval.id`, so the ledger's grant index
selects the whole story of a grant, its accesses included.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from datasoc.event import format_timestamp
from datasoc.grants import Grant
from soc_api.governance.access_store import AccessStore
from soc_api.governance.errors import ConflictError, ForbiddenError, InvalidError, SeparationOfDutiesError
from soc_api.governance.forms import decision_to_dict, request_to_dict
from soc_api.governance.policy import (
    APPROVER_ROLES,
    DEFAULT_POLICY,
    GRADES,
    Approver,
    Decision,
    PolicyRequest,
    SeparationOfDuties,
    eligible,
    policy_from_dict,
)
from soc_api.governance.records import DecisionRecord, GrantRecord, RequestRecord, RequestTerms, text
from soc_api.governance.store import CatalogStore
from soc_api.identity.actors import Actor
from soc_api.identity.audit import AuditSink, audit_draft, audited
from soc_api.identity.errors import IdentityError
from soc_api.identity.roles import Role
from soc_api.identity.store import IdentityStore


class Notifier(Protocol):
    """Tells approvers a request awaits them (the console's inbox; later the alerting channels)."""

    def notify(self, account_ids: Sequence[str], request: RequestRecord, reason: str, now: datetime) -> None:
        """Notify each account once per request."""
        ...


class InboxNotifier:
    """Notifications kept in the state store for the console's inbox."""

    def __init__(self, store: AccessStore) -> None:
        self.store = store

    def notify(self, account_ids: Sequence[str], request: RequestRecord, reason: str, now: datetime) -> None:
        self.store.notify(account_ids, request.id, reason, now)


class TrailFigures(Protocol):
    """What the ledger knows of a person's and a grant's accesses (`soc_api.governance.review`)."""

    def violations(self, user: str) -> int:
        """Accesses of `user` the trace found in violation."""
        ...


def new_request_id() -> str:
    """A fresh request number (`SQ-` and 12 hex digits)."""
    return "SQ-" + secrets.token_hex(6).upper()


class AccessService:
    """Requests, decisions and the policy (see module docstring)."""

    def __init__(
        self,
        store: AccessStore,
        catalog: CatalogStore,
        identity: IdentityStore,
        audit: AuditSink,
        *,
        new_id: Callable[[], str] = new_request_id,
        notifier: Notifier | None = None,
        trail: TrailFigures | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.identity = identity
        self.audit = audit
        self._new_id = new_id
        self.notifier: Notifier = notifier or InboxNotifier(store)
        self.trail = trail

    # ---- the policy ----

    def policy(self, version: int | None = None) -> tuple[int, SeparationOfDuties]:
        """A stored policy version (the latest when None); version 0 is the built-in `DEFAULT_POLICY`."""
        if version == 0:
            return 0, policy_from_dict(DEFAULT_POLICY)
        found = self.store.policy(version)
        if found is None:
            if version is not None:
                raise InvalidError(f"没有策略版本 {version} / no policy version {version}")
            return 0, policy_from_dict(DEFAULT_POLICY)
        return found[0], policy_from_dict(found[1])

    def set_policy(self, actor: Actor, document: Any, *, note: str, now: datetime) -> int:
        """Store a new policy version (a security administrator, or the host's operator); requests
        already made keep the version they were made under."""
        if actor.kind != "cli" and Role.SECURITY_ADMIN not in actor.roles:
            self._deny(
                actor,
                "approval.policy_changed",
                "policy",
                ForbiddenError(
                    "审批策略由安全管理员维护 / a security administrator sets the approval policy"
                ),
                now,
            )
        policy = policy_from_dict(document)
        current = self.store.policy()
        version = (current[0] if current else 0) + 1
        why = text(note, "note", limit=500)
        draft = audit_draft(
            now=now,
            kind="approval.policy_changed",
            actor=actor.label,
            subject="policy",
            outcome="success",
            version=version,
            document=policy.to_dict(),
            note=why,
        )
        audited(
            self.audit, draft, lambda: self.store.add_policy(version, policy.to_dict(), actor.label, why, now)
        )
        return version

    # ---- helpers ----

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

    def _grade(self, terms: RequestTerms) -> tuple[str, int | None, frozenset[str]]:
        """Highest grade over the assets and the fields requested, and the owning departments."""
        ranks: list[tuple[int, int]] = []
        owners: set[str] = set()
        meta = self.catalog.meta() or {}
        regions = {d.get("name") for d in meta.get("districts", [])}
        if terms.terms.region is not None and regions and terms.terms.region not in regions:
            raise InvalidError(f"region: 未知地域 {terms.terms.region} / not a district of the network plan")
        for asset_id, fields in terms.terms.assets.items():
            asset = self.catalog.find_asset(asset_id)
            if asset is None or asset.lifecycle != "published":
                raise InvalidError(
                    f"assets.{asset_id}: 没有可申请的该数据资源 / no published asset {asset_id!r}"
                )
            owners.add(asset.owner)
            ranks.append((GRADES.index(asset.grade), asset.sub_grade or 0))
            names = {f.name for f in asset.fields}
            unknown = sorted((fields or frozenset()) - names)
            if unknown:
                raise InvalidError(f"assets.{asset_id}: 没有字段 {unknown} / no such fields")
            for f in asset.fields:
                if f.grade is not None and (fields is None or f.name in fields):
                    ranks.append((GRADES.index(f.grade), f.sub_grade or 0))
        top, sub = max(ranks)
        grade = GRADES[top]
        return grade, (sub or None) if grade == "general" else None, frozenset(owners)

    def _approver(self, account_id: str, username: str, roles: Iterable[str], at: datetime) -> Approver:
        return Approver(account_id, username, frozenset(roles), self.catalog.departments_of(account_id), at)

    def _policy_request(self, record: RequestRecord) -> PolicyRequest:
        return PolicyRequest(
            id=record.id,
            requester_id=record.requester_id,
            grade=record.grade,
            owners=record.owners,
            record_cap=record.terms.terms.record_cap,
            export=record.terms.terms.export,
            sub_grade=record.sub_grade,
            approvals=tuple(
                Approver(d.account_id, d.username, d.roles, d.departments, d.at)
                for d in record.decisions
                if d.decision == "approve"
            ),
        )

    def evaluate(self, record: RequestRecord, now: datetime) -> Decision:
        """What the request's policy version says of its approvals so far."""
        _, policy = self.policy(record.policy_version)
        return policy.check(self._policy_request(record), now)

    def candidates(self) -> list[Approver]:
        """Every enabled account holding an approving role, as the policy would see it."""
        seen: dict[str, Approver] = {}
        for role in sorted(APPROVER_ROLES):
            after: tuple[str, str] | None = None
            while True:
                page = self.identity.page(
                    limit=200,
                    after=after,
                    sort="username",
                    descending=False,
                    username_prefix=None,
                    role=Role(role),
                    disabled=False,
                )
                for account in page:
                    if account.id not in seen:
                        roles = [r.value for r in account.roles]
                        seen[account.id] = self._approver(
                            account.id, account.username, roles, account.created_at
                        )
                if len(page) < 200:
                    break
                after = (page[-1].username, page[-1].id)
        return list(seen.values())

    def _notify_eligible(self, record: RequestRecord, now: datetime, reason: str) -> None:
        _, policy = self.policy(record.policy_version)
        request = self._policy_request(record)
        who = [c.account_id for c in self.candidates() if eligible(policy, request, c, now)]
        if who:
            self.notifier.notify(who, record, reason, now)

    # ---- requests ----

    def submit(
        self, actor: Actor, terms: RequestTerms, *, now: datetime, request_id: str | None = None
    ) -> RequestRecord:
        """A person's request (`request_id`: the number to use, else a new one); issued at once when the
        policy needs nobody's approval (the auto-approval rule), else the eligible approvers are notified."""
        number = request_id or self._new_id()
        if actor.kind != "user":
            self._deny(
                actor,
                "approval.requested",
                number,
                ForbiddenError("申请须由本人提出 / a person requests access for themselves"),
                now,
            )
        grade, sub, owners = self._grade(terms)
        version, _ = self.policy()
        record = RequestRecord(
            id=number,
            requester_id=actor.id,
            requester=actor.name,
            terms=terms,
            grade=grade,
            sub_grade=sub,
            owners=owners,
            policy_version=version,
            status="pending",
            created_at=now,
        )
        draft = audit_draft(
            now=now,
            kind="approval.requested",
            actor=actor.label,
            subject=number,
            outcome="success",
            **{"approval.id": number},
            requester=actor.name,
            terms=terms.to_dict(),
            grade=grade,
            sub_grade=sub,
            owners=sorted(owners),
            policy_version=version,
            retroactive=record.retroactive,
        )
        audited(self.audit, draft, lambda: self.store.add_request(record))
        decision = self.evaluate(record, now)
        if decision.satisfied:
            self._issue(record, decision, now)
        else:
            self._notify_eligible(record, now, "new_request")
        return self.store.request(number)

    def _issue(self, record: RequestRecord, decision: Decision, now: datetime) -> None:
        names = {d.account_id: d.username for d in record.decisions}
        approvers = [names[a] for a in sorted(decision.counted) if a in names]
        grant = Grant.issue(
            record.id, record.requester, record.terms.terms, purpose=record.terms.purpose, approvers=approvers
        )
        draft = audit_draft(
            now=now,
            kind="grant.issued",
            actor="system:governance",
            subject=record.id,
            outcome="success",
            **{"approval.id": record.id},
            user=record.requester,
            terms=record.terms.terms.to_dict(),
            approvers=approvers,
            automatic=decision.automatic,
            policy_version=record.policy_version,
        )
        issued = GrantRecord(grant, "active", "request", now, now)
        audited(self.audit, draft, lambda: self.store.close_request(record.id, "approved", now, grant=issued))

    def decide(
        self, actor: Actor, request_id: str, *, approve: bool, note: str = "", now: datetime
    ) -> RequestRecord:
        """One approver's decision (see module docstring); refusals are ledgered as `denied`."""
        kind = "approval.approved" if approve else "approval.rejected"
        record = self.store.request(request_id)
        ids = {"approval.id": request_id}
        if record.status != "pending":
            self._deny(
                actor,
                kind,
                request_id,
                ConflictError(f"申请已{record.status} / the request is {record.status}"),
                now,
                **ids,
            )
        if actor.kind != "user":
            self._deny(
                actor, kind, request_id, ForbiddenError("审批须由本人作出 / a person decides"), now, **ids
            )
        if actor.id == record.requester_id:
            self._deny(
                actor,
                kind,
                request_id,
                SeparationOfDutiesError("申请人不得审批自己的申请 / a requester never decides"),
                now,
                **ids,
            )
        if any(d.account_id == actor.id for d in record.decisions):
            self._deny(
                actor,
                kind,
                request_id,
                SeparationOfDutiesError("同一人对一项申请只能决定一次 / one decision per person"),
                now,
                **ids,
            )
        approver = self._approver(actor.id, actor.name, [r.value for r in actor.roles], now)
        _, policy = self.policy(record.policy_version)
        if not eligible(policy, self._policy_request(record), approver, now):
            needs = "; ".join(policy.check(self._policy_request(record), now).needs)
            self._deny(
                actor,
                kind,
                request_id,
                ForbiddenError(f"您的审批不计入此申请 / your decision does not count here ({needs})"),
                now,
                **ids,
            )
        why = text(note, "note", limit=1000, optional=True)
        decided = DecisionRecord(
            actor.id,
            actor.name,
            approver.roles,
            approver.departments,
            "approve" if approve else "reject",
            why,
            now,
        )
        draft = audit_draft(
            now=now,
            kind=kind,
            actor=actor.label,
            subject=request_id,
            outcome="success",
            **ids,
            note=why,
            roles=sorted(approver.roles),
            departments=sorted(approver.departments),
        )
        audited(self.audit, draft, lambda: self.store.add_decision(request_id, decided))
        self.store.mark_read(actor.id, request_id, now)
        record = self.store.request(request_id)
        if not approve:
            self.store.close_request(request_id, "rejected", now)
        else:
            decision = self.evaluate(record, now)
            if decision.satisfied:
                self._issue(record, decision, now)
            else:
                self._notify_eligible(record, now, "more_approvals_needed")
        return self.store.request(request_id)

    def withdraw(self, actor: Actor, request_id: str, *, now: datetime) -> RequestRecord:
        """The requester withdraws a pending request."""
        record = self.store.request(request_id)
        if actor.kind != "user" or actor.id != record.requester_id:
            self._deny(
                actor,
                "approval.withdrawn",
                request_id,
                ForbiddenError("仅申请人可以撤回 / only the requester withdraws"),
                now,
                **{"approval.id": request_id},
            )
        draft = audit_draft(
            now=now,
            kind="approval.withdrawn",
            actor=actor.label,
            subject=request_id,
            outcome="success",
            **{"approval.id": request_id},
        )
        audited(self.audit, draft, lambda: self.store.close_request(request_id, "withdrawn", now))
        return self.store.request(request_id)

    # ---- reads ----

    def inbox(self, actor: Actor, now: datetime, *, limit: int = 200) -> list[RequestRecord]:
        """Pending requests this person's decision would count toward, oldest first."""
        if actor.kind != "user":
            return []
        approver = self._approver(actor.id, actor.name, [r.value for r in actor.roles], now)
        found: list[RequestRecord] = []
        before: tuple[str, str] | None = None
        while len(found) < limit:
            page = self.store.requests(status="pending", before=before, limit=200)
            for record in page:
                if actor.id == record.requester_id or any(d.account_id == actor.id for d in record.decisions):
                    continue
                _, policy = self.policy(record.policy_version)
                if eligible(policy, self._policy_request(record), approver, now):
                    found.append(record)
            if len(page) < 200:
                break
            before = (format_timestamp(page[-1].created_at), page[-1].id)
        return sorted(found, key=lambda r: (r.created_at, r.id))[:limit]

    def detail(self, request_id: str, now: datetime) -> dict[str, Any]:
        """A request as an approver sees it: its terms and decisions, what the policy still needs, the
        requester's history and the latest discovery evidence of each asset requested."""
        record = self.store.request(request_id)
        past = [
            r for r in self.store.requests(requester_id=record.requester_id, limit=1000) if r.id != record.id
        ]
        grants = self.store.grants(user=record.requester)
        history: dict[str, Any] = {
            "requests": {
                s: sum(1 for r in past if r.status == s)
                for s in ("pending", "approved", "rejected", "withdrawn")
            },
            "grants": {s: sum(1 for g in grants if g.status == s) for s in ("active", "revoked", "expired")},
            "violations": self.trail.violations(record.requester) if self.trail is not None else None,
        }
        evidence = {a: self.catalog.latest_discovery(a) for a in sorted(record.terms.terms.assets)}
        return {
            **request_to_dict(record),
            "decision": decision_to_dict(self.evaluate(record, now)),
            "requester_history": history,
            "evidence": evidence,
            "notified": self.store.notified_at(record.id),
        }

    def requests(self, **query: Any) -> list[RequestRecord]:
        """Requests, newest first (see `AccessStore.requests`)."""
        return self.store.requests(**query)


def terms_from_mapping(data: Mapping[str, Any]) -> RequestTerms:
    """A request body in its JSON form (see `RequestTerms.from_dict`)."""
    return RequestTerms.from_dict(data)
