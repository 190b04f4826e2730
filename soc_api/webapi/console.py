"""The console's built assets at `/`, with the single-page application's fallback.

The build (`console/` → `npm run build` → `soc_api/webapi/static/`) is listed once when the app is
made: a request path is only ever looked up in that listing, so nothing from a request reaches the
file system. `/assets/*` are content-hashed by Vite and cached for a year; every other path that
is not the API's (`/api/...`, `/metrics`) answers `index.html`, where the client-side router takes
over.

`index.html` gets a fresh nonce per answer: Ant Design writes its component styles into `<style>`
elements at run time, which a `style-src 'self'` policy would refuse, so the page's CSP allows
styles from the origin and those carrying the nonce (the page reads it from its `csp-nonce` meta
tag and hands it to Ant Design). Scripts stay `script-src 'self'`: no inline script at all.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

#: Where the build lands inside the package (the wheel ships it).
STATIC_DIR = Path(__file__).resolve().parent / "static"
NONCE_PLACEHOLDER = b"__CSP_NONCE__"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
_IMMUTABLE = "public, max-age=31536000, immutable"


def page_csp(nonce: str) -> str:
    """The console page's policy: the API's, with styles carrying `nonce` allowed."""
    return (
        "default-src 'self'; script-src 'self'; "
        f"style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; font-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


@dataclass(frozen=True)
class ConsoleAssets:
    """The build, listed once: URL path -> (file, media type)."""

    index: bytes
    files: dict[str, tuple[Path, str]]

    @classmethod
    def load(cls, root: Path) -> ConsoleAssets:
        """List the build under `root` (`index.html` is required)."""
        index = (root / "index.html").read_bytes()
        files = {}
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix in _TYPES and path.name != "index.html":
                files["/" + path.relative_to(root).as_posix()] = (path, _TYPES[path.suffix])
        return cls(index, files)

    def answer(self, path: str, method: str) -> Response:
        """The file at `path`, else the page (SPA fallback)."""
        found = self.files.get(path)
        if found is not None:
            file, media = found
            cache = _IMMUTABLE if path.startswith("/assets/") else "no-cache"
            body = b"" if method == "HEAD" else file.read_bytes()
            return Response(body, media_type=media, headers={"Cache-Control": cache})
        nonce = secrets.token_urlsafe(18)
        page = self.index.replace(NONCE_PLACEHOLDER, nonce.encode("ascii"))
        return Response(
            b"" if method == "HEAD" else page,
            media_type=_TYPES[".html"],
            headers={"Content-Security-Policy": page_csp(nonce), "Cache-Control": "no-store"},
        )


class _ConsoleRoute(Route):
    """GET/HEAD of any path but the API's (so an API path's wrong method still answers 405)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = scope.get("path", "")
        if path.startswith("/api/") or path == "/api" or path == "/metrics":
            return Match.NONE, {}
        return super().matches(scope)


def mount_console(app: FastAPI, root: Path) -> None:
    """Serve the build under `root` at `/` (after every API route)."""
    assets = ConsoleAssets.load(root)

    async def console(request: Request) -> Response:
        return assets.answer(request.url.path, request.method)

    route: Any = _ConsoleRoute("/{path:path}", console, methods=["GET", "HEAD"], include_in_schema=False)
    app.router.routes.append(route)
