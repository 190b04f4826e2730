"""One router per resource; `ROUTERS` is the explicit list `create_api` mounts."""

from __future__ import annotations

from fastapi import APIRouter

from soc_api.webapi.routes import (
    access,
    alerts,
    audit,
    bulletins,
    cases,
    catalog,
    events,
    grants,
    me,
    my_access,
    notifications,
    observe,
    overview,
    rules,
    session,
    tokens,
    trail,
    users,
    verify,
)

ROUTERS: list[APIRouter] = [
    session.router,
    me.router,
    users.router,
    tokens.router,
    audit.router,
    events.router,
    observe.router,
    catalog.router,
    access.router,
    grants.router,
    my_access.router,
    trail.router,
    alerts.router,
    cases.router,
    notifications.router,
    bulletins.router,
    # The console's pages (issue 15).
    overview.router,
    rules.router,
    verify.router,
]
