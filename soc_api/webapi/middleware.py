"""Request ids and security headers on every response (pure ASGI: no body buffering).

- `X-Request-ID`: the client's, when it is 1-64 of `[A-Za-z0-9._-]`, else a new one; bound to
  the log context for the request and returned in the response (and in problem documents).
- Headers: a CSP without inline scripts (`script-src 'self'`), `frame-ancestors 'none'` and
  `X-Frame-Options: DENY`, `nosniff`, `Referrer-Policy: no-referrer`, `Cache-Control: no-store`,
  and HSTS when the request came over TLS (directly, or via a trusted proxy's
  `X-Forwarded-Proto: https`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import structlog

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}\Z")
_STATIC = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]

Scope = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[dict[str, Any]], Any]


def over_tls(scope: Scope, trusted_proxies: frozenset[str]) -> bool:
    """True when the request reached us over TLS, directly or through a trusted proxy."""
    if scope.get("scheme") == "https":
        return True
    client = scope.get("client")
    if client and client[0] in trusted_proxies:
        for name, value in scope.get("headers", ()):
            if name == b"x-forwarded-proto":
                return bool(value.strip().lower() == b"https")
    return False


class SecurityMiddleware:
    """See module docstring."""

    def __init__(self, app: Any, *, new_id: Callable[[], str], trusted_proxies: frozenset[str]) -> None:
        self.app = app
        self.new_id = new_id
        self.trusted_proxies = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id" and _REQUEST_ID.match(value):
                request_id = value.decode("ascii")
        request_id = request_id or self.new_id()
        scope.setdefault("state", {})["request_id"] = request_id
        extra = [(b"x-request-id", request_id.encode("ascii"))]
        if over_tls(scope, self.trusted_proxies):
            extra.append((b"strict-transport-security", HSTS.encode()))

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                headers = list(message.get("headers", []))
                headers.extend(h for h in (*_STATIC, *extra) if h[0] not in present)
                message["headers"] = headers
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            await self.app(scope, receive, send_with_headers)
