"""`create_api(services)`: the `/api/v1` application over services built by the composition root.

Nothing is built at import time; handlers reach services only through `deps`, so tests replace
any of them with `app.dependency_overrides`.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from prometheus_client.registry import Collector

from audit.ledger import Ledger
from collectors.inputs.delivery import SharedHealth
from crypto.recipes import SigningKey
from datasoc.store import EventStore
from soc_api.governance import Governance
from soc_api.identity import Identity

if TYPE_CHECKING:
    from soc_api.alerting.cases import Cases
    from soc_api.alerting.service import Alerting
    from soc_api.webapi.rulesview import RulesView

API_PREFIX = "/api/v1"
OPENAPI_URL = f"{API_PREFIX}/openapi.json"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _uuid_hex() -> str:
    return uuid.uuid4().hex


@dataclass
class CollectorView:
    """What the collector shares with the API once it runs (source health, its metrics)."""

    health: SharedHealth | None = None
    metrics: Sequence[Collector] = ()


@dataclass(frozen=True)
class ApiConfig:
    """HTTP-level settings of the API (from `[api]`)."""

    #: `Secure` on the session cookie; only a development setup on plain-HTTP localhost turns it off.
    cookie_secure: bool = True
    #: Peers whose `X-Forwarded-Proto`/`X-Forwarded-For` are believed (HSTS, client address).
    trusted_proxies: frozenset[str] = frozenset()
    #: `sha256:<hex>` of the Prometheus scrape token (it may read `/metrics` only), or None.
    scrape_token_digest: str | None = None

    @property
    def cookie_name(self) -> str:
        """`__Host-` cookies must be Secure, host-only and on `/` (RFC 6265bis §4.1.3.2)."""
        return "__Host-datasoc_session" if self.cookie_secure else "datasoc_session"


@dataclass
class ApiServices:
    """What the routes need; the clock and id source are here so handlers never read them inline."""

    identity: Identity
    config: ApiConfig = field(default_factory=ApiConfig)
    events: EventStore | None = None
    collector: CollectorView | None = None
    ledger: Ledger | None = None
    #: Signs export manifests (the ledger's SM2 key; it never leaves the process).
    signer: SigningKey | None = None
    #: Alerting and response (alerts, suppressions, routes, the outbox), cases, and bulletins.
    alerting: Alerting | None = None
    cases: Cases | None = None
    #: How long one SSE request of `/alerts/stream` stays open before the client reconnects.
    sse_seconds: float = 25.0
    settings_view: dict[str, object] = field(default_factory=dict)
    #: Data governance (catalog, access requests, grants, trail review); None: not served.
    governance: Governance | None = None
    #: The rule files and the engine's per-rule figures.
    rules: RulesView | None = None
    #: The built console (`index.html` and `assets/`); None: `/` serves nothing.
    console_dir: Path | None = None
    #: Upload cap of `POST /api/v1/audit/verify` (bytes).
    verify_max_bytes: int = 64 << 20
    clock: Callable[[], datetime] = field(default=_utc_now)
    new_id: Callable[[], str] = field(default=_uuid_hex)


def create_api(services: ApiServices) -> FastAPI:
    """The FastAPI application over `services`."""
    from soc_api.webapi.middleware import SecurityMiddleware

    app = _bare_app()
    app.state.services = services
    # Sign-ins past this many wait on the event loop (see routes/session.py). More than the cores:
    # a sign-in also waits for its ledger entry's fsync, and concurrent ones share one commit;
    # argon2 itself is bounded to the cores in `Passwords`.
    app.state.signin_slots = asyncio.Semaphore(4 * (os.cpu_count() or 2))
    _assemble(app)
    if services.console_dir is not None:
        from soc_api.webapi.console import mount_console

        mount_console(app, services.console_dir)
    app.add_middleware(
        SecurityMiddleware, new_id=services.new_id, trusted_proxies=services.config.trusted_proxies
    )
    return app


def _assemble(app: FastAPI) -> None:
    from soc_api.webapi import problems
    from soc_api.webapi.routes import ROUTERS, docs

    problems.install(app)
    for router in ROUTERS:
        app.include_router(router, responses=problems.PROBLEM_RESPONSES)
    docs.install(app)


def openapi_document() -> dict[str, object]:
    """The served OpenAPI document, built without any service (`datasoc schema openapi`; the
    console's typed client is generated from it)."""
    app = _bare_app()
    _assemble(app)
    return app.openapi()


def _bare_app() -> FastAPI:
    return FastAPI(
        title="datasoc API",
        version="1",
        description=(
            "数据安全运营平台 API / datasoc security operations API. Errors are RFC 9457 problem details."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
