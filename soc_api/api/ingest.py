"""`POST /api/v1/ingest`: bulk NDJSON or JSON-array ingest with per-source tokens.

The handler adapts HTTP to `collectors.inputs.http.HttpIngest`: it passes the headers and the
body stream in and maps `IngestError`s to their status (401, 413, 415, 429 + Retry-After, 400).
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request, Response

from collectors.inputs.errors import AuthError, IngestError, OverloadedError
from soc_api.api.deps import Services

router = APIRouter(prefix="/api/v1", tags=["ingest"])

_JSON = "application/json"


def _error(exc: IngestError) -> Response:
    headers: dict[str, str] = {}
    if isinstance(exc, OverloadedError):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, AuthError):
        headers["WWW-Authenticate"] = 'Bearer realm="datasoc-ingest"'
    body = orjson.dumps({"error": exc.reason, "status": exc.status})
    return Response(body, status_code=exc.status, media_type=_JSON, headers=headers)


def _idempotency_key(value: str | None) -> str | None:
    """The sender's `Idempotency-Key` (RFC draft-ietf-httpapi-idempotency-key-header): printable
    ASCII, at most 128 characters; anything else is ignored (the records get fresh ids)."""
    if value is None or not 0 < len(value) <= 128 or not value.isascii() or not value.isprintable():
        return None
    return value


@router.post("/ingest")
async def ingest(request: Request, services: Services) -> Response:
    """Ingest records durably; 200 with `accepted`, `rejected` and the first `errors` per record."""
    service = services.ingest
    assert service is not None  # the router is mounted only with an ingest service
    now = services.clock()
    peer = request.client.host if request.client else "unknown"
    headers = request.headers
    try:
        grant = service.authenticate(headers.get("authorization"), peer=peer, now=now)
        service.admit(now)
        body = await service.read_body(request.stream(), headers.get("content-length"))
        answer = await service.ingest(
            grant,
            body,
            content_type=headers.get("content-type"),
            content_encoding=headers.get("content-encoding"),
            now=now,
            new_id=services.new_id,
            idempotency_key=_idempotency_key(headers.get("idempotency-key")),
        )
    except IngestError as exc:
        return _error(exc)
    return Response(orjson.dumps(answer.body), status_code=answer.status, media_type=_JSON)
