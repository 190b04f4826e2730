"""The HTTP API: `create_app(...)` assembles the routers; nothing is built at import time."""

from __future__ import annotations

from soc_api.api.app import ApiServices, create_app

__all__ = ["ApiServices", "create_app"]
