"""`GET /metrics`: Prometheus text exposition of source health and input counters."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from soc_api.api.deps import Scraper

router = APIRouter(tags=["metrics"])


@router.get("/metrics")
def metrics(services: Scraper) -> Response:
    """Every collector the services name, in a registry built per scrape (no global state)."""
    registry = CollectorRegistry(auto_describe=False)
    for collector in services.metrics:
        registry.register(collector)
    if services.health is not None:
        with services.health.lock:
            text = generate_latest(registry)
    else:
        text = generate_latest(registry)
    return Response(text, media_type=CONTENT_TYPE_LATEST)
