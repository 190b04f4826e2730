"""Dependencies of the API handlers: services from `app.state`, typed as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from soc_api.api.app import ApiServices


def get_services(request: Request) -> ApiServices:
    """The services `create_app` was given."""
    services: ApiServices = request.app.state.services
    return services


Services = Annotated[ApiServices, Depends(get_services)]


def require_health(services: Services) -> ApiServices:
    """Services with a health tracker, else 503."""
    if services.health is None:
        raise HTTPException(status_code=503, detail="source health is not tracked by this process")
    return services


HealthServices = Annotated[ApiServices, Depends(require_health)]
