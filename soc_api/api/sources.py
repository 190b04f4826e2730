"""`GET /api/v1/sources`: per-source health (last seen, events/s, error rate, bytes, silence)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from datasoc.event import format_timestamp
from soc_api.api.deps import HealthServices

router = APIRouter(prefix="/api/v1", tags=["sources"])


@router.get("/sources")
def list_sources(services: HealthServices) -> list[dict[str, Any]]:
    """Health snapshot of every known source, sorted by name."""
    health = services.health
    assert health is not None
    with health.lock:
        now = health.at(services.clock())
        snapshot = health.tracker.snapshot(now)
    return [
        {
            "name": item.name,
            "last_seen": format_timestamp(item.last_seen) if item.last_seen else None,
            "events_per_second": item.events_per_second,
            "error_rate": item.error_rate,
            "bytes_total": item.bytes_total,
            "accepted_total": item.accepted_total,
            "rejected_total": item.rejected_total,
            "silent": item.silent,
        }
        for item in snapshot
    ]
