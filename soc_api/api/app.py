"""App factory: the API is a thin shell over services built by the caller (composition root).

    app = create_app(ApiServices(ingest=HttpIngest(...), health=SharedHealth(tracker), ...))

One router per resource (`ingest`, `probes`, and `sources`, `metrics` only with a health tracker and
a scrape token, which alone may read them: in `datasoc run` the API for people serves those behind
permissions, `soc_api.webapi`); handlers get
services through the `Annotated` dependencies of `soc_api.api.deps`, so tests swap them with
`app.dependency_overrides`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import FastAPI
from prometheus_client.registry import Collector

from collectors.inputs.delivery import SharedHealth
from collectors.inputs.http import HttpIngest
from collectors.inputs.tokens import TokenAuthority
from soc_api.supervisor import Readiness


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _uuid_hex() -> str:
    return uuid.uuid4().hex


@dataclass
class ApiServices:
    """What the API serves; the clock and id source are here so handlers never read them inline."""

    ingest: HttpIngest | None = None
    health: SharedHealth | None = None
    metrics: Sequence[Collector] = ()
    #: The scrape token (`api.scrape_token`) that alone may read `/metrics` and `/api/v1/sources` on
    #: this port (a process without the API for people); None: they are not served here.
    scrape: TokenAuthority | None = None
    #: The supervised steps' readiness (`/readyz`); None in a process without supervised steps.
    readiness: Callable[[], Readiness] | None = None
    clock: Callable[[], datetime] = field(default=_utc_now)
    new_id: Callable[[], str] = field(default=_uuid_hex)


def create_app(services: ApiServices) -> FastAPI:
    """The FastAPI application over `services` (routers mounted only for the services present)."""
    from soc_api.api import ingest, metrics, probes, sources

    app = FastAPI(title="datasoc", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.services = services
    if services.ingest is not None:
        app.include_router(ingest.router)
    # Else the API for people serves them behind permissions; here only to the scrape token.
    if services.health is not None and services.scrape is not None:
        app.include_router(sources.router)
        app.include_router(metrics.router)
    app.include_router(probes.router)
    return app
