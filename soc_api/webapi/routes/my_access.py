"""`/api/v1/me/access`: a signed-in person's own requests, grants and notifications (self-service).

No permission is needed beyond being signed in: everyone sees only their own. A token is not a person
and has none.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from soc_api.webapi.app import API_PREFIX
from soc_api.webapi.deps import CurrentUser, Services
from soc_api.webapi.routes.access import RequestPublic, public
from soc_api.webapi.routes.catalog import governance
from soc_api.webapi.routes.grants import GrantPublic
from soc_api.webapi.routes.grants import public as grant_public

router = APIRouter(prefix=f"{API_PREFIX}/me/access", tags=["me"])


class Notification(BaseModel):
    """A request that awaited your decision."""

    id: int
    request_id: str
    reason: str
    created_at: str
    read_at: str | None


@router.get("/requests", response_model=list[RequestPublic])
def my_requests(actor: CurrentUser, services: Services) -> list[RequestPublic]:
    """Your access requests (我的申请), newest first."""
    if actor.kind != "user":
        return []
    return [public(r) for r in governance(services).access.requests(requester_id=actor.id, limit=200)]


@router.post("/requests/{request_id}/withdraw", response_model=RequestPublic)
def withdraw(
    request_id: Annotated[str, Field(max_length=64)], actor: CurrentUser, services: Services
) -> RequestPublic:
    """Withdraw one of your pending requests (撤回)."""
    return public(governance(services).access.withdraw(actor, request_id, now=services.clock()))


@router.get("/grants", response_model=list[GrantPublic])
def my_grants(actor: CurrentUser, services: Services) -> list[GrantPublic]:
    """Your grants (我的授权) with what you have used of them."""
    if actor.kind != "user":
        return []
    return [grant_public(r, services) for r in governance(services).grants.grants(user=actor.name)]


@router.get("/notifications", response_model=list[Notification])
def my_notifications(actor: CurrentUser, services: Services) -> list[dict[str, Any]]:
    """Requests that awaited your decision (审批通知), newest first."""
    if actor.kind != "user":
        return []
    return governance(services).access.store.notifications(actor.id)
