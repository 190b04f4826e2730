"""`/api/v1/access`: access requests, approvers' decisions and inbox, the approval policy.

Requests are made by data users (`access.request`) for themselves; decisions by approvers under the
policy version the request was made under (`soc_api.governance.access`): the requester never decides,
nobody decides twice, and only a person whose decision counts may decide. Each step is ledgered with
the request's number as `approval.id`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from soc_api.governance.forms import request_to_dict
from soc_api.governance.records import RequestRecord, RequestTerms
from soc_api.identity.actors import Actor
from soc_api.identity.roles import Permission
from soc_api.webapi.app import API_PREFIX
from soc_api.webapi.deps import Services, require
from soc_api.webapi.pagination import Cursor, Instant, Limit, Page, decode_cursor, encode_cursor
from soc_api.webapi.routes.catalog import AssetId, governance

router = APIRouter(prefix=f"{API_PREFIX}/access", tags=["access"])
FieldName = Annotated[str, Field(min_length=1, max_length=64)]
Status = Literal["pending", "approved", "rejected", "withdrawn"]


class RequestCreate(BaseModel):
    """An access request (数据使用申请): assets and fields (null: every field), purpose, legal basis,
    region, window, record cap and export."""

    assets: Annotated[
        dict[AssetId, Annotated[list[FieldName], Field(max_length=500)] | None],
        Field(min_length=1, max_length=50),
    ]
    purpose: Annotated[str, Field(min_length=1, max_length=2000)]
    legal_basis: Annotated[str, Field(min_length=1, max_length=2000)]
    region: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    valid_from: Instant
    valid_to: Instant
    record_cap: Annotated[int, Field(ge=0, le=2**53 - 1)] | None = None
    export: bool = False

    def terms(self) -> RequestTerms:
        """The validated terms (`InvalidError` names what is wrong)."""
        data = self.model_dump()
        data["valid_from"] = self.valid_from.isoformat()
        data["valid_to"] = self.valid_to.isoformat()
        return RequestTerms.from_dict(data)


class DecisionPublic(BaseModel):
    """One person's decision."""

    approver: str
    decision: str
    roles: list[str]
    departments: list[str]
    note: str
    at: str


class RequestPublic(BaseModel):
    """A request with its decisions so far."""

    id: str
    requester: str
    status: str
    grade: str
    sub_grade: int | None
    owners: list[str]
    policy_version: int
    retroactive: bool
    created_at: str
    decided_at: str | None
    terms: dict[str, Any]
    decisions: list[DecisionPublic]


class PolicyDecision(BaseModel):
    """What the request's policy says now."""

    satisfied: bool
    counted: list[str]
    needs: list[str]
    refused: list[str]
    automatic: str | None


class RequestDetail(RequestPublic):
    """A request as an approver sees it: what is still needed, the requester's history, the discovery
    evidence of each asset requested, and who was notified when."""

    decision: PolicyDecision
    requester_history: dict[str, Any]
    evidence: dict[str, Any]
    notified: dict[str, str]


class DecisionCreate(BaseModel):
    """Approve or reject, with a note."""

    decision: Literal["approve", "reject"]
    note: Annotated[str, Field(max_length=1000)] = ""


class PolicyPublic(BaseModel):
    """The approval policy in force (version 0 is the built-in one)."""

    version: int
    document: dict[str, Any]


class PolicyChange(BaseModel):
    """A new policy version, and why."""

    document: dict[str, Any]
    note: Annotated[str, Field(min_length=1, max_length=500)]


def public(record: RequestRecord) -> RequestPublic:
    """The API view of a request."""
    return RequestPublic.model_validate(request_to_dict(record))


@router.post("/requests", status_code=201, response_model=RequestPublic)
def submit_request(
    body: RequestCreate, actor: Annotated[Actor, require(Permission.ACCESS_REQUEST)], services: Services
) -> RequestPublic:
    """Request access (提交申请) for yourself; approved at once only under the auto-approval rule."""
    record = governance(services).access.submit(actor, body.terms(), now=services.clock())
    return public(record)


@router.get("/requests", response_model=Page[RequestPublic])
def list_requests(
    actor: Annotated[Actor, require(Permission.APPROVALS_READ)],
    services: Services,
    status: Status | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[RequestPublic]:
    """Requests, newest first."""
    before = decode_cursor(cursor, (str, str))
    records = governance(services).access.requests(
        status=status, before=(before[0], before[1]) if before else None, limit=limit + 1
    )
    more = len(records) > limit
    records = records[:limit]
    last = records[-1] if records else None
    return Page[RequestPublic](
        items=[public(r) for r in records],
        next_cursor=encode_cursor([request_to_dict(last)["created_at"], last.id]) if more and last else None,
    )


@router.get("/requests/{request_id}", response_model=RequestDetail)
def get_request(
    request_id: Annotated[str, Field(max_length=64)],
    actor: Annotated[Actor, require(Permission.APPROVALS_READ)],
    services: Services,
) -> RequestDetail:
    """A request with what its policy still needs, the requester's history and the discovery evidence."""
    return RequestDetail.model_validate(governance(services).access.detail(request_id, services.clock()))


@router.post("/requests/{request_id}/decision", response_model=RequestPublic)
def decide(
    request_id: Annotated[str, Field(max_length=64)],
    body: DecisionCreate,
    actor: Annotated[Actor, require(Permission.APPROVALS_DECIDE)],
    services: Services,
) -> RequestPublic:
    """Approve or reject (审批): refused when you are the requester, decided already, or do not count."""
    record = governance(services).access.decide(
        actor, request_id, approve=body.decision == "approve", note=body.note, now=services.clock()
    )
    return public(record)


@router.get("/inbox", response_model=list[RequestPublic])
def inbox(
    actor: Annotated[Actor, require(Permission.APPROVALS_DECIDE)], services: Services
) -> list[RequestPublic]:
    """Pending requests your decision would count toward (待办审批), oldest first."""
    return [public(r) for r in governance(services).access.inbox(actor, services.clock())]


@router.get("/policy", response_model=PolicyPublic)
def get_policy(
    actor: Annotated[Actor, require(Permission.APPROVALS_READ)], services: Services
) -> PolicyPublic:
    """The approval policy in force."""
    version, policy = governance(services).access.policy()
    return PolicyPublic(version=version, document=policy.to_dict())


@router.get("/policy/versions", response_model=list[dict[str, Any]])
def policy_versions(
    actor: Annotated[Actor, require(Permission.POLICIES_MANAGE)], services: Services
) -> list[dict[str, Any]]:
    """Every stored policy version, newest first (version 0, the built-in one, is not stored)."""
    return governance(services).access.store.policies()


@router.put("/policy", response_model=PolicyPublic)
def set_policy(
    body: PolicyChange, actor: Annotated[Actor, require(Permission.POLICIES_MANAGE)], services: Services
) -> PolicyPublic:
    """Store a new policy version (a security administrator); requests made before keep theirs."""
    access = governance(services).access
    version = access.set_policy(actor, body.document, note=body.note, now=services.clock())
    return PolicyPublic(version=version, document=access.policy(version)[1].to_dict())
