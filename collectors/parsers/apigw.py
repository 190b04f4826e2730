"""API-gateway JSON access log (APISIX `file-logger`/`http-logger`, Kong `file-log` shapes).

One JSON object per line. The flat shape is APISIX with a custom `log_format`:

    {"time": "2026-03-02T09:13:22.123+08:00", "request_id": "…", "client_ip": "10.21.3.4",
     "consumer": "wangwei", "consumer_group": "data_user", "method": "GET",
     "uri": "/api/v1/datasets/ds-gaj-rkjc/records?page=1", "route_id": "dataset-records",
     "status": 200, "bytes": 48211, "latency": 35.2, "upstream_records": "500",
     "upstream_user": "wangwei", "approval_id": "APR-2026-0007", "user_agent": "…"}

`upstream_records` and `upstream_user` are the upstream response headers `X-Data-Records` and
`X-Auth-User` (the portal names the login it checked, so failed logins carry the tried name);
`approval_id` is the request header `X-Approval-Id` a data user sends to claim a grant. The
nested default shapes (`request.method`, `response.status`, `consumer.username`, `start_time` or
`started_at` in epoch milliseconds) are read too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from collectors.parsers.base import DATASET_KEYS, NATIVE_ID, Parser, outcome_of_status
from datasoc.event import parse_timestamp

# (method or None for any, path pattern, action); first match wins.
ROUTES: Final[tuple[tuple[str | None, re.Pattern[str], str], ...]] = tuple(
    (method, re.compile(pattern), action)
    for method, pattern, action in (
        ("POST", r"^/api/v1/auth/login/?$", "auth.login"),
        (None, r"^/api/v1/auth/logout/?$", "auth.logout"),
        ("GET", r"^/api/v1/datasets/?$", "catalog.browse"),
        ("GET", r"^/api/v1/datasets/(?P<ds>[^/]+)/?$", "catalog.browse"),
        (None, r"^/api/v1/datasets/(?P<ds>[^/]+)/records/?$", "dataset.query"),
        (None, r"^/api/v1/datasets/(?P<ds>[^/]+)/(?:download|export)/?$", "dataset.download"),
        ("GET", r"^/open/v1/datasets/(?P<ds>[^/]+)(?:/.*)?$", "dataset.open"),
        ("POST", r"^/api/v1/provider/datasets/?$", "dataset.publish"),
        ("POST", r"^/api/v1/provider/datasets/(?P<ds>[^/]+)/versions/?$", "dataset.publish"),
        ("POST", r"^/api/v1/provider/datasets/(?P<ds>[^/]+)/shares/?$", "dataset.share"),
        ("PUT", r"^/api/v1/provider/datasets/(?P<ds>[^/]+)/?$", "dataset.update"),
        ("PATCH", r"^/api/v1/provider/datasets/(?P<ds>[^/]+)/?$", "dataset.update"),
        ("DELETE", r"^/api/v1/provider/datasets/(?P<ds>[^/]+)/?$", "dataset.delete"),
    )
)
_DATA_ACTIONS: Final = frozenset({"dataset.query", "dataset.download", "dataset.open", "dataset.publish"})
_METHOD = re.compile(r"^[A-Z]{3,10}$")


def _pick(record: Mapping[str, Any], *paths: str) -> Any:
    """First present value among dotted paths into nested objects."""
    for path in paths:
        node: Any = record
        for part in path.split("."):
            if not isinstance(node, Mapping) or part not in node:
                node = None
                break
            node = node[part]
        if node is not None and node != "":
            return node
    return None


def _int(value: Any, name: str, *, low: int = 0, high: int = 1 << 62) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{name}: expected an integer, got {type(value).__name__}")
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 19:
            raise ValueError(f"{name}: expected an integer, got {value[:40]!r}")
        number = int(text)
    else:
        number = value
    if not low <= number <= high:
        raise ValueError(f"{name}: {number} is out of range {low}..{high}")
    return number


def _text(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected a string, got {type(value).__name__}")
    return value


class ApiGatewayJsonParser(Parser):
    """API gateway access log: data users' queries and downloads, providers' dataset management."""

    name = "apigw_json"
    service = "apigw"

    def _fields(self, text: str, now: datetime) -> dict[str, Any]:
        record = json.loads(text)
        if not isinstance(record, dict):
            raise ValueError(f"expected a JSON object, got {type(record).__name__}")
        method = _text(_pick(record, "method", "request.method"), "method")
        uri = _text(_pick(record, "uri", "request.uri", "request.url"), "uri")
        if method is None or not _METHOD.match(method) or uri is None:
            raise ValueError("record has no HTTP method or URI")
        path, _, query = uri.partition("?")
        status = _int(_pick(record, "status", "response.status"), "status", low=100, high=599)
        if status is None:
            raise ValueError("record has no response status")
        action, dataset = self._route(method, path)
        prefix = path.split("/")[3] if path.count("/") >= 3 else ""
        role = {"provider": "provider", "admin": "admin"}.get(prefix, "user")
        consumer = _pick(record, "consumer.username", "consumer")
        user = _text(consumer if isinstance(consumer, str) else None, "consumer") or _text(
            _pick(record, "upstream_user"), "upstream_user"
        )
        group = _text(_pick(record, "consumer_group", "consumer.group"), "consumer_group")
        latency = _pick(record, "latency", "latencies.request")
        if latency is not None and (isinstance(latency, bool) or not isinstance(latency, int | float)):
            raise ValueError("latency: expected a number")
        fields: dict[str, Any] = {
            "@timestamp": self._time(record),
            "event.action": action,
            "event.outcome": outcome_of_status(status),
            "event.category": "web",
            NATIVE_ID: _text(_pick(record, "request_id", "request.id"), "request_id"),
            "datasoc.actor_role": role,
            "user.name": user,
            "user.roles": [group] if group else None,
            "source.ip": _text(_pick(record, "client_ip", "remote_addr"), "client_ip"),
            "http.request.method": method,
            "http.request.id": _text(_pick(record, "request_id", "request.id"), "request_id"),
            "http.response.status_code": status,
            "url.path": path,
            "url.query": query or None,
            "user_agent.original": _text(
                _pick(record, "user_agent", "request.headers.user-agent"), "user_agent"
            ),
            "approval.id": _text(
                _pick(record, "approval_id", "request.headers.x-approval-id"), "approval_id"
            ),
            "apigw.route_id": _text(_pick(record, "route_id", "route.id"), "route_id"),
            "event.duration": None if latency is None else int(float(latency) * 1_000_000),
        }
        if dataset:
            fields[DATASET_KEYS] = [dataset]
            fields["data.asset.id"] = dataset
        if action in _DATA_ACTIONS:
            fields["data.records"] = _int(
                _pick(record, "upstream_records", "response.headers.x-data-records"), "upstream_records"
            )
            fields["data.bytes"] = _int(_pick(record, "bytes", "response.size", "body_bytes_sent"), "bytes")
        return fields

    @staticmethod
    def _route(method: str, path: str) -> tuple[str, str | None]:
        for want, pattern, action in ROUTES:
            if want is not None and want != method:
                continue
            found = pattern.match(path)
            if found:
                return action, found.groupdict().get("ds")
        return "http.request", None

    @staticmethod
    def _time(record: Mapping[str, Any]) -> datetime:
        text = _pick(record, "time", "time_iso8601", "@timestamp")
        if text is not None:
            return parse_timestamp(text)
        millis = _int(_pick(record, "start_time", "started_at"), "start_time", high=10**14)
        if millis is None:
            raise ValueError("record has no time (time, start_time or started_at)")
        return datetime.fromtimestamp(millis / 1000, UTC)
