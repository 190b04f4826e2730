"""The catalog: registration scoped by department, grade changes ledgered with who, why and before,
discovery that only suggests, the import path, and the snapshot the parsers enrich from."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from soc_api.governance.errors import ConflictError, ForbiddenError, InvalidError
from soc_api.governance.samples import mobile, resident_id
from soc_api.identity.actors import Actor
from soc_api.identity.roles import Role
from tests.soc_api.governance.conftest import CATALOG, GovEnv

NEW: dict[str, Any] = {
    "id": "ds-jsr",
    "name": "机动车驾驶人信息",
    "owner": "gaj",
    "region": "东湖区",
    "grade": "important",
    "record_count": 120000,
    "fields": [
        {"name": "xm", "type": "string"},
        {"name": "sfzh", "type": "string"},
        {"name": "sjhm", "type": "string"},
    ],
}


def test_a_data_owner_registers_assets_of_their_own_department_only(gov: GovEnv) -> None:
    owner = gov.person("gaj-owner", Role.DATA_OWNER, departments=("gaj",))
    other = gov.person("wjw-owner", Role.DATA_OWNER, departments=("wjw",))
    now = gov.clock()
    with pytest.raises(ForbiddenError):
        gov.gov.catalog.register(other, NEW, now=now)
    asset = gov.gov.catalog.register(owner, NEW, now=now)
    assert (asset.grade, [f.name for f in asset.fields]) == ("important", ["xm", "sfzh", "sjhm"])
    with pytest.raises(ConflictError):
        gov.gov.catalog.register(owner, NEW, now=now)
    outcomes = [e["payload"]["outcome"] for e in gov.env.entries("admin.asset_registered")]  # type: ignore[index]
    assert outcomes == ["denied", "success"]
    updated = gov.gov.catalog.update(owner, "ds-jsr", {"record_count": 130000, "grade": "core"}, now=now)
    assert (updated.record_count, updated.grade) == (130000, "important")  # grades change only by set_grade


def test_a_grade_change_is_ledgered_with_who_why_and_the_grade_before(gov: GovEnv) -> None:
    owner = gov.person("gaj-owner", Role.DATA_OWNER, departments=("gaj",))
    sec = gov.person("sec", Role.SECURITY_ADMIN)
    catalog, now = gov.gov.catalog, gov.clock()
    with pytest.raises(ForbiddenError):
        catalog.set_grade(Actor.cli("root"), "ds-hjqy", "core", None, reason="x", now=now)
    with pytest.raises(InvalidError, match="sub-grades"):
        catalog.set_grade(owner, "ds-hjqy", "important", 2, reason="x", now=now)
    catalog.set_grade(owner, "ds-hjqy", "core", None, reason="含全量户籍迁移", now=now)
    catalog.set_grade(sec, "ds-qydj", "core", None, reason="法定代表人身份证号", now=now, field="qymc")
    history = catalog.history("ds-hjqy")
    assert [(h.before, h.after, h.actor) for h in history] == [
        (("important", None), ("core", None), "user:gaj-owner")
    ]
    entries = [
        e for e in gov.env.entries("admin.classification_changed") if e["payload"]["outcome"] == "success"
    ]  # type: ignore[index]
    changes = [
        (e["subject"], e["payload"].get("field"), e["payload"]["before"], e["payload"]["after"])
        for e in entries
    ]  # type: ignore[union-attr,index]
    assert changes == [
        ("ds-hjqy", None, {"grade": "important", "sub_grade": None}, {"grade": "core", "sub_grade": None}),
        ("ds-qydj", "qymc", {"grade": None, "sub_grade": None}, {"grade": "core", "sub_grade": None}),
    ]
    assert entries[0]["payload"]["reason"] == "含全量户籍迁移"  # type: ignore[index]
    assert catalog.asset("ds-qydj").field("qymc").grade == "core"  # type: ignore[union-attr]


def test_discovery_suggests_and_never_changes_a_grade(gov: GovEnv) -> None:
    owner = gov.person("gaj-owner", Role.DATA_OWNER, departments=("gaj",))
    catalog, now = gov.gov.catalog, gov.clock()
    catalog.register(owner, {**NEW, "grade": "general"}, now=now)
    rng = random.Random(5)
    samples = [{"xm": "王伟", "sfzh": resident_id(rng), "sjhm": mobile(rng)} for _ in range(20)]
    found = catalog.discover(owner, "ds-jsr", samples, now=now)
    assert (found.grade, {f.kind for f in found.findings}) == ("important", {"resident_id", "mobile"})
    assert catalog.asset("ds-jsr").grade == "general"
    latest = catalog.store.latest_discovery("ds-jsr")
    assert latest is not None
    assert latest["suggested"]["grade"] == "important"
    assert latest["current"]["grade"] == "general"
    entry = gov.env.entries("admin.discovery_run")[-1]["payload"]
    assert entry["evidence"]["findings"][0]["positions"][:3] == [0, 1, 2]  # type: ignore[index]
    assert samples[0]["sfzh"] not in str(entry)


def test_the_catalog_file_imports_again_without_change_and_regrades_from_it(gov: GovEnv) -> None:
    catalog, now = gov.gov.catalog, gov.clock()
    again = catalog.import_document(Actor.cli("op"), CATALOG, now=now, source="catalog.json")
    assert (again.added, again.updated, again.regraded) == ((), (), ())
    changed = copy.deepcopy(CATALOG)
    changed["datasets"][1]["classification"] = "core"
    report = catalog.import_document(Actor.cli("op"), changed, now=now, source="catalog.json")
    assert report.regraded == ("ds-hjqy",)
    entry = gov.env.entries("admin.classification_changed")[-1]
    assert (entry["actor"], entry["payload"]["reason"]) == ("cli:op", "catalog file catalog.json")  # type: ignore[index]
    broken = copy.deepcopy(CATALOG)
    broken["datasets"][0]["classification"] = "secret"
    with pytest.raises(InvalidError, match=r"datasets\[0\]"):
        catalog.import_document(Actor.cli("op"), broken, now=now, source="x")


def test_the_snapshot_is_the_parsers_catalog_with_field_grades(gov: GovEnv) -> None:
    before = gov.gov.catalog.version()
    snapshot = gov.gov.catalog.snapshot()
    assert snapshot is not None
    dataset = snapshot.dataset("ds-qydj")
    assert dataset is not None
    assert dataset.grade_of(["qymc"]) == "general"
    assert dataset.grade_of(["qymc", "fddbr_sfzh"]) == "core"
    assert snapshot.locate("10.22.1.1") is not None
    sec = gov.person("sec", Role.SECURITY_ADMIN)
    gov.gov.catalog.set_grade(sec, "ds-qydj", "general", 3, reason="个人信息", now=gov.clock())
    assert gov.gov.catalog.version() > before


def test_department_members_are_set_by_a_security_administrator(gov: GovEnv) -> None:
    owner = gov.person("gaj-owner", Role.DATA_OWNER, departments=("gaj",))
    sec = gov.person("sec", Role.SECURITY_ADMIN)
    gov.env.add_user("newcomer", Role.DATA_OWNER)
    with pytest.raises(ForbiddenError):
        gov.gov.catalog.set_members(owner, "gaj", ["gaj-owner", "newcomer"], now=gov.clock())
    gov.gov.catalog.set_members(sec, "gaj", ["gaj-owner", "newcomer"], now=gov.clock())
    assert gov.gov.catalog.store.departments_of(gov.gov.identity.find("newcomer").id) == {"gaj"}
