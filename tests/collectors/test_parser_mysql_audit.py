"""Percona audit_log JSON parser on hand-written records."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from collectors.catalog import Catalog
from collectors.errors import ParseError
from collectors.parsers.mysql_audit import MySqlAuditJsonParser, account_name


def record(**fields: Any) -> str:
    base: dict[str, Any] = {
        "name": "Query",
        "record": "1043_2026-02-27T03:00:00",
        "timestamp": "2026-03-02T01:13:22 UTC",
        "command_class": "select",
        "connection_id": "47",
        "status": 0,
        "sqltext": "SELECT xm, hjdz FROM rk_jcxx WHERE jdmc = '东湖街道' LIMIT 20",
        "user": "dba_li[dba_li] @  [10.10.8.31]",
        "host": "",
        "os_user": "",
        "ip": "10.10.8.31",
        "db": "gaj",
    }
    base.update(fields)
    return json.dumps({"audit_record": base}, ensure_ascii=False, separators=(",", ":"))


def parse(line: str, catalog: Catalog | None, now: datetime, new_id: Callable[[], str]) -> Any:
    parser = MySqlAuditJsonParser(collector="file:mysql", catalog=catalog)
    return parser.parse(line, source="mysql_audit.jsonl", now=now, new_id=new_id, position=3)


def test_select_with_chinese_value(catalog: Catalog, now: datetime, new_id: Callable[[], str]) -> None:
    line = record()
    event = parse(line, catalog, now, new_id)
    assert event.get("@timestamp") == "2026-03-02T01:13:22.000000Z"
    assert (event.action, event.outcome, event.lifecycle, event.actor_role) == (
        "db.select",
        "success",
        "use",
        "admin",
    )
    assert event.user_name == "dba_li"
    assert event.source_ip == "10.10.8.31"
    assert (event.asset_id, event.classification, event.region) == ("ds-gaj-rkjc", "core", "市本级")
    assert event.get("db.statement").endswith("'东湖街道' LIMIT 20")
    assert event.original == line


def test_stable_id_comes_from_the_record_field(
    catalog: Catalog, now: datetime, new_id: Callable[[], str]
) -> None:
    first = parse(record(), catalog, now, new_id)
    same_record = parse(record(sqltext="SELECT 1"), catalog, now, new_id)
    next_record = parse(record(record="1044_2026-02-27T03:00:00"), catalog, now, new_id)
    assert first.event_id == same_record.event_id
    assert first.event_id != next_record.event_id


def test_service_account_is_system(catalog: Catalog, now: datetime, new_id: Callable[[], str]) -> None:
    line = record(user="svc_portal[svc_portal] @  [10.10.1.11]", ip="10.10.1.11")
    assert parse(line, catalog, now, new_id).actor_role == "system"


def test_failed_connect(now: datetime, new_id: Callable[[], str]) -> None:
    line = json.dumps(
        {
            "audit_record": {
                "name": "Connect",
                "record": "7_2026-02-27T03:00:00",
                "timestamp": "2026-03-02T01:00:00 UTC",
                "connection_id": "9",
                "status": 1045,
                "user": "root",
                "priv_user": "",
                "os_login": "",
                "proxy_user": "",
                "host": "",
                "ip": "203.0.113.9",
                "db": "",
            }
        }
    )
    event = parse(line, None, now, new_id)
    assert (event.action, event.outcome, event.user_name) == ("db.connect", "failure", "root")
    assert event.get("mysql.status") == 1045


def test_self_grant_names_grantee(catalog: Catalog, now: datetime, new_id: Callable[[], str]) -> None:
    line = record(command_class="grant", sqltext="GRANT ALL PRIVILEGES ON `gaj`.`rk_jcxx` TO 'dba_li'@'%'")
    event = parse(line, catalog, now, new_id)
    assert event.action == "privilege.grant"
    assert event.lifecycle is None
    assert event.get("user.target.name") == event.user_name == "dba_li"
    assert event.get("db.grant.privileges") == "ALL PRIVILEGES"
    assert event.asset_id == "ds-gaj-rkjc"


@pytest.mark.parametrize(
    ("sql", "action"),
    [
        ("SET GLOBAL audit_log_policy = 'NONE'", "audit.disable"),
        ("set global audit_log_policy=NONE", "audit.disable"),
        ("SET GLOBAL audit_log_policy = 'ALL'", "audit.enable"),
        ("SET GLOBAL audit_log_policy = 'LOGINS'", "audit.configure"),
        ("UNINSTALL PLUGIN audit_log", "audit.disable"),
        ("SET PERSIST audit_log_disable = ON", "audit.disable"),
        ("DROP TABLE `gaj`.`hj_qyjl`", "db.drop"),
        ("SELECT * FROM rk_jcxx INTO OUTFILE '/tmp/rk.csv'", "db.export"),
        ("LOAD DATA INFILE '/tmp/rk.csv' INTO TABLE rk_jcxx", "db.import"),
    ],
)
def test_statement_kinds(sql: str, action: str, now: datetime, new_id: Callable[[], str]) -> None:
    assert parse(record(sqltext=sql), None, now, new_id).action == action


def test_plugin_stop_record_is_audit_disable(now: datetime, new_id: Callable[[], str]) -> None:
    line = json.dumps(
        {
            "audit_record": {
                "name": "NoAudit",
                "record": "99_2026-02-27T03:00:00",
                "timestamp": "2026-03-02T03:00:00 UTC",
            }
        }
    )
    event = parse(line, None, now, new_id)
    assert event.action == "audit.disable"
    assert event.actor_role == "admin"


def test_unknown_record_name_is_kept_as_other(now: datetime, new_id: Callable[[], str]) -> None:
    assert parse(record(name="Ping", sqltext=""), None, now, new_id).action == "db.other"


def test_account_name_forms() -> None:
    assert account_name("dba_li[dba_li] @  [10.1.2.3]") == "dba_li"
    assert account_name("root[proxy_u] @ localhost []") == "proxy_u"
    assert account_name("svc_portal") == "svc_portal"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"record": 1}', "audit_record"),
        (record(status="bad"), "status"),
        (record(timestamp=""), "timestamp is missing"),
        (record(timestamp="yesterday"), "RFC 3339"),
        (record(name=""), "name is missing"),
        (record(sqltext={"nested": True}), "sqltext"),
    ],
)
def test_bad_records(line: str, reason: str, now: datetime, new_id: Callable[[], str]) -> None:
    with pytest.raises(ParseError) as caught:
        parse(line, None, now, new_id)
    assert (caught.value.source, caught.value.position) == ("mysql_audit.jsonl", 3)
    assert reason in caught.value.reason
