"""`GET /healthz` (the process is alive and serving) and `GET /readyz` (every supervised step is
healthy and within its lag bound; otherwise 503 naming each step that is not, and why).

Both are unauthenticated, as load balancers and orchestrators call them; `/readyz` carries the
steps' statuses (state, lag, last error with its traceback: no secrets are in them).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from soc_api.api.deps import Services

router = APIRouter(tags=["probes"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """Alive: the HTTP server answers."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
def readyz(services: Services) -> JSONResponse:
    """Ready when every step is running and within its lag bound (200), else 503 with the problems."""
    if services.readiness is None:
        return JSONResponse({"ready": True, "problems": [], "steps": []})
    state = services.readiness()
    body: dict[str, Any] = {
        "ready": state.ready,
        "problems": list(state.problems),
        "steps": [status.to_dict() for status in state.steps],
    }
    return JSONResponse(body, status_code=200 if state.ready else 503)
