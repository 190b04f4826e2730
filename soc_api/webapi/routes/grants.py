"""`/api/v1/grants`: grants with their history and usage; revoke, narrow, import a legacy register.

Usage is the trail's count: the cumulative records of the grant's newest access entry in the ledger.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from collectors.approvals import ApprovalRegisterError, approvals_of
from soc_api.governance.errors import InvalidError
from soc_api.governance.forms import grant_to_dict
from soc_api.governance.records import GrantRecord
from soc_api.governance.usage import last_used
from soc_api.identity.actors import Actor
from soc_api.identity.roles import Permission
from soc_api.webapi.app import API_PREFIX, ApiServices
from soc_api.webapi.deps import Services, require
from soc_api.webapi.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from soc_api.webapi.routes.catalog import governance

router = APIRouter(prefix=f"{API_PREFIX}/grants", tags=["grants"])
GrantId = Annotated[str, Field(min_length=1, max_length=64)]
Reason = Annotated[str, Field(min_length=1, max_length=500)]


class GrantPublic(BaseModel):
    """A grant (授权) with its status, current terms and history, and the records used under it."""

    id: str
    user: str
    status: str
    source: str
    purpose: str
    approvers: list[str]
    issued_at: str
    updated_at: str
    terms: dict[str, Any]
    revisions: list[dict[str, Any]]
    used: int | None = None


class Revoke(BaseModel):
    """Why the grant is revoked."""

    reason: Reason


class Narrow(BaseModel):
    """Narrower terms (any of assets, valid_from, valid_to, region, record_cap, export), and why."""

    changes: dict[str, Any]
    reason: Reason


class RegisterImport(BaseModel):
    """Records of a legacy approval register (`approvals.jsonl` lines as objects)."""

    records: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=10_000)]
    source: Annotated[str, Field(min_length=1, max_length=200)] = "api"


class ImportedPublic(BaseModel):
    """Grants added, and ids already known (skipped, never overwritten)."""

    added: list[str]
    skipped: list[str]


def public(record: GrantRecord, services: ApiServices) -> GrantPublic:
    """The API view of a grant, with its usage from the ledger when this process holds it."""
    used = last_used(services.ledger, record.grant.id) if services.ledger is not None else None
    return GrantPublic(**grant_to_dict(record), used=used)


@router.get("", response_model=Page[GrantPublic])
def list_grants(
    actor: Annotated[Actor, require(Permission.GRANTS_READ)],
    services: Services,
    user: Annotated[str | None, Field(max_length=64)] = None,
    status: Literal["active", "revoked", "expired"] | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[GrantPublic]:
    """Grants by id."""
    after = decode_cursor(cursor, (str,))
    records = governance(services).grants.grants(
        user=user, status=status, after=after[0] if after else None, limit=limit + 1
    )
    more = len(records) > limit
    records = records[:limit]
    return Page[GrantPublic](
        items=[public(r, services) for r in records],
        next_cursor=encode_cursor([records[-1].grant.id]) if more and records else None,
    )


@router.get("/{grant_id}", response_model=GrantPublic)
def get_grant(
    grant_id: GrantId, actor: Annotated[Actor, require(Permission.GRANTS_READ)], services: Services
) -> GrantPublic:
    """One grant with its whole history."""
    return public(governance(services).grants.grant(grant_id), services)


@router.post("/{grant_id}/revoke", response_model=GrantPublic)
def revoke_grant(
    grant_id: GrantId,
    body: Revoke,
    actor: Annotated[Actor, require(Permission.GRANTS_MANAGE)],
    services: Services,
) -> GrantPublic:
    """Revoke a grant from now on (撤销授权)."""
    record = governance(services).grants.revoke(actor, grant_id, reason=body.reason, now=services.clock())
    return public(record, services)


@router.post("/{grant_id}/narrow", response_model=GrantPublic)
def narrow_grant(
    grant_id: GrantId,
    body: Narrow,
    actor: Annotated[Actor, require(Permission.GRANTS_MANAGE)],
    services: Services,
) -> GrantPublic:
    """Narrow a grant from now on (收窄授权); anything wider is refused."""
    record = governance(services).grants.narrow(
        actor, grant_id, body.changes, reason=body.reason, now=services.clock()
    )
    return public(record, services)


@router.post("/import", response_model=ImportedPublic)
def import_register(
    body: RegisterImport, actor: Annotated[Actor, require(Permission.GRANTS_MANAGE)], services: Services
) -> ImportedPublic:
    """Import a legacy approval register (existing deployments): new ids become grants."""
    try:
        approvals = approvals_of((f"records[{i}]", r) for i, r in enumerate(body.records))
    except ApprovalRegisterError as exc:
        raise InvalidError(str(exc)) from None
    report = governance(services).grants.import_register(
        actor, approvals, now=services.clock(), source=body.source
    )
    return ImportedPublic(added=list(report.added), skipped=list(report.skipped))
