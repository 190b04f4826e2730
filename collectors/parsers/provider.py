"""Data providers' publishing and management log (数据提供者发布与管理日志), JSON lines.

The provider portal of the public-data platform (where departments publish datasets into the
catalog, maintain them, grade them and share them with other departments) writes one JSON object
per operation. The format (designed here; the portal's operation log, not the gateway's access
log, so it carries what the gateway cannot see: grade changes, share scopes, reasons):

    {"log_id": "PL-20260302-000187",
     "time": "2026-03-02T10:15:30.512+08:00",
     "operator": {"id": "u-gaj-0012", "account": "zhangli", "name": "张丽",
                  "department": "gaj", "role": "provider"},
     "operation": "share",
     "dataset": {"id": "ds-gaj-rkjc", "name": "人口基础信息", "version": "v3",
                 "records": 120000, "bytes": 48211000},
     "detail": {"department": "wjw", "fields": ["xm", "csrq"], "expires_at": "2026-06-30T23:59:59+08:00",
                "approval_id": "SQ-2026-0012", "reason": "疫情防控数据共享"},
     "result": {"status": "success"},
     "client": {"ip": "10.10.3.4", "user_agent": "Mozilla/5.0"}}

- `operation`: `publish` (a new dataset or version), `update` (metadata or records changed),
  `withdraw` (taken off the catalog, records kept), `delete`, `grade` (classification changed;
  `detail` = `{"from": "important", "to": "core", "basis": "..."}`, GB/T 43697-2024 grades),
  `share` (another department authorized; `detail` as above), `unshare`.
- `operator.role`: `provider` or `provider_admin` (the department's staff) or `platform_admin`,
  `security_admin`, `auditor` (the platform's administrators acting in the portal).
- `result.status`: `success` | `failure`, with `code` and `message` on failure.
- `dataset.records` / `dataset.bytes` only on publish and update; `detail.reason` on any.

Normalized: `event.action` = `dataset.<operation>` (lifecycle from `lifecycle.ACTIONS`),
`user.*` from the operator (`user.group.id` is the department), `datasoc.grade.from|to|direction`
on grade changes (a downgrade of core data is what a rule wants to see), `datasoc.share.*` and
`approval.id` on shares, `error.code|message` on failures; the catalog fills `data.*` from the
dataset id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from collectors.parsers.base import DATASET_KEYS, NATIVE_ID, Parser
from datasoc.event import CLASSIFICATIONS, format_timestamp, parse_timestamp

OPERATIONS: Final[dict[str, str]] = {
    "publish": "dataset.publish",
    "update": "dataset.update",
    "withdraw": "dataset.withdraw",
    "delete": "dataset.delete",
    "grade": "dataset.grade",
    "share": "dataset.share",
    "unshare": "dataset.unshare",
}
ROLES: Final[dict[str, str]] = {
    "provider": "provider",
    "provider_admin": "provider",
    "platform_admin": "admin",
    "security_admin": "admin",
    "auditor": "admin",
}
_SIZED: Final = frozenset({"publish", "update"})
_MAX_INT: Final = 2**53 - 1


def _object(record: Mapping[str, Any], key: str, *, required: bool = False) -> Mapping[str, Any]:
    value = record.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{key}: expected an object, got {type(value).__name__}")
    return value


def _str(record: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
    value = record.get(key)
    if value is None or value == "":
        if required:
            raise ValueError(f"{where}{key}: required")
        return None
    if not isinstance(value, str):
        raise ValueError(f"{where}{key}: expected a string, got {type(value).__name__}")
    return value


def _count(record: Mapping[str, Any], key: str) -> int | None:
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_INT:
        raise ValueError(f"dataset.{key}: expected an integer 0..2**53-1, got {str(value)[:40]!r}")
    return value


def _grade(detail: Mapping[str, Any], key: str) -> str:
    value = detail.get(key)
    if value not in CLASSIFICATIONS:
        raise ValueError(
            f"detail.{key}: expected one of {', '.join(CLASSIFICATIONS)}, got {str(value)[:40]!r}"
        )
    return str(value)


class ProviderPortalParser(Parser):
    """Provider portal operation log: publish, update, withdraw, delete, grade and share datasets."""

    name = "provider_json"
    service = "provider"

    def _fields(self, text: str, now: datetime) -> dict[str, Any]:
        record = json.loads(text)
        if not isinstance(record, dict):
            raise ValueError(f"expected a JSON object, got {type(record).__name__}")
        operation = _str(record, "operation", "", required=True)
        if operation not in OPERATIONS:
            raise ValueError(f"operation: unknown {str(operation)[:40]!r}; known: {', '.join(OPERATIONS)}")
        operator = _object(record, "operator", required=True)
        dataset = _object(record, "dataset", required=True)
        detail = _object(record, "detail")
        result = _object(record, "result", required=True)
        client = _object(record, "client")
        role = _str(operator, "role", "operator.") or "provider"
        if role not in ROLES:
            raise ValueError(f"operator.role: unknown {role[:40]!r}; known: {', '.join(ROLES)}")
        status = _str(result, "status", "result.", required=True)
        if status not in ("success", "failure"):
            raise ValueError(f"result.status: expected success or failure, got {str(status)[:40]!r}")
        dataset_id = _str(dataset, "id", "dataset.", required=True)
        stamp = _str(record, "time", "", required=True)
        fields: dict[str, Any] = {
            "@timestamp": parse_timestamp(stamp),
            "event.action": OPERATIONS[operation],
            "event.outcome": status,
            "event.category": "configuration" if operation in ("grade", "share", "unshare") else "database",
            NATIVE_ID: _str(record, "log_id", "", required=True),
            DATASET_KEYS: [dataset_id],
            "datasoc.actor_role": ROLES[role],
            "user.id": _str(operator, "id", "operator."),
            "user.name": _str(operator, "account", "operator.", required=True),
            "user.full_name": _str(operator, "name", "operator."),
            "user.group.id": _str(operator, "department", "operator."),
            "user.roles": [role],
            "data.asset.id": dataset_id,
            "data.asset.name": _str(dataset, "name", "dataset."),
            "data.asset.version": _str(dataset, "version", "dataset."),
            "event.reason": _str(detail, "reason", "detail."),
            "error.code": _str(result, "code", "result."),
            "error.message": _str(result, "message", "result."),
            "source.ip": _str(client, "ip", "client."),
            "user_agent.original": _str(client, "user_agent", "client."),
        }
        if operation in _SIZED:
            fields["data.records"] = _count(dataset, "records")
            fields["data.bytes"] = _count(dataset, "bytes")
        if operation == "grade":
            before, after = _grade(detail, "from"), _grade(detail, "to")
            order = CLASSIFICATIONS.index
            fields.update(
                {
                    "datasoc.grade.from": before,
                    "datasoc.grade.to": after,
                    "datasoc.grade.direction": (
                        "down"
                        if order(after) < order(before)
                        else "up"
                        if order(after) > order(before)
                        else "same"
                    ),
                    "datasoc.grade.basis": _str(detail, "basis", "detail."),
                }
            )
        if operation in ("share", "unshare"):
            shared = detail.get("fields")
            if shared is not None and (
                not isinstance(shared, list) or not all(isinstance(f, str) for f in shared)
            ):
                raise ValueError("detail.fields: expected a list of field names")
            fields.update(
                {
                    "datasoc.share.department": _str(detail, "department", "detail.", required=True),
                    "datasoc.share.fields": shared,
                    "datasoc.share.expires_at": (
                        None
                        if detail.get("expires_at") is None
                        else _iso(_str(detail, "expires_at", "detail."))
                    ),
                    "approval.id": _str(detail, "approval_id", "detail."),
                }
            )
        return fields


def _iso(value: str | None) -> str | None:
    return None if value is None else format_timestamp(parse_timestamp(value))
