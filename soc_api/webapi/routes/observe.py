"""Observability behind permissions: `/api/v1/sources` (source health), `/metrics` (Prometheus,
also readable with the scrape token) and `/api/v1/settings` (the non-secret settings)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel

from soc_api.identity.actors import Actor
from soc_api.identity.errors import NotFoundError
from soc_api.identity.roles import Permission
from soc_api.webapi.app import API_PREFIX
from soc_api.webapi.deps import Services, require

router = APIRouter(tags=["observability"])


class SourcePublic(BaseModel):
    """Health of one source."""

    name: str
    last_seen: datetime | None
    events_per_second: float
    error_rate: float
    bytes_total: int
    accepted_total: int
    rejected_total: int
    silent: bool


@router.get(f"{API_PREFIX}/sources", response_model=list[SourcePublic])
def list_sources(
    who: Annotated[Actor, require(Permission.SOURCES_READ)], services: Services
) -> list[SourcePublic]:
    """Health of every known source (数据源状态), sorted by name."""
    view = services.collector
    if view is None or view.health is None:
        raise NotFoundError("this process runs no collector (source health is not tracked)")
    health = view.health
    with health.lock:
        snapshot = health.tracker.snapshot(health.at(services.clock()))
    return [
        SourcePublic(
            name=s.name,
            last_seen=s.last_seen,
            events_per_second=s.events_per_second,
            error_rate=s.error_rate,
            bytes_total=s.bytes_total,
            accepted_total=s.accepted_total,
            rejected_total=s.rejected_total,
            silent=s.silent,
        )
        for s in snapshot
    ]


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text"}
    },
)
def metrics(who: Annotated[Actor, require(Permission.METRICS_READ)], services: Services) -> Response:
    """Prometheus exposition (a scrape token may read it): source health and input counters."""
    registry = CollectorRegistry(auto_describe=False)
    view = services.collector
    collectors = list(view.metrics) if view is not None else []
    for collector in collectors:
        registry.register(collector)
    if view is not None and view.health is not None:
        with view.health.lock:
            text = generate_latest(registry)
    else:
        text = generate_latest(registry)
    return Response(text, media_type=CONTENT_TYPE_LATEST)


@router.get(f"{API_PREFIX}/settings", response_model=dict[str, Any])
def settings(who: Annotated[Actor, require(Permission.SETTINGS_READ)], services: Services) -> dict[str, Any]:
    """The platform's settings without secrets (配置，不含密钥)."""
    return dict(services.settings_view)
