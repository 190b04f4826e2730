"""One router per resource; `ROUTERS` is the explicit list `create_api` mounts."""

from __future__ import annotations

from fastapi import APIRouter

from soc_api.webapi.routes import (
    access,
    alerts,
    audit,
    catalog,
    events,
    grants,
    me,
    my_access,
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
    # The console's pages (issue 15); `alerts` is interim until issue 17's alert store.
    overview.router,
    alerts.router,
    rules.router,
    verify.router,
]
