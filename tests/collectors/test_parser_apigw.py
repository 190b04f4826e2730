"""API-gateway JSON access log parser on hand-written APISIX/Kong lines."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from collectors.catalog import Catalog
from collectors.errors import ParseError
from collectors.parsers import PARSERS, ApiGatewayJsonParser

QUERY = (
    '{"time":"2026-03-02T09:13:22.123+08:00","request_id":"7f3c9a0e5b2d4c6f8a1b3d5e7f9a0b1c",'
    '"client_ip":"10.21.3.4","consumer":"wangwei","consumer_group":"data_user","method":"GET",'
    '"uri":"/api/v1/datasets/ds-gaj-hjqy/records?page=2&size=500&q=%E4%B8%9C%E6%B9%96%E8%A1%97%E9%81%93",'
    '"route_id":"datasets-records","status":200,"bytes":96400,"latency":88.5,"upstream_addr":"10.10.1.11:8080",'
    '"upstream_records":"500","approval_id":"SQ-2026-0007","user_agent":"python-requests/2.31.0"}'
)
FAILED_LOGIN = (
    '{"time":"2026-03-02T20:05:11.402+08:00","request_id":"0a1b2c3d4e5f60718293a4b5c6d7e8f9",'
    '"client_ip":"203.0.113.77","method":"POST","uri":"/api/v1/auth/login","route_id":"auth-login",'
    '"status":401,"bytes":96,"latency":12.0,"upstream_user":"李娜","user_agent":"python-requests/2.31.0"}'
)
PROVIDER_DELETE = (
    '{"time":"2026-03-03T16:40:00.512+08:00","request_id":"d00d","client_ip":"10.10.40.7",'
    '"consumer":"gaojunjie","consumer_group":"provider","method":"DELETE",'
    '"uri":"/api/v1/provider/datasets/ds-gaj-hjqy","status":200,"bytes":720,"latency":92.2}'
)
APISIX_DEFAULT = json.dumps(
    {
        "start_time": 1772414002123,
        "client_ip": "10.22.8.9",
        "route_id": "1",
        "latency": 18.2,
        "consumer": {"username": "zhaomin"},
        "request": {
            "method": "GET",
            "uri": "/api/v1/datasets/ds-wjw-dzbl/download?format=csv",
            "headers": {},
        },
        "response": {"status": 200, "size": 184220, "headers": {"x-data-records": "1200"}},
    },
    ensure_ascii=False,
)


def parse(
    line: str | bytes, catalog: Catalog | None, now: datetime, new_id: Callable[[], str], **kw: Any
) -> Any:
    parser = ApiGatewayJsonParser(collector="file:apigw", catalog=catalog)
    kw.setdefault("position", 17)
    return parser.parse(line, source="apigw_access.jsonl", now=now, new_id=new_id, **kw)


def test_registered_under_its_name() -> None:
    assert PARSERS["apigw_json"] is ApiGatewayJsonParser


def test_query_is_use_by_a_user_enriched_from_catalog(
    catalog: Catalog, now: datetime, new_id: Callable[[], str]
) -> None:
    event = parse(QUERY, catalog, now, new_id)
    assert event.get("@timestamp") == "2026-03-02T01:13:22.123000Z"
    assert (event.action, event.outcome, event.lifecycle, event.actor_role) == (
        "dataset.query",
        "success",
        "use",
        "user",
    )
    assert event.user_name == "wangwei"
    assert event.user_roles == ("data_user",)
    assert (event.records, event.bytes_, event.approval_id) == (500, 96400, "SQ-2026-0007")
    assert (event.asset_id, event.asset_name, event.classification) == (
        "ds-gaj-hjqy",
        "户籍迁移记录",
        "important",
    )
    assert event.get("data.asset.owner") == "市公安局"
    assert event.region == "东湖区"
    assert (event.source_city, event.get("source.geo.name")) == ("明州市", "东湖区")
    assert event.dataset == "apigw_json"
    assert event.collector == "file:apigw"
    assert event.original == QUERY
    assert event.get("url.query").endswith("q=%E4%B8%9C%E6%B9%96%E8%A1%97%E9%81%93")
    assert event.get("event.duration") == 88_500_000


def test_event_id_is_stable_per_source_and_request(
    catalog: Catalog, now: datetime, new_id: Callable[[], str]
) -> None:
    first = parse(QUERY, catalog, now, new_id)
    again = parse(QUERY.encode("utf-8"), catalog, now, new_id, position=99)
    assert first.event_id == again.event_id  # the request id keys it, not the line
    other_source = ApiGatewayJsonParser(collector="c").parse(QUERY, source="gw-2", now=now, new_id=new_id)
    assert other_source.event_id != first.event_id


def test_without_request_id_or_position_a_new_id_is_used(now: datetime, new_id: Callable[[], str]) -> None:
    event = parse(PROVIDER_DELETE.replace('"request_id":"d00d",', ""), None, now, new_id, position=None)
    assert event.event_id == "new-1"


def test_failed_login_names_the_tried_user(
    catalog: Catalog, now: datetime, new_id: Callable[[], str]
) -> None:
    event = parse(FAILED_LOGIN, catalog, now, new_id)
    assert (event.action, event.outcome, event.lifecycle) == ("auth.login", "failure", None)
    assert event.user_name == "李娜"
    assert event.source_city == "广州市"
    assert event.get("source.geo.name") is None
    assert event.records is None


def test_provider_delete(catalog: Catalog, now: datetime, new_id: Callable[[], str]) -> None:
    event = parse(PROVIDER_DELETE, catalog, now, new_id)
    assert (event.action, event.lifecycle, event.actor_role) == ("dataset.delete", "delete", "provider")
    assert event.user_roles == ("provider",)
    assert event.classification == "important"


def test_apisix_default_nested_shape(catalog: Catalog, now: datetime, new_id: Callable[[], str]) -> None:
    event = parse(APISIX_DEFAULT, catalog, now, new_id)
    assert event.get("@timestamp") == "2026-03-02T01:13:22.123000Z"
    assert (event.action, event.lifecycle, event.user_name) == ("dataset.download", "transmit", "zhaomin")
    assert (event.records, event.bytes_, event.classification) == (1200, 184220, "core")
    assert event.source_city == "明州市"


@pytest.mark.parametrize(
    ("method", "uri", "action"),
    [
        ("GET", "/api/v1/datasets", "catalog.browse"),
        ("GET", "/open/v1/datasets/ds-scjgj-qydj/records?page=3", "dataset.open"),
        ("POST", "/api/v1/provider/datasets/ds-gaj-rkjc/versions", "dataset.publish"),
        ("POST", "/api/v1/provider/datasets/ds-gaj-rkjc/shares?to=fgw", "dataset.share"),
        ("PUT", "/api/v1/provider/datasets/ds-gaj-rkjc", "dataset.update"),
        ("GET", "/metrics", "http.request"),
    ],
)
def test_routes(method: str, uri: str, action: str, now: datetime, new_id: Callable[[], str]) -> None:
    line = json.dumps({"time": "2026-03-02T10:00:00+08:00", "method": method, "uri": uri, "status": 200})
    assert parse(line, None, now, new_id).action == action


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not json at all", "Expecting value"),
        ("[1, 2]", "expected a JSON object"),
        ('{"time":"2026-03-02T10:00:00+08:00","method":"GET","uri":"/x"}', "no response status"),
        ('{"time":"2026-03-02T10:00:00+08:00","method":"GET","uri":"/x","status":"OK"}', "status"),
        ('{"time":"2026-03-02T10:00:00","method":"GET","uri":"/x","status":200}', "no offset"),
        ('{"method":"GET","uri":"/x","status":200}', "no time"),
        (QUERY.replace('"upstream_records":"500"', '"upstream_records":"-5"'), "upstream_records"),
        (QUERY.replace('"10.21.3.4"', '"999.1.1.1"'), "source.ip"),
        (QUERY.replace('"status":200', '"status":200.5'), "status"),
    ],
)
def test_bad_lines_raise_parse_error_naming_source_line_reason(
    line: str, reason: str, now: datetime, new_id: Callable[[], str]
) -> None:
    with pytest.raises(ParseError) as caught:
        parse(line, None, now, new_id)
    assert caught.value.source == "apigw_access.jsonl"
    assert caught.value.position == 17
    assert reason in caught.value.reason
    assert str(caught.value).startswith("apigw_access.jsonl:17: ")


def test_the_fields_a_response_returned_raise_its_grade_by_their_own(
    catalog: Catalog, now: datetime, new_id: Callable[[], str]
) -> None:
    data = catalog.to_dict()
    hjqy = next(d for d in data["datasets"] if d["id"] == "ds-gaj-hjqy")
    hjqy["fields"] = [{"name": "sfzh", "classification": "core"}, {"name": "xm", "classification": None}]
    graded = Catalog.from_dict(data)
    assert graded.to_dict() == {
        **data,
        "datasets": [
            {**d, "fields": [{"name": "sfzh", "classification": "core"}]} if d["id"] == "ds-gaj-hjqy" else d
            for d in data["datasets"]
        ],
    }
    plain = parse(QUERY, graded, now, new_id)
    assert plain.get("data.fields") is None
    assert plain.get("data.classification") == "important"  # no fields named: the dataset's grade
    with_xm = parse(
        QUERY.replace('"upstream_records"', '"upstream_fields":"xm, csrq","upstream_records"'),
        graded,
        now,
        new_id,
    )
    assert with_xm.get("data.fields") == ["xm", "csrq"]
    assert with_xm.get("data.classification") == "important"
    with_id = parse(
        QUERY.replace('"upstream_records"', '"upstream_fields":"xm,sfzh","upstream_records"'),
        graded,
        now,
        new_id,
    )
    assert with_id.get("data.classification") == "core"
    nested = json.loads(APISIX_DEFAULT)
    nested["response"]["headers"]["x-data-fields"] = "zd"
    assert parse(json.dumps(nested), graded, now, new_id).get("data.fields") == ["zd"]
