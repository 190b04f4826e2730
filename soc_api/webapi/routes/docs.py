"""The OpenAPI document (`/api/v1/openapi.json`) and the interactive docs, for signed-in users."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

from soc_api.webapi.app import API_PREFIX, OPENAPI_URL
from soc_api.webapi.deps import CurrentUser
from soc_api.webapi.problems import PROBLEM_RESPONSES

_DOCS_HTML = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>datasoc API</title></head>
<body><h1>datasoc API v1</h1>
<p>OpenAPI 文档 / OpenAPI document: <a href="{url}">{url}</a></p>
<p>错误均为 RFC 9457 problem details / every error is an RFC 9457 problem document.</p>
</body></html>"""


def install(app: FastAPI) -> None:
    """Serve the schema and the docs page to signed-in users only."""

    @app.get(OPENAPI_URL, include_in_schema=False, responses=PROBLEM_RESPONSES)
    def openapi(actor: CurrentUser) -> JSONResponse:
        schema: dict[str, Any] = app.openapi()
        return JSONResponse(schema)

    @app.get(f"{API_PREFIX}/docs", include_in_schema=False, responses=PROBLEM_RESPONSES)
    def docs(actor: CurrentUser) -> HTMLResponse:
        return HTMLResponse(_DOCS_HTML.format(url=OPENAPI_URL))
