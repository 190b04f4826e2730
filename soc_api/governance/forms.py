"""The JSON forms of governance records, in (validated, `InvalidError` naming the field) and out (what
the API and the CLI answer)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from datasoc.event import format_timestamp
from soc_api.governance.errors import InvalidError
from soc_api.governance.policy import Decision
from soc_api.governance.records import (
    LIFECYCLES,
    Asset,
    AssetField,
    GrantRecord,
    RequestRecord,
    TableRef,
    check_grade,
    text,
)

ASSET_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")
FIELD_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}\Z")
MAX_FIELDS: Final = 500


def _field(data: Any, where: str) -> AssetField:
    if not isinstance(data, Mapping):
        raise InvalidError(f"{where}: 需要对象 / expected an object")
    name = data.get("name")
    if not isinstance(name, str) or not FIELD_NAME.match(name):
        raise InvalidError(f"{where}.name: 字段名须为字母数字下划线 / letters, digits and _ (1..64)")
    grade = data.get("grade")
    sub = data.get("sub_grade")
    if grade is not None or sub is not None:
        grade, sub = check_grade(grade, sub, where)
    return AssetField(
        name,
        text(data.get("type", "string"), f"{where}.type", limit=64),
        text(data.get("description", ""), f"{where}.description", optional=True, limit=500),
        grade,
        sub,
    )


def asset_from_dict(data: Any, where: str = "asset") -> Asset:
    """Validate an asset's JSON form (the API's and the catalog file's); `InvalidError` names the field."""
    if not isinstance(data, Mapping):
        raise InvalidError(f"{where}: 需要对象 / expected an object")
    asset_id = data.get("id")
    if not isinstance(asset_id, str) or not ASSET_ID.match(asset_id):
        raise InvalidError(f"{where}.id: 须为 1–128 个字母、数字或 _.- / 1..128 letters, digits or _.-")
    grade, sub = check_grade(data.get("grade", data.get("classification")), data.get("sub_grade"), where)
    lifecycle = data.get("lifecycle", "published")
    if lifecycle not in LIFECYCLES:
        raise InvalidError(f"{where}.lifecycle: 须为 {list(LIFECYCLES)} / must be one of {list(LIFECYCLES)}")
    count = data.get("record_count")
    if count is not None and (
        isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 2**53 - 1
    ):
        raise InvalidError(f"{where}.record_count: 需要非负整数 / expected a non-negative integer")
    table = None
    if data.get("table") is not None:
        raw = data["table"]
        if not isinstance(raw, Mapping) or raw.get("engine") not in ("mysql", "postgresql"):
            raise InvalidError(f"{where}.table.engine: mysql 或 postgresql / mysql or postgresql")
        table = TableRef(
            str(raw["engine"]),
            text(raw.get("database"), f"{where}.table.database", limit=128),
            text(raw.get("name"), f"{where}.table.name", limit=128),
        )
    raw_fields = data.get("fields", [])
    if not isinstance(raw_fields, list) or len(raw_fields) > MAX_FIELDS:
        raise InvalidError(
            f"{where}.fields: 最多 {MAX_FIELDS} 个字段 / a list of at most {MAX_FIELDS} fields"
        )
    fields = tuple(_field(f, f"{where}.fields[{i}]") for i, f in enumerate(raw_fields))
    if len({f.name for f in fields}) != len(fields):
        raise InvalidError(f"{where}.fields: 字段名重复 / duplicate field names")
    return Asset(
        id=asset_id,
        name=text(data.get("name"), f"{where}.name", limit=200),
        name_en=text(data.get("name_en", ""), f"{where}.name_en", optional=True, limit=200),
        owner=text(data.get("owner"), f"{where}.owner", limit=64),
        region=text(data.get("region"), f"{where}.region", limit=64),
        grade=grade,
        sub_grade=sub,
        lifecycle=str(lifecycle),
        table=table,
        record_count=count,
        fields=fields,
    )


def asset_form(dataset: Any) -> Any:
    """A catalog file's dataset (`classification`) in the asset form (`grade`)."""
    if not isinstance(dataset, Mapping):
        return dataset
    out = dict(dataset)
    if "grade" not in out and "classification" in out:
        out["grade"] = out.pop("classification")
    return out


def dataset_form(asset: Asset) -> dict[str, Any]:
    """An asset in the parsers' catalog form (`collectors.catalog.Dataset`), field grades included."""
    out: dict[str, Any] = {
        "id": asset.id,
        "name": asset.name,
        "name_en": asset.name_en,
        "classification": asset.grade,
        "owner": asset.owner,
        "region": asset.region,
        "fields": [{"name": f.name, "classification": f.grade} for f in asset.fields if f.grade is not None],
    }
    if asset.table is not None:
        out["table"] = {
            "engine": asset.table.engine,
            "database": asset.table.database,
            "name": asset.table.name,
        }
    return out


def request_to_dict(record: RequestRecord) -> dict[str, Any]:
    """A request's JSON form (the API's and the CLI's)."""
    return {
        "id": record.id,
        "requester": record.requester,
        "status": record.status,
        "grade": record.grade,
        "sub_grade": record.sub_grade,
        "owners": sorted(record.owners),
        "policy_version": record.policy_version,
        "retroactive": record.retroactive,
        "created_at": format_timestamp(record.created_at),
        "decided_at": None if record.decided_at is None else format_timestamp(record.decided_at),
        "terms": record.terms.to_dict(),
        "decisions": [
            {
                "approver": d.username,
                "decision": d.decision,
                "roles": sorted(d.roles),
                "departments": sorted(d.departments),
                "note": d.note,
                "at": format_timestamp(d.at),
            }
            for d in record.decisions
        ],
    }


def decision_to_dict(decision: Decision) -> dict[str, Any]:
    """A policy decision's JSON form."""
    return {
        "satisfied": decision.satisfied,
        "counted": sorted(decision.counted),
        "needs": list(decision.needs),
        "refused": list(decision.refused),
        "automatic": decision.automatic,
    }


def grant_to_dict(record: GrantRecord) -> dict[str, Any]:
    """A grant's JSON form (the API's and the CLI's): its status, source and whole history."""
    return {
        "id": record.grant.id,
        "user": record.grant.user,
        "status": record.status,
        "source": record.source,
        "purpose": record.grant.purpose,
        "approvers": list(record.grant.approvers),
        "issued_at": format_timestamp(record.issued_at),
        "updated_at": format_timestamp(record.updated_at),
        "terms": record.grant.terms.to_dict(),
        "revisions": [r.to_dict() for r in record.grant.revisions],
    }
