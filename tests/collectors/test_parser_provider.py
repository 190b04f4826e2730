"""Provider portal operation log: publish, update, withdraw, delete, grade and share, in Chinese too."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from collectors.catalog import Catalog
from collectors.errors import ParseError
from collectors.parsers import PARSERS
from datasoc.event import Event

SHARE: dict[str, Any] = {
    "log_id": "PL-20260302-000187",
    "time": "2026-03-02T10:15:30.512+08:00",
    "operator": {
        "id": "u-gaj-0012",
        "account": "zhangli",
        "name": "张丽",
        "department": "gaj",
        "role": "provider",
    },
    "operation": "share",
    "dataset": {"id": "ds-gaj-rkjc", "name": "人口基础信息", "version": "v3"},
    "detail": {
        "department": "wjw",
        "fields": ["xm", "csrq"],
        "expires_at": "2026-06-30T23:59:59+08:00",
        "approval_id": "SQ-2026-0012",
        "reason": "疫情防控数据共享",
    },
    "result": {"status": "success"},
    "client": {"ip": "10.21.3.4", "user_agent": "Mozilla/5.0"},
}


def record(**changes: Any) -> str:
    data = json.loads(json.dumps(SHARE))
    data.update(changes)
    return json.dumps(data, ensure_ascii=False)


@pytest.fixture
def parse(catalog: Catalog, now: datetime, new_id: Callable[[], str]) -> Callable[[str], Event]:
    parser = PARSERS["provider_json"](collector="file:provider", catalog=catalog)
    return lambda line: parser.parse(line, source="provider_ops.jsonl", now=now, new_id=new_id, position=3)


def test_share_with_another_department(parse: Callable[[str], Event]) -> None:
    event = parse(record())
    assert event.get("@timestamp") == "2026-03-02T02:15:30.512000Z"
    assert (event.action, event.outcome, event.lifecycle) == ("dataset.share", "success", "provide")
    assert (event.actor_role, event.user_name, event.get("user.full_name")) == ("provider", "zhangli", "张丽")
    assert event.get("user.group.id") == "gaj"
    assert event.get("datasoc.share.department") == "wjw"
    assert event.get("datasoc.share.fields") == ["xm", "csrq"]
    assert event.get("datasoc.share.expires_at") == "2026-06-30T15:59:59.000000Z"
    assert event.approval_id == "SQ-2026-0012"
    assert event.get("event.reason") == "疫情防控数据共享"
    # catalog enrichment from the dataset id
    assert (event.classification, event.get("data.asset.owner")) == ("core", "市公安局")
    assert event.source_city == "明州市"


def test_publish_carries_size(parse: Callable[[str], Event]) -> None:
    event = parse(
        record(
            operation="publish",
            detail=None,
            dataset={"id": "ds-scjgj-qydj", "name": "企业登记信息", "records": 120000, "bytes": 48211000},
        )
    )
    assert (event.action, event.lifecycle) == ("dataset.publish", "collect")
    assert (event.records, event.bytes_) == (120000, 48211000)
    assert event.classification == "general"


@pytest.mark.parametrize(
    ("operation", "lifecycle"),
    [("update", "store"), ("withdraw", None), ("delete", "delete"), ("unshare", None)],
)
def test_lifecycle_of_each_operation(
    parse: Callable[[str], Event], operation: str, lifecycle: str | None
) -> None:
    event = parse(record(operation=operation))
    assert event.action == f"dataset.{operation}"
    assert event.lifecycle == lifecycle


def test_grade_downgrade(parse: Callable[[str], Event]) -> None:
    event = parse(
        record(operation="grade", detail={"from": "core", "to": "general", "basis": "脱敏后重新评估"})
    )
    assert event.action == "dataset.grade"
    assert event.get("datasoc.grade.from") == "core"
    assert event.get("datasoc.grade.to") == "general"
    assert event.get("datasoc.grade.direction") == "down"
    up = parse(record(operation="grade", detail={"from": "general", "to": "important"}))
    assert up.get("datasoc.grade.direction") == "up"


def test_failure_by_platform_admin(parse: Callable[[str], Event]) -> None:
    event = parse(
        record(
            operation="delete",
            operator={"account": "admin_wu", "role": "platform_admin"},
            result={"status": "failure", "code": "E_PERM", "message": "无删除权限"},
        )
    )
    assert (event.outcome, event.actor_role) == ("failure", "admin")
    assert (event.get("error.code"), event.get("error.message")) == ("E_PERM", "无删除权限")


def test_log_id_is_the_dedup_key(catalog: Catalog, now: datetime, new_id: Callable[[], str]) -> None:
    parser = PARSERS["provider_json"](collector="c", catalog=catalog)
    a = parser.parse(record(), source="s", now=now, new_id=new_id, position=1)
    b = parser.parse(record(), source="s", now=now, new_id=new_id, position=2)
    assert a.event_id == b.event_id


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"operation": "rename"}, "operation: unknown"),
        ({"operation": None}, "operation: required"),
        ({"operator": {"account": "x", "role": "root"}}, "operator.role: unknown"),
        ({"operator": "zhangli"}, "operator: expected an object"),
        ({"result": {"status": "ok"}}, "result.status"),
        ({"dataset": {"name": "无编号"}}, "dataset.id: required"),
        ({"operation": "grade", "detail": {"from": "core", "to": "secret"}}, "detail.to"),
        ({"operation": "publish", "dataset": {"id": "d", "records": -1}}, "dataset.records"),
        ({"detail": {"department": "wjw", "fields": "xm"}}, "detail.fields"),
        ({"detail": {}}, "detail.department: required"),
        ({"time": "2026-03-02 10:15:30"}, "offset|RFC 3339"),
        ({"log_id": 7}, "log_id: expected a string"),
    ],
)
def test_bad_records(parse: Callable[[str], Event], changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(ParseError, match=reason) as caught:
        parse(record(**changes))
    assert (caught.value.source, caught.value.position) == ("provider_ops.jsonl", 3)
