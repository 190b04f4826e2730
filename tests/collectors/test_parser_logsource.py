"""Every parser writes the Sigma logsource of its events (`datasoc.logsource.*`), from one table."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from collectors.parsers import PARSERS
from collectors.parsers.lifecycle import ACTIONS
from collectors.parsers.logsource import CATEGORIES, category_of
from datasoc.logsource import DATASOC_CATEGORIES, DATASOC_SERVICES
from tests.collectors.test_parser_windows import LOGON, SYSMON


def test_every_action_has_a_category_entry() -> None:
    assert set(CATEGORIES) == set(ACTIONS)
    assert {c for c in CATEGORIES.values() if c is not None} == DATASOC_CATEGORIES


def test_every_parser_names_a_known_service() -> None:
    services = {cls.service for cls in PARSERS.values()}
    assert services == DATASOC_SERVICES
    assert PARSERS["mysql_audit_json"].service == PARSERS["pgaudit_csv"].service == "database"


def test_examples_from_the_mapping() -> None:
    assert category_of("auth.login") == "authentication"
    assert category_of("dataset.download") == "data_access"
    assert category_of("audit.clear") == "audit_config"
    assert category_of("privilege.grant") == "iam"
    assert category_of("db.ddl") is None


def test_windows_parser_writes_the_datasoc_logsource(now: datetime, new_id: Callable[[], str]) -> None:
    parser = PARSERS["windows_evtx"](collector="file:winlog")

    def parse(record: object) -> dict[str, object]:
        text = json.dumps(record, ensure_ascii=False)
        return parser.parse(text, source="w.json", now=now, new_id=new_id, position=1).to_dict()

    logon = parse(LOGON)
    assert (logon["datasoc.logsource.product"], logon["datasoc.logsource.service"]) == ("datasoc", "windows")
    assert logon["datasoc.logsource.category"] == "authentication"
    # An action without a category leaves the field out (the event has none); the native Channel and
    # EventID stay, so Windows rules still route by them (detection.logsource).
    file_event = parse(SYSMON)
    assert "datasoc.logsource.category" not in file_event
    assert file_event["Channel"] == "Microsoft-Windows-Sysmon/Operational"


def test_gateway_parser_writes_the_datasoc_logsource(now: datetime, new_id: Callable[[], str]) -> None:
    parser = PARSERS["apigw_json"](collector="file:apigw")
    line = json.dumps(
        {
            "request_id": "r-1",
            "time": "2026-03-02T01:02:03Z",
            "client_ip": "10.1.2.3",
            "method": "GET",
            "uri": "/api/v1/datasets/DS-001/records?page=1",
            "status": 200,
            "consumer": {"username": "u1"},
        }
    )
    event = parser.parse(line, source="a.jsonl", now=now, new_id=new_id, position=1).to_dict()
    assert event["datasoc.logsource.product"] == "datasoc"
    assert event["datasoc.logsource.service"] == "apigw"
    assert event["datasoc.logsource.category"] == category_of(str(event["event.action"]))
