"""Dependencies: services, the acting person or token, and one dependency per permission.

    def handler(actor: Annotated[Actor, require(Permission.USERS_READ)], services: Services): ...

`current_actor` takes a Bearer token (API token, or the scrape token) or the session cookie; a
cookie session's state-changing request must carry its `X-CSRF-Token`. `require(p)` returns the
same `Depends` object for the same permission (one dependency per permission); a refusal is
ledgered (`authz.denied`) before the 403.
"""

from __future__ import annotations

import hmac
from functools import cache
from typing import Annotated, Any

from fastapi import Depends, Request

from collectors.inputs.tokens import hash_token
from soc_api.identity.actors import Actor
from soc_api.identity.audit import audit_draft
from soc_api.identity.errors import AuthenticationError, PermissionDeniedError
from soc_api.identity.roles import Permission
from soc_api.webapi.app import ApiServices

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def get_services(request: Request) -> ApiServices:
    """The services `create_api` was given."""
    services: ApiServices = request.app.state.services
    return services


Services = Annotated[ApiServices, Depends(get_services)]


def peer_of(request: Request, services: ApiServices) -> str:
    """The client address (the last hop of `X-Forwarded-For` when a trusted proxy sent it)."""
    host = request.client.host if request.client else "unknown"
    if host in services.config.trusted_proxies:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()[:64] or host
    return host


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthenticationError("Authorization must be 'Bearer <token>'")
    return value.strip()


def _actor(request: Request, services: ApiServices, *, allow_enrol: bool) -> Actor:
    now = services.clock()
    bearer = _bearer(request)
    if bearer is not None:
        digest = services.config.scrape_token_digest
        if digest is not None and hmac.compare_digest(hash_token(bearer), digest):
            return Actor(
                kind="token", id="scrape", name="scrape", permissions=frozenset({Permission.METRICS_READ})
            )
        return services.identity.tokens.authenticate(bearer, now, peer=peer_of(request, services))
    session_id = request.cookies.get(services.config.cookie_name)
    if not session_id:
        raise AuthenticationError("未登录 / not signed in")
    actor = services.identity.signin.authenticate(session_id, now, allow_enrol=allow_enrol)
    if request.method not in _SAFE:
        services.identity.signin.check_csrf(actor, request.headers.get("x-csrf-token"))
    return actor


def current_actor(request: Request, services: Services) -> Actor:
    """The fully signed-in person or a valid token."""
    return _actor(request, services, allow_enrol=False)


def enrolling_actor(request: Request, services: Services) -> Actor:
    """Also a session that must enrol a second factor before anything else."""
    return _actor(request, services, allow_enrol=True)


CurrentUser = Annotated[Actor, Depends(current_actor)]
EnrollingUser = Annotated[Actor, Depends(enrolling_actor)]


@cache
def require(permission: Permission) -> Any:
    """The one dependency that checks `permission` (cached: the same object for every route)."""

    def dependency(request: Request, actor: CurrentUser, services: Services) -> Actor:
        if actor.can(permission):
            return actor
        services.identity.audit.record(
            audit_draft(
                now=services.clock(),
                kind="authz.denied",
                actor=actor.label,
                subject=f"{request.method} {request.url.path}"[:200],
                outcome="denied",
                permission=permission.value,
            )
        )
        raise PermissionDeniedError(
            f"需要权限 {permission.value} / permission {permission.value} is required"
        )

    dependency.permission = permission  # type: ignore[attr-defined]
    dependency.__name__ = f"require_{permission.name.lower()}"
    return Depends(dependency)


def permission_of(call: Any) -> Permission | None:
    """The permission a dependency callable checks (for the route × role test), else None."""
    found = getattr(call, "permission", None)
    return found if isinstance(found, Permission) else None
