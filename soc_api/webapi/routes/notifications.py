"""`/api/v1/notifications` and `/api/v1/suppressions`: channels (never their secrets), routing rules,
the outbox with its dead letters and the resend action, the SM2 push key's public half, and the
suppression exceptions and allow-lists (owner, reason, expiry)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Path, Query, Response

from soc_api.alerting.routing import Route
from soc_api.alerting.suppression import Condition
from soc_api.identity.actors import Actor
from soc_api.identity.errors import NotFoundError
from soc_api.identity.roles import Permission
from soc_api.webapi.alerting_schemas import (
    ChannelPublic,
    NotificationPublic,
    RouteBody,
    RoutePublic,
    SuppressionCreate,
    SuppressionPublic,
)
from soc_api.webapi.app import API_PREFIX
from soc_api.webapi.deps import Services, require
from soc_api.webapi.pagination import Cursor, Limit, Page, decode_cursor, encode_cursor
from soc_api.webapi.routes.alerts import alerting_of

router = APIRouter(prefix=API_PREFIX, tags=["notifications"])
RouteName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]


@router.get("/notifications/channels", response_model=list[ChannelPublic])
def list_channels(
    who: Annotated[Actor, require(Permission.ALERT_ROUTING_MANAGE)], services: Services
) -> list[ChannelPublic]:
    """Configured channels (通知渠道): name, type, receipt mode, target host (no secret)."""
    channels = alerting_of(services).channels.values()
    return [ChannelPublic(name=c.name, type=c.type, receipt=c.receipt, target=c.target) for c in channels]


@router.get("/notifications/routes", response_model=list[RoutePublic])
def list_routes(
    who: Annotated[Actor, require(Permission.ALERT_ROUTING_MANAGE)], services: Services
) -> list[RoutePublic]:
    """Routing rules (路由规则): configured in settings (read-only), then made here."""
    return [RoutePublic.of(r) for r in alerting_of(services).routes()]


@router.put("/notifications/routes/{name}", response_model=RoutePublic)
def put_route(
    name: RouteName,
    body: RouteBody,
    who: Annotated[Actor, require(Permission.ALERT_ROUTING_MANAGE)],
    services: Services,
    if_none_match: Annotated[
        Literal["*"] | None,
        Header(description="`*`: create only; 412 when a route of this name exists (RFC 9110 §13.1.2)"),
    ] = None,
) -> RoutePublic:
    """Create or replace a routing rule by name (with `If-None-Match: *`, create only)."""
    route = Route.from_dict({**body.model_dump(), "id": "", "name": name})
    saved = alerting_of(services).put_route(
        who, route, now=services.clock(), create_only=if_none_match == "*"
    )
    return RoutePublic.of(saved)


@router.delete("/notifications/routes/{name}", status_code=204)
def delete_route(
    name: RouteName, who: Annotated[Actor, require(Permission.ALERT_ROUTING_MANAGE)], services: Services
) -> Response:
    """Remove a routing rule made here."""
    alerting_of(services).delete_route(who, name, now=services.clock())
    return Response(status_code=204)


@router.get("/notifications", response_model=Page[NotificationPublic])
def list_notifications(
    who: Annotated[Actor, require(Permission.ALERTS_READ)],
    services: Services,
    status: Literal["pending", "delivered", "dead"] | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[NotificationPublic]:
    """The outbox (通知发件箱), newest first; `status=dead` lists the dead letters."""
    before = decode_cursor(cursor, (int,))
    rows = alerting_of(services).notifications(
        status=status, before_id=before[0] if before else None, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[NotificationPublic](
        items=[NotificationPublic.of(r) for r in rows],
        next_cursor=encode_cursor([rows[-1].id]) if more and rows else None,
    )


@router.post("/notifications/{notification_id}/resend", response_model=NotificationPublic)
def resend_notification(
    notification_id: Annotated[int, Path(ge=1, le=2**62)],
    who: Annotated[Actor, require(Permission.ALERTS_HANDLE)],
    services: Services,
) -> NotificationPublic:
    """Send a dead-lettered notification again (重发), under its idempotency key."""
    return NotificationPublic.of(alerting_of(services).resend(who, notification_id, now=services.clock()))


@router.get(
    "/notifications/push-key",
    response_class=Response,
    responses={
        200: {"content": {"application/x-pem-file": {"schema": {"type": "string"}}}, "description": "PEM"}
    },
)
def push_key(who: Annotated[Actor, require(Permission.ALERT_ROUTING_MANAGE)], services: Services) -> Response:
    """The SM2 public key that verifies pushes (X-Datasoc-SM2-Signature), as SPKI PEM."""
    pem = alerting_of(services).push_public_key
    if pem is None:
        raise NotFoundError("no push key: no channel is configured")
    return Response(pem, media_type="application/x-pem-file")


@router.get("/suppressions", response_model=list[SuppressionPublic])
def list_suppressions(
    who: Annotated[Actor, require(Permission.ALERTS_READ)],
    services: Services,
    active: Annotated[bool | None, Query(description="true: in force now only")] = None,
) -> list[SuppressionPublic]:
    """Suppression exceptions and allow-lists (抑制例外), with their hit counts."""
    now = services.clock()
    found = alerting_of(services).suppressions()
    return [SuppressionPublic.of(s, hits) for s, hits in found if active is None or s.active(now) == active]


@router.post("/suppressions", status_code=201, response_model=SuppressionPublic)
def create_suppression(
    body: SuppressionCreate,
    who: Annotated[Actor, require(Permission.SUPPRESSIONS_MANAGE)],
    services: Services,
) -> SuppressionPublic:
    """A new exception (owner, reason and expiry required; ledgered)."""
    conditions = [Condition(c.field, c.op, tuple(c.values)) for c in body.conditions]
    made = alerting_of(services).add_suppression(
        who,
        rule_id=body.rule_id,
        conditions=conditions,
        owner=body.owner,
        reason=body.reason,
        expires_at=body.expires_at,
        now=services.clock(),
    )
    return SuppressionPublic.of(made, 0)


@router.delete("/suppressions/{suppression_id}", status_code=204)
def revoke_suppression(
    suppression_id: Annotated[str, Path(max_length=64)],
    who: Annotated[Actor, require(Permission.SUPPRESSIONS_MANAGE)],
    services: Services,
) -> Response:
    """End a suppression now (ledgered)."""
    alerting_of(services).revoke_suppression(who, suppression_id, now=services.clock())
    return Response(status_code=204)
