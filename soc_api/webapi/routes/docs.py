"""The OpenAPI document (`/api/v1/openapi.json`) and interactive docs (Swagger UI), for signed-in users.

Swagger UI's assets come from the `swagger-ui-bundle` package and are served by the API itself (no
CDN), and the page starts it from a script file, not an inline script, so the CSP holds. "Try it
out" sends the session cookie; state-changing calls also need `X-CSRF-Token` (or use "Authorize"
with an API token).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse, Response

from soc_api.identity.errors import NotFoundError
from soc_api.webapi.app import API_PREFIX, OPENAPI_URL
from soc_api.webapi.deps import CurrentUser
from soc_api.webapi.problems import PROBLEM_RESPONSES

DOCS_URL = f"{API_PREFIX}/docs"
_ASSETS = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript"}
_PAGE = f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>datasoc API 文档 / API docs</title>
<link rel="stylesheet" href="{DOCS_URL}/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{DOCS_URL}/swagger-ui-bundle.js"></script>
<script src="{DOCS_URL}/init.js"></script>
</body></html>"""
_INIT = f"""window.ui = SwaggerUIBundle({{url: "{OPENAPI_URL}", dom_id: "#swagger-ui", deepLinking: true}});
"""


def _asset_dir() -> Path:
    import importlib.resources

    vendor = Path(str(importlib.resources.files("swagger_ui_bundle"))) / "vendor"
    return sorted(vendor.glob("swagger-ui-*"))[-1]


def install(app: FastAPI) -> None:
    """Serve the schema and the docs to signed-in users only."""

    @app.get(OPENAPI_URL, include_in_schema=False, responses=PROBLEM_RESPONSES)
    def openapi(actor: CurrentUser) -> JSONResponse:
        schema: dict[str, Any] = app.openapi()
        return JSONResponse(schema)

    @app.get(DOCS_URL, include_in_schema=False, responses=PROBLEM_RESPONSES)
    def docs(actor: CurrentUser) -> HTMLResponse:
        return HTMLResponse(_PAGE)

    @app.get(f"{DOCS_URL}/init.js", include_in_schema=False, responses=PROBLEM_RESPONSES)
    def docs_init(actor: CurrentUser) -> Response:
        return Response(_INIT, media_type="text/javascript")

    @app.get(DOCS_URL + "/{asset}", include_in_schema=False, responses=PROBLEM_RESPONSES)
    def docs_asset(asset: str, actor: CurrentUser) -> Response:
        media = _ASSETS.get(asset)
        if media is None:  # a fixed list: no path from the request reaches the file system
            raise NotFoundError("no such docs asset")
        return Response((_asset_dir() / asset).read_bytes(), media_type=media)
