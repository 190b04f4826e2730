"""The approval register: validation, the status at event time, and the gateway parser's join."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collectors.approvals import ApprovalRegister, ApprovalRegisterError
from collectors.catalog import Catalog
from collectors.parsers import PARSERS, ApiGatewayJsonParser

RECORDS: list[dict[str, Any]] = [
    {
        "id": "SQ-2026-0007",
        "user": "wangwei",
        "dataset": "ds-gaj-hjqy",
        "allowed_region": "东湖区",
        "valid_from": "2026-01-10T00:00:00+08:00",
        "valid_to": "2026-06-30T00:00:00+08:00",
        "purpose": "人口统计分析",
        "approver": "gaojunjie",
        "status": "approved",
    },
    {
        "id": "SQ-2026-0008",
        "user": "lina",
        "dataset": "ds-gaj-rkjc",
        "allowed_region": "西山区",
        "valid_from": "2026-01-10T00:00:00+08:00",
        "valid_to": "2026-06-30T00:00:00+08:00",
        "status": "revoked",
    },
]
# 2026-03-02 09:13:22 Asia/Shanghai, inside SQ-2026-0007's window.
AT = datetime(2026, 3, 2, 1, 13, 22, tzinfo=UTC)
QUERY = (
    '{"time":"2026-03-02T09:13:22.123+08:00","request_id":"7f3c","client_ip":"10.22.3.4",'
    '"consumer":"wangwei","consumer_group":"data_user","method":"GET",'
    '"uri":"/api/v1/datasets/ds-gaj-hjqy/records","status":200,"bytes":96400,'
    '"upstream_records":"500","approval_id":"%s"}'
)


@pytest.fixture
def register() -> ApprovalRegister:
    return ApprovalRegister.from_records(RECORDS)


def test_enrich_copies_the_approval_and_its_status(register: ApprovalRegister) -> None:
    fields = {"approval.id": "SQ-2026-0007", "user.name": "wangwei"}
    enriched = register.enrich(fields, at=AT)
    assert enriched == {
        **fields,
        "approval.region": "东湖区",
        "approval.user": "wangwei",
        "approval.dataset": "ds-gaj-hjqy",
        "approval.status": "approved",
    }
    assert "approval.region" not in fields  # pure: the input is not modified


@pytest.mark.parametrize(
    ("at", "status"),
    [
        (datetime(2026, 1, 9, 16, 0, tzinfo=UTC), "approved"),  # valid_from itself (08:00 +08:00) is inside
        (datetime(2026, 1, 9, 15, 59, 59, tzinfo=UTC), "expired"),  # one second before
        (datetime(2026, 6, 29, 15, 59, 59, tzinfo=UTC), "approved"),
        (datetime(2026, 6, 29, 16, 0, tzinfo=UTC), "expired"),  # valid_to is excluded
    ],
)
def test_status_window_is_half_open(register: ApprovalRegister, at: datetime, status: str) -> None:
    assert register.enrich({"approval.id": "SQ-2026-0007"}, at=at)["approval.status"] == status


def test_register_status_wins_over_the_window(register: ApprovalRegister) -> None:
    enriched = register.enrich({"approval.id": "SQ-2026-0008"}, at=AT)
    assert enriched["approval.status"] == "revoked"
    assert enriched["approval.region"] == "西山区"


def test_unknown_id_gets_only_a_status(register: ApprovalRegister) -> None:
    assert register.enrich({"approval.id": "SQ-1999-0001"}, at=AT) == {
        "approval.id": "SQ-1999-0001",
        "approval.status": "unknown",
    }


def test_event_without_an_approval_is_unchanged(register: ApprovalRegister) -> None:
    assert register.enrich({"user.name": "wangwei"}, at=AT) == {"user.name": "wangwei"}


def test_missing_status_means_approved() -> None:
    record = {k: v for k, v in RECORDS[0].items() if k != "status"}
    register = ApprovalRegister.from_records([record])
    assert register.enrich({"approval.id": "SQ-2026-0007"}, at=AT)["approval.status"] == "approved"


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"user": ""}, "approvals:1.user"),
        ({"allowed_region": None}, "approvals:1.allowed_region"),
        ({"valid_to": "2026-06-30"}, "approvals:1.valid_to"),
        ({"valid_to": "2026-01-01T00:00:00+08:00"}, "approvals:1.valid_to"),
        ({"status": 3}, "approvals:1.status"),
    ],
)
def test_bad_records_name_the_record_and_field(change: dict[str, Any], where: str) -> None:
    with pytest.raises(ApprovalRegisterError) as caught:
        ApprovalRegister.from_records([{**RECORDS[0], **change}])
    assert caught.value.where == where


def test_duplicate_ids_are_rejected() -> None:
    with pytest.raises(ApprovalRegisterError, match="duplicate approval id 'SQ-2026-0007'"):
        ApprovalRegister.from_records([RECORDS[0], RECORDS[0]])


def test_from_file_reads_json_lines_and_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "approvals.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in RECORDS) + "\n\n", "utf-8")
    register = ApprovalRegister.from_file(path)
    assert len(register) == 2
    assert register.get("SQ-2026-0008") is not None
    path.write_text(json.dumps(RECORDS[0]) + "\n\n{not json\n", "utf-8")
    with pytest.raises(ApprovalRegisterError, match=r"approvals\.jsonl:3: invalid JSON"):
        ApprovalRegister.from_file(path)
    with pytest.raises(ApprovalRegisterError, match="cannot read"):
        ApprovalRegister.from_file(tmp_path / "missing.jsonl")


def test_gateway_parser_joins_the_register(
    register: ApprovalRegister, catalog: Catalog, now: datetime, new_id: Callable[[], str]
) -> None:
    parser = ApiGatewayJsonParser(collector="test", catalog=catalog, approvals=register)
    event = parser.parse(QUERY % "SQ-2026-0007", source="apigw.jsonl", now=now, new_id=new_id)
    assert event.get("approval.region") == "东湖区"
    assert event.get("approval.user") == "wangwei"
    assert event.get("approval.dataset") == "ds-gaj-hjqy"
    assert event.get("approval.status") == "approved"
    assert event.get("source.geo.name") == "西山区"  # the case the outside-region rule looks for
    unknown = parser.parse(QUERY % "SQ-0000", source="apigw.jsonl", now=now, new_id=new_id)
    assert unknown.get("approval.status") == "unknown"
    assert unknown.get("approval.region") is None


def test_parsers_without_a_register_add_nothing(
    catalog: Catalog, now: datetime, new_id: Callable[[], str]
) -> None:
    parser = ApiGatewayJsonParser(collector="test", catalog=catalog)
    event = parser.parse(QUERY % "SQ-2026-0007", source="apigw.jsonl", now=now, new_id=new_id)
    assert event.get("approval.id") == "SQ-2026-0007"
    assert event.get("approval.status") is None


def test_every_parser_accepts_a_register(register: ApprovalRegister) -> None:
    for parser_type in PARSERS.values():
        assert parser_type(collector="test", approvals=register).approvals is register


def test_status_at_uses_the_event_time_not_the_clock(register: ApprovalRegister) -> None:
    grant = register.get("SQ-2026-0007")
    assert grant is not None
    assert grant.status_at(grant.terms.valid_to - timedelta(microseconds=1)) == "approved"
    assert grant.status_at(grant.terms.valid_to) == "expired"


def test_a_register_record_is_a_grant_of_every_field_without_a_cap(register: ApprovalRegister) -> None:
    grant = register.get("SQ-2026-0007")
    assert grant is not None
    assert grant.user == "wangwei"
    assert grant.approvers == ("gaojunjie",)
    assert dict(grant.terms.assets) == {"ds-gaj-hjqy": None}
    assert (grant.terms.region, grant.terms.record_cap, grant.terms.export) == ("东湖区", None, True)
    revoked = register.get("SQ-2026-0008")
    assert revoked is not None
    assert revoked.current.state == "revoked"


def test_enrich_names_the_granted_assets_when_the_event_is_on_another(register: ApprovalRegister) -> None:
    fields = {"approval.id": "SQ-2026-0007", "data.asset.id": "ds-gaj-rkjc"}
    assert register.enrich(fields, at=AT)["approval.dataset"] == "ds-gaj-hjqy"
    fields["data.asset.id"] = "ds-gaj-hjqy"
    assert register.enrich(fields, at=AT)["approval.dataset"] == "ds-gaj-hjqy"
