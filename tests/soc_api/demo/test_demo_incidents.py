"""Every injected incident is in the logs where ground_truth.json says, and parses into the events
that identify it; and nothing outside the ground truth looks like one of them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from collectors.catalog import Catalog
from collectors.parsers.base import CHINA_TZ
from datasoc.event import Event, parse_timestamp
from soc_api.demo import DemoDataset

KINDS = {
    "night_core_export",
    "access_without_approval",
    "audit_disabled",
    "credential_stuffing",
    "dataset_deleted",
    "access_outside_approved_region",
    "privilege_self_grant",
    "impossible_travel",
}
Events = dict[tuple[str, int], Event]
Check = Callable[[dict[str, Any], list[Event], dict[str, Any]], None]


def incident(demo: DemoDataset, kind: str) -> dict[str, Any]:
    return next(i for i in demo.ground_truth["incidents"] if i["kind"] == kind)


def carried(item: dict[str, Any], events: Events) -> list[Event]:
    return [events[(e["file"], line)] for e in item["evidence"] for line in e["lines"]]


def test_ground_truth_lists_each_kind_once(demo: DemoDataset) -> None:
    found = [i["kind"] for i in demo.ground_truth["incidents"]]
    assert sorted(found) == sorted(KINDS)
    assert len({i["id"] for i in demo.ground_truth["incidents"]}) == len(KINDS)
    for item in demo.ground_truth["incidents"]:
        assert item["description"]["zh"]
        assert item["description"]["en"]
        assert item["actor"]
        assert item["evidence"], item["id"]
        start, end = parse_timestamp(item["window"]["start"]), parse_timestamp(item["window"]["end"])
        assert demo.start <= start <= end < demo.start + timedelta(days=demo.days)


def test_evidence_lines_exist_and_carry_their_record_ids(demo: DemoDataset, events: Events) -> None:
    for item in demo.ground_truth["incidents"]:
        for evidence in item["evidence"]:
            lines = demo.lines(evidence["file"])
            for number in evidence["lines"]:
                assert (evidence["file"], number) in events, (item["id"], number)
            for number, record_id in zip(evidence["lines"], evidence["record_ids"], strict=False):
                text = lines[number - 1]
                assert record_id.split(":")[0] in text, (item["id"], evidence["file"], number)
        window = (parse_timestamp(item["window"]["start"]), parse_timestamp(item["window"]["end"]))
        assert all(window[0] <= e.timestamp <= window[1] for e in carried(item, events))


def test_night_core_export(demo: DemoDataset, events: Events) -> None:
    item = incident(demo, "night_core_export")
    downloads = [e for e in carried(item, events) if e.action == "dataset.download"]
    assert len(downloads) >= 10
    for event in downloads:
        assert event.classification == "core"
        assert event.user_name == item["actor"]
        assert event.timestamp.astimezone(CHINA_TZ).hour < 6
        assert event.lifecycle == "transmit"
    assert sum(e.records or 0 for e in downloads) > 500_000


def test_access_without_approval(
    demo: DemoDataset, events: Events, approvals: dict[str, dict[str, Any]]
) -> None:
    item = incident(demo, "access_without_approval")
    granted = {(a["user"], a["dataset"]) for a in approvals.values()}
    accesses = carried(item, events)
    assert len(accesses) >= 3
    for event in accesses:
        assert (event.action, event.outcome, event.classification) == (
            "dataset.query",
            "success",
            "important",
        )
        assert event.approval_id is None
        assert (event.user_name, event.asset_id) not in granted


def test_audit_disabled(demo: DemoDataset, events: Events) -> None:
    item = incident(demo, "audit_disabled")
    off = [e for e in carried(item, events) if e.action == "audit.disable"]
    assert {e.dataset for e in off} == {"linux_syslog", "mysql_audit_json", "pgaudit_csv"}
    assert all(e.user_name == item["actor"] for e in off if e.dataset != "pgaudit_csv" or e.user_name)
    assert any("auditctl -e 0" in (e.get("process.command_line") or "") for e in off)
    # While auditing is off the database logs are silent: the next MySQL record comes much later.
    mysql_off = next(e for e in off if e.dataset == "mysql_audit_json")
    later = sorted(
        e.timestamp
        for (f, _), e in events.items()
        if f == "mysql_audit.jsonl" and e.timestamp > mysql_off.timestamp
    )
    if later:
        assert later[0] - mysql_off.timestamp >= timedelta(minutes=40)


def test_credential_stuffing(demo: DemoDataset, events: Events) -> None:
    item = incident(demo, "credential_stuffing")
    records = sorted(carried(item, events), key=lambda e: e.timestamp)
    failures = [e for e in records if e.action == "auth.login" and e.outcome == "failure"]
    assert len(failures) >= 50
    assert len({e.user_name for e in failures}) >= 30
    assert {e.source_ip for e in records} == {item["source_ip"]}
    assert {e.source_city for e in records} == {"广州市"}
    success = next(e for e in records if e.action == "auth.login" and e.outcome == "success")
    assert success.user_name == item["actor"]
    assert success.timestamp > max(e.timestamp for e in failures)


def test_dataset_deleted(
    demo: DemoDataset, events: Events, users: dict[str, dict[str, Any]], catalog: Catalog
) -> None:
    item = incident(demo, "dataset_deleted")
    by_action = {e.action: e for e in carried(item, events)}
    delete, drop = by_action["dataset.delete"], by_action["db.drop"]
    assert (delete.actor_role, delete.lifecycle, delete.user_name) == ("provider", "delete", item["actor"])
    assert delete.asset_id == drop.asset_id == item["dataset"]
    dataset = catalog.dataset(item["dataset"])
    assert dataset is not None
    assert users[item["actor"]]["department"] == dataset.owner
    assert drop.lifecycle == "delete"


def test_access_outside_approved_region(
    demo: DemoDataset, events: Events, approvals: dict[str, dict[str, Any]]
) -> None:
    item = incident(demo, "access_outside_approved_region")
    accesses = [e for e in carried(item, events) if e.action == "dataset.query"]
    assert accesses
    for event in accesses:
        assert event.approval_id is not None
        approval = approvals[event.approval_id]
        assert (approval["user"], approval["dataset"]) == (event.user_name, event.asset_id)
        assert _valid(approval, event.timestamp)
        assert event.source_city == "明州市"
        assert event.get("source.geo.name") != approval["allowed_region"]


def test_privilege_self_grant(demo: DemoDataset, events: Events) -> None:
    item = incident(demo, "privilege_self_grant")
    grant = next(e for e in carried(item, events) if e.action == "privilege.grant")
    assert grant.user_name == grant.get("user.target.name") == item["actor"]
    assert grant.classification == "core"
    assert grant.actor_role == "admin"


def test_impossible_travel(demo: DemoDataset, events: Events) -> None:
    item = incident(demo, "impossible_travel")
    logins = [e for e in carried(item, events) if e.action == "auth.login" and e.outcome == "success"]
    assert {e.user_name for e in logins} == {item["actor"]}
    assert {e.source_city for e in logins} == {"明州市", "上海市"}
    assert max(e.timestamp for e in logins) - min(e.timestamp for e in logins) <= timedelta(minutes=10)


# -- nothing outside the ground truth looks like an incident ----------------------------------------


def _valid(approval: dict[str, Any], when: datetime) -> bool:
    return parse_timestamp(approval["valid_from"]) <= when < parse_timestamp(approval["valid_to"])


def _outside(events: Events, evidence: dict[tuple[str, int], str]) -> list[Event]:
    return [e for key, e in events.items() if key not in evidence]


def test_no_audit_switch_or_deletion_outside_ground_truth(
    events: Events, evidence: dict[tuple[str, int], str]
) -> None:
    for event in _outside(events, evidence):
        assert event.action not in ("audit.disable", "dataset.delete", "db.drop"), event.original
        if event.action == "privilege.grant":
            assert event.get("user.target.name") != event.user_name


@pytest.mark.parametrize("grade", ["important", "core"])
def test_restricted_access_outside_ground_truth_is_approved_in_region(
    grade: str, events: Events, evidence: dict[tuple[str, int], str], approvals: dict[str, dict[str, Any]]
) -> None:
    accesses = [
        e
        for e in _outside(events, evidence)
        if e.dataset == "apigw_json" and e.classification == grade and e.actor_role == "user"
    ]
    assert accesses
    for event in accesses:
        assert event.approval_id in approvals, event.original
        approval = approvals[event.approval_id]
        assert (approval["user"], approval["dataset"]) == (event.user_name, event.asset_id)
        assert _valid(approval, event.timestamp)
        assert event.get("source.geo.name") == approval["allowed_region"]
        assert 8 <= event.timestamp.astimezone(CHINA_TZ).hour < 19


def test_logins_outside_ground_truth_are_unremarkable(
    events: Events, evidence: dict[tuple[str, int], str]
) -> None:
    failures: dict[str | None, int] = defaultdict(int)
    cities: dict[str | None, set[str | None]] = defaultdict(set)
    for event in _outside(events, evidence):
        if event.action != "auth.login":
            continue
        if event.outcome == "failure":
            failures[event.source_ip] += 1
        else:
            cities[event.user_name].add(event.source_city)
    assert max(failures.values()) <= 3
    assert all(found == {"明州市"} for found in cities.values())
