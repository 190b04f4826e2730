"""Dependencies of the API handlers: services from `app.state`, typed as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from collectors.inputs.errors import AuthError, IngestError
from soc_api.api.app import ApiServices


def get_services(request: Request) -> ApiServices:
    """The services `create_app` was given."""
    services: ApiServices = request.app.state.services
    return services


Services = Annotated[ApiServices, Depends(get_services)]


def require_scrape(request: Request, services: Services) -> ApiServices:
    """The scrape token's bearer only (401, or 429 after repeated failures from the peer: the
    ingest's throttle and security events, so a denial is counted, logged and ledgered)."""
    scrape = services.scrape
    if scrape is None:  # the routers are mounted only with a scrape token
        raise HTTPException(status_code=404)
    authorization = request.headers.get("authorization")
    now = services.clock()
    try:
        if services.ingest is not None:
            peer = request.client.host if request.client else "unknown"
            services.ingest.authenticate(authorization, peer=peer, now=now, tokens=scrape)
        else:
            scrape.authenticate(authorization, now)
    except IngestError as exc:
        headers = refusal_headers(exc, realm="datasoc-metrics")
        raise HTTPException(status_code=exc.status, detail=exc.reason, headers=headers) from None
    return services


def refusal_headers(exc: IngestError, *, realm: str) -> dict[str, str]:
    """`Retry-After` where the refusal has one, `WWW-Authenticate` for a failed token."""
    headers: dict[str, str] = {}
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    if isinstance(exc, AuthError):
        headers["WWW-Authenticate"] = f'Bearer realm="{realm}"'
    return headers


Scraper = Annotated[ApiServices, Depends(require_scrape)]


def require_health(services: Scraper) -> ApiServices:
    """Services with a health tracker (and the scrape token's bearer), else 503."""
    if services.health is None:
        raise HTTPException(status_code=503, detail="source health is not tracked by this process")
    return services


HealthServices = Annotated[ApiServices, Depends(require_health)]
