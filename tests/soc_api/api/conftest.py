"""An ingest API over a real spool in a temporary directory, with a fixed clock and counting ids."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from benchmarks.ingest import SCRAPE_TOKEN
from collectors.health import HealthMetrics, HealthTracker, SourceConfig
from collectors.inputs.backpressure import BackPressureConfig, LagMonitor
from collectors.inputs.delivery import Delivery, SharedHealth
from collectors.inputs.guard import AuthThrottle, ThrottleConfig
from collectors.inputs.http import HttpIngest, HttpIngestConfig
from collectors.inputs.idempotency import RecentIds
from collectors.inputs.metrics import InputMetrics
from collectors.inputs.tokens import TokenGrant, TokenStore
from collectors.parsers import PARSERS
from collectors.security import SecurityEvent, SecurityEvents
from datasoc.transport import Spool
from soc_api.api import ApiServices, create_app

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
GW_TOKEN = "gw-token-0123456789abcdef"
HOST_TOKEN = "host-token-0123456789abcdef"


@dataclass
class Api:
    client: TestClient
    spool: Spool
    ingest: HttpIngest
    lag: LagMonitor
    security: SecurityEvents
    security_events: list[SecurityEvent] = field(default_factory=list)

    def post(self, body: bytes, *, token: str | None = GW_TOKEN, **headers: str) -> Any:
        sent = {k.replace("_", "-"): v for k, v in headers.items()}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        return self.client.post("/api/v1/ingest", content=body, headers=sent)


def build_api(
    tmp_path: Path, *, lag_limit: int = 1_000_000, scrape: bool = True, **config: Any
) -> Iterator[Api]:
    spool = Spool.open(tmp_path / "spool")
    tracker = HealthTracker({"gw-1": SourceConfig("gw-1", timedelta(minutes=5))})
    health = SharedHealth(tracker)
    lag = LagMonitor(spool, BackPressureConfig(limit=lag_limit, refresh=timedelta(0), retry_after_seconds=7))
    tokens = TokenStore.from_tokens(
        {GW_TOKEN: TokenGrant("gw-1"), HOST_TOKEN: TokenGrant("host-1", "linux_syslog")}
    )
    events: list[SecurityEvent] = []
    security = SecurityEvents()

    def sink(event: SecurityEvent) -> None:
        events.append(event)
        security.push(event)

    ingest = HttpIngest(
        tokens=tokens,
        delivery=Delivery(spool, health=health),
        parsers={"linux_syslog": PARSERS["linux_syslog"](collector="http:linux_syslog")},
        lag=lag,
        config=HttpIngestConfig(**config),
        on_security_event=sink,
        throttle=AuthThrottle(ThrottleConfig(max_failures=5)),
        recent=RecentIds(10_000),
    )
    counter = itertools.count(1)
    services = ApiServices(
        ingest=ingest,
        health=health,
        metrics=[HealthMetrics(tracker), InputMetrics(clock=lambda: NOW, http=ingest, lag=lag)],
        scrape=TokenStore.from_tokens({SCRAPE_TOKEN: TokenGrant("scrape")}) if scrape else None,
        clock=lambda: NOW,
        new_id=lambda: f"id-{next(counter):06d}",
    )
    with TestClient(create_app(services), raise_server_exceptions=True) as client:
        yield Api(client, spool, ingest, lag, security, events)
    spool.close()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield from build_api(
        tmp_path, max_body_bytes=64 * 1024, max_decoded_bytes=256 * 1024, max_record_bytes=4096
    )
