"""Data governance over the API, as the people who do it: the security administrator imports the
catalog and sets members, a data user requests core data, two approvers (one a security administrator)
approve, accesses are traced, and the audit administrator searches, reviews and exports the trail."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from typing import Any

from audit.bundle import check_bundle
from soc_api.identity.actors import Actor
from soc_api.identity.roles import Role
from tests.soc_api.governance.conftest import CATALOG
from tests.soc_api.webapi.conftest import Harness


def _people(harness: Harness) -> dict[str, Any]:
    for name, role in (
        ("sec", Role.SECURITY_ADMIN),
        ("auditor", Role.AUDIT_ADMIN),
        ("wangwei", Role.DATA_USER),
        ("gaj-owner", Role.DATA_OWNER),
        ("appr", Role.APPROVER),
    ):
        harness.add(name, role)
    return {name: harness.sign_in(name) for name in ("sec", "auditor", "wangwei", "gaj-owner", "appr")}


def test_request_approve_trace_review_and_export_through_the_api(harness: Harness) -> None:
    people = _people(harness)
    sec, user, owner, approver, auditor = (
        people["sec"],
        people["wangwei"],
        people["gaj-owner"],
        people["appr"],
        people["auditor"],
    )
    assert (
        owner.post("/api/v1/catalog/import", json={"document": CATALOG}).status_code == 403
    )  # owners do not
    imported = sec.post("/api/v1/catalog/import", json={"document": CATALOG, "source": "test"})
    assert imported.status_code == 200, imported.text
    assert sorted(imported.json()["added"]) == ["ds-dzbl", "ds-hjqy", "ds-qydj", "ds-rkjc"]
    members = sec.put("/api/v1/catalog/departments/gaj/members", json={"members": ["gaj-owner"]})
    assert members.json()["members"] == ["gaj-owner"]
    assets = user.get("/api/v1/catalog/assets", params={"grade": "core"}).json()["items"]
    assert [a["id"] for a in assets] == ["ds-rkjc"]
    now = harness.env.clock()
    body = {
        "assets": {"ds-rkjc": ["xm"]},
        "purpose": "人口核验",
        "legal_basis": "政务数据共享管理办法",
        "region": "东湖区",
        "valid_from": (now - timedelta(hours=1)).isoformat(),
        "valid_to": (now + timedelta(days=10)).isoformat(),
        "record_cap": 1000,
    }
    assert approver.post("/api/v1/access/requests", json=body).status_code == 403  # approvers do not request
    made = user.post("/api/v1/access/requests", json=body)
    assert made.status_code == 201, made.text
    request_id = made.json()["id"]
    assert (made.json()["grade"], made.json()["status"], made.json()["retroactive"]) == (
        "core",
        "pending",
        True,
    )
    assert [r["id"] for r in approver.get("/api/v1/access/inbox").json()] == [request_id]
    first = approver.post(f"/api/v1/access/requests/{request_id}/decision", json={"decision": "approve"})
    assert first.json()["status"] == "pending"
    again = approver.post(f"/api/v1/access/requests/{request_id}/decision", json={"decision": "approve"})
    assert (again.status_code, again.json()["type"].rsplit("/", 1)[-1]) == (409, "separation-of-duties")
    detail = sec.get(f"/api/v1/access/requests/{request_id}").json()
    assert detail["decision"]["counted"]
    assert not detail["decision"]["satisfied"]
    done = sec.post(
        f"/api/v1/access/requests/{request_id}/decision", json={"decision": "approve", "note": "同意"}
    )
    assert done.json()["status"] == "approved"
    mine = user.get("/api/v1/me/access/grants").json()
    assert [(g["id"], g["status"], sorted(g["approvers"])) for g in mine] == [
        (request_id, "active", ["appr", "sec"])
    ]
    narrowed = owner.post(
        f"/api/v1/grants/{request_id}/narrow", json={"changes": {"record_cap": 500}, "reason": "最小必要"}
    )
    assert narrowed.status_code == 200, narrowed.text
    assert narrowed.json()["terms"]["record_cap"] == 500

    # The auditor: every ledger entry of the grant, a review, and an export proven complete.
    found = auditor.get("/api/v1/audit/trail", params={"grant": request_id}).json()["items"]
    assert [e["kind"] for e in reversed(found)] == [
        "approval.requested",
        "approval.approved",
        "approval.approved",  # the second try: denied
        "approval.approved",
        "grant.issued",
        "grant.narrowed",
    ]
    denied = auditor.get("/api/v1/audit/trail", params={"grant": request_id, "outcome": "denied"}).json()
    assert len(denied["items"]) == 1
    reviewed = auditor.post(
        "/api/v1/audit/trail/reviews",
        json={"selection": {"grant": request_id}, "note": "审批链完整", "finding": "无", "signoff": True},
    )
    assert reviewed.status_code == 201, reviewed.text
    assert sec.post("/api/v1/audit/trail/export", json={"grant": request_id}).status_code == 403
    harness.env.clock.advance(seconds=1)  # a checkpoint later than every entry so far
    exported = auditor.post("/api/v1/audit/trail/export", json={"grant": request_id})
    assert exported.status_code == 200, exported.text
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        names = sorted(archive.namelist())
        bundle = archive.read("trail-export/bundle.zip")
        csv_text = archive.read("trail-export/entries.csv").decode("utf-8-sig")
        html = archive.read("trail-export/report.html").decode("utf-8")
        pdf = archive.read("trail-export/report.pdf")
    assert names == [
        f"trail-export/{n}"
        for n in (
            "bundle.zip",
            "entries.csv",
            "pubkey.pem",
            "report.html",
            "report.pdf",
            "report.txt",
            "summary.json",
        )
    ]
    # The report charts the same entries: here no access yet, the approvals and their turnaround.
    assert html.count("<svg") == 2
    assert "审批意见 / decisions" in html
    assert "所选范围内没有违规访问" in html
    assert pdf.startswith(b"%PDF-")
    report = check_bundle(bundle, harness.env.keys.signing_key.public_key_pem())
    assert report.complete
    assert f"grant {request_id}" in report.statement_en
    assert len(csv_text.splitlines()) == 1 + 6  # the header and the grant's six entries
    assert [e["payload"]["outcome"] for e in harness.env.entries("export")] == ["success"]  # type: ignore[index]
    refusal = [e for e in harness.env.entries("authz.denied") if e["payload"]["permission"] == "audit.export"]  # type: ignore[index]
    assert [e["actor"] for e in refusal] == ["user:sec"]


def test_a_token_is_not_a_person_and_neither_requests_nor_decides(harness: Harness) -> None:
    from soc_api.identity.roles import Permission

    env = harness.env
    issued = env.identity.tokens.create(
        Actor.cli("t"),
        name="bot",
        kind="api",
        scopes=[Permission.ACCESS_REQUEST, Permission.APPROVALS_DECIDE, Permission.CATALOG_READ],
        now=env.clock(),
    )
    bot = harness.client()
    bot.headers["Authorization"] = f"Bearer {issued.secret}"
    body = {
        "assets": {"ds-x": None},
        "purpose": "p",
        "legal_basis": "b",
        "valid_from": "2026-12-01T00:00:00Z",
        "valid_to": "2026-12-02T00:00:00Z",
    }
    refused = bot.post("/api/v1/access/requests", json=body)
    assert refused.status_code == 403, refused.text
    assert bot.get("/api/v1/access/inbox").json() == []
    assert bot.get("/api/v1/me/access/grants").json() == []
