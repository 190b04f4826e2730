"""RFC 9457 problem details for every error the API answers (`application/problem+json`).

Members: `type` (a URI naming the problem; `about:blank` for plain HTTP statuses), `title`,
`status`, `detail`, `instance` (the request path) and the extension `request_id`. Secrets never
reach `detail`: identity errors carry safe text by construction; unexpected errors say nothing
beyond their status.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.responses import Response

from datasoc.logging import get_logger
from datasoc.state import StateUnavailableError
from soc_api.alerting.errors import AlertingError
from soc_api.identity.errors import IdentityError, PasswordPolicyError

log = get_logger("api")
PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://datasoc.local/problems/"


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="URI of the problem type (`about:blank`: see the status)")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = Field(default=None, description="Per-field problems (422)")


#: Added to every route's OpenAPI responses: any error is a problem document.
_PROBLEM_SCHEMA = Problem.model_json_schema()
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}}, "description": "Client error (RFC 9457)"},
    "5XX": {"content": {PROBLEM_JSON: {"schema": _PROBLEM_SCHEMA}}, "description": "Server error (RFC 9457)"},
}


def problem(
    request: Request,
    status: int,
    *,
    slug: str | None = None,
    detail: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A problem response for `request`."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug if slug else "about:blank",
        "title": HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error",
        "status": status,
        "instance": request.url.path,
        "request_id": getattr(request.state, "request_id", None),
    }
    if detail:
        body["detail"] = detail
    if errors is not None:
        body["errors"] = errors
    return Response(
        orjson.dumps(body),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=dict(headers) if headers else None,
    )


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem document."""

    @app.exception_handler(IdentityError)
    async def identity_error(request: Request, exc: IdentityError) -> Response:
        headers = {"WWW-Authenticate": 'Bearer realm="datasoc"'} if exc.status == 401 else None
        errors = [{"rule": p} for p in exc.problems] if isinstance(exc, PasswordPolicyError) else None
        return problem(
            request, exc.status, slug=exc.problem, detail=exc.detail, errors=errors, headers=headers
        )

    @app.exception_handler(AlertingError)
    async def alerting_error(request: Request, exc: AlertingError) -> Response:
        return problem(request, exc.status, slug=exc.problem, detail=exc.detail)

    @app.exception_handler(StateUnavailableError)
    async def state_unavailable(request: Request, exc: StateUnavailableError) -> Response:
        log.error("state_unavailable", error=str(exc)[:300], path=request.url.path)
        return problem(
            request,
            503,
            slug="state-unavailable",
            detail="平台状态库暂不可用 / the state store is unavailable",
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {
                "loc": [str(part) for part in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
            for e in exc.errors()
        ]
        return problem(
            request, 422, slug="invalid-request", detail="请求参数无效 / invalid request", errors=errors
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return problem(
            request, exc.status_code, detail=str(exc.detail) if exc.detail else None, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("api_unexpected_error", error_type=type(exc).__name__, path=request.url.path)
        return problem(request, 500, detail="内部错误 / internal error")
