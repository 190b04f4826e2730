"""The API for people and machines (`/api/v1`, port `api.port`), separate from the collector's ingest.

    app = create_api(ApiServices(identity=..., events=..., clock=..., ...))

`soc_api.webapi.app` assembles; one router per resource under `routes/`; `deps` holds the
`Annotated` dependencies (`CurrentUser`, `require(Permission.X)`); `problems` answers every error
as RFC 9457 problem details; `middleware` adds request ids and security headers.
"""

from soc_api.webapi.app import ApiConfig, ApiServices, CollectorView, create_api

__all__ = ["ApiConfig", "ApiServices", "CollectorView", "create_api"]
