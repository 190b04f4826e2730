"""`POST /api/v1/ingest`: bulk NDJSON or JSON-array ingest with per-source tokens.

The handler adapts HTTP to `collectors.inputs.http.HttpIngest`: it passes the headers and the
body stream in and maps `IngestError`s to their status (400, 401, 409, 413, 415, 429 and 503 with
`Retry-After`). Every error answer is an RFC 9457 problem-details object
(`application/problem+json`: `type`, `title`, `status`, `detail`); `error` repeats `detail` for
clients of the earlier `{"error", "status"}` form.
"""

from __future__ import annotations

import http

import orjson
from fastapi import APIRouter, Request, Response
from starlette.requests import ClientDisconnect

from collectors.inputs.errors import (
    BusyError,
    ConflictError,
    IngestError,
    OverloadedError,
    StorageUnavailableError,
    ThrottledError,
)
from soc_api.api.deps import Services, refusal_headers

router = APIRouter(prefix="/api/v1", tags=["ingest"])

_JSON = "application/json"
_PROBLEM = "application/problem+json"
#: Problem types: what kind of refusal it is, stable for clients to branch on.
_TYPES: dict[type[IngestError], str] = {
    ThrottledError: "urn:datasoc:problem:auth-throttled",
    OverloadedError: "urn:datasoc:problem:transport-lag",
    StorageUnavailableError: "urn:datasoc:problem:storage-unavailable",
    BusyError: "urn:datasoc:problem:busy",
    ConflictError: "urn:datasoc:problem:in-progress",
}


def problem_response(exc: IngestError) -> Response:
    """The problem-details answer of an ingest error (with Retry-After where it has one)."""
    headers = refusal_headers(exc, realm="datasoc-ingest")
    body = {
        "type": _TYPES.get(type(exc), "about:blank"),
        "title": http.HTTPStatus(exc.status).phrase,
        "status": exc.status,
        "detail": exc.reason,
        "error": exc.reason,
    }
    return Response(orjson.dumps(body), status_code=exc.status, media_type=_PROBLEM, headers=headers)


@router.post("/ingest")
async def ingest(request: Request, services: Services) -> Response:
    """Ingest records durably; 200 with `accepted` (of which `duplicates` were already stored),
    `rejected` and the first `errors` per record. Send `Idempotency-Key` (or `event.id` in each
    record) to make a retry of the same request store its events once."""
    service = services.ingest
    assert service is not None  # the router is mounted only with an ingest service
    now = services.clock()
    peer = request.client.host if request.client else "unknown"
    headers = request.headers
    try:
        grant = service.authenticate(headers.get("authorization"), peer=peer, now=now)
        service.admit(now)
        async with service.slot():
            body = await service.read_body(request.stream(), headers.get("content-length"))
            answer = await service.ingest(
                grant,
                body,
                content_type=headers.get("content-type"),
                content_encoding=headers.get("content-encoding"),
                now=now,
                new_id=services.new_id,
                idempotency_key=headers.get("idempotency-key"),
            )
    except IngestError as exc:
        return problem_response(exc)
    except ClientDisconnect:
        # The client went away (or its body deadline closed the connection): nobody reads this.
        return Response(status_code=400)
    return Response(orjson.dumps(answer.body), status_code=answer.status, media_type=_JSON)
