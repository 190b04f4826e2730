"""The alerting API end to end over the real services: queue, lifecycle, SSE, receipts, suppressions,
routes, the outbox's dead letters, cases and bulletins, each with the roles that may use it."""

from __future__ import annotations

import base64

from soc_api.alerting.intake import LedgerRecorder, take_in
from soc_api.alerting.notices import Notice
from soc_api.alerting.outbox import enqueue, record_failure
from soc_api.alerting.records import NotificationRecord, ts
from soc_api.alerting.store import AlertQuery
from soc_api.identity.actors import Actor
from soc_api.identity.roles import Permission, Role
from tests.soc_api.alerting.conftest import detection_alert
from tests.soc_api.webapi.conftest import Harness


def seed(harness: Harness, count: int = 3) -> list[str]:
    env = harness.env
    assert harness.services.alerting is not None
    config = harness.services.alerting.config
    alerts = [detection_alert(n, user=f"user{n % count}") for n in range(count * 2)]
    take_in(env.state, LedgerRecorder(env.ledger, env.clock), config, alerts, now=env.clock())
    return [a.id for a in harness.services.alerting.find(AlertQuery())]


def test_queue_lifecycle_and_history(harness: Harness) -> None:
    ids = seed(harness)
    harness.add("ana", Role.ANALYST)
    harness.add("view", Role.VIEWER)
    analyst, viewer = harness.sign_in("ana"), harness.sign_in("view")
    page = viewer.get("/api/v1/alerts", params={"limit": 2})
    assert page.status_code == 200, page.text
    body = page.json()
    assert len(body["items"]) == 2
    assert body["items"][0]["count"] == 2  # two detection alerts per user rolled up
    rest = viewer.get("/api/v1/alerts", params={"limit": 2, "cursor": body["next_cursor"]}).json()
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None
    assert {a["id"] for a in body["items"] + rest["items"]} == set(ids)
    assert viewer.get("/api/v1/alerts", params={"level": "blue"}).json()["items"] == []
    alert_id = ids[0]
    assert viewer.post(f"/api/v1/alerts/{alert_id}/start", json={}).status_code == 403

    started = analyst.post(f"/api/v1/alerts/{alert_id}/start", json={"note": "看一下"})
    assert started.status_code == 200, started.text
    assert (started.json()["status"], started.json()["assignee"]) == ("in_progress", "ana")
    assert (
        analyst.post(f"/api/v1/alerts/{alert_id}/assign", json={"assignee": "colleague"}).json()["assignee"]
        == "colleague"
    )
    assert (
        analyst.post(f"/api/v1/alerts/{alert_id}/comments", json={"text": "已联系数据提供方"}).status_code
        == 200
    )
    refused = analyst.post(f"/api/v1/alerts/{alert_id}/close", json={"resolution": "resolved", "note": "  "})
    assert refused.status_code == 422
    closed = analyst.post(
        f"/api/v1/alerts/{alert_id}/close", json={"resolution": "false_positive", "note": "测试账号"}
    )
    assert closed.json()["status"] == "closed"
    assert closed.json()["resolution"] == "false_positive"
    again = analyst.post(f"/api/v1/alerts/{alert_id}/close", json={"resolution": "resolved", "note": "x"})
    assert again.status_code == 409
    assert again.json()["type"].endswith("/transition-refused")
    reopened = analyst.post(f"/api/v1/alerts/{alert_id}/reopen", json={"note": "又出现了"})
    assert reopened.json()["status"] == "in_progress"
    detail = viewer.get(f"/api/v1/alerts/{alert_id}").json()
    actions = [h["action"] for h in detail["history"]]
    assert actions == ["new", "grouped", "started", "assigned", "commented", "closed", "reopened"]
    assert len(detail["members"]) == 2
    # Each action is ledgered before its effect, with the person; the refused close as failed.
    entries = harness.env.entries("alert.")
    kinds = [e["kind"] for e in entries if e["actor"] == "user:ana"]
    assert kinds == [
        "alert.started",
        "alert.assigned",
        "alert.commented",
        "alert.closed",
        "alert.closed",
        "alert.closed",
        "alert.reopened",
    ]
    outcomes = [
        e["payload"]["outcome"] for e in entries if e["actor"] == "user:ana" and e["kind"] == "alert.closed"
    ]  # type: ignore[index]
    assert outcomes == ["success", "success", "failed"]


def test_sse_streams_changes_after_the_last_event_id(harness: Harness) -> None:
    seed(harness, 1)
    harness.add("view", Role.VIEWER)
    viewer = harness.sign_in("view")
    answer = viewer.get("/api/v1/alerts/stream", params={"after": 0})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = [block for block in answer.text.split("\n\n") if block.startswith("id:")]
    assert [e.splitlines()[0] for e in events] == ["id: 1", "id: 2"]
    assert '"action": "new"' in events[0]
    resumed = viewer.get("/api/v1/alerts/stream", headers={"Last-Event-ID": "1"})
    assert [b.splitlines()[0] for b in resumed.text.split("\n\n") if b.startswith("id:")] == ["id: 2"]


def test_receipts_need_their_own_scope(harness: Harness) -> None:
    ids = seed(harness, 1)
    env = harness.env
    # Machine tokens with this scope are made at the host (`datasoc tokens create --scope alerts.receipt`).
    made = env.identity.tokens.create(
        Actor.cli("op"), name="province", kind="api", scopes=[Permission.ALERTS_RECEIPT], now=env.clock()
    )
    bot = harness.client()
    bot.headers["Authorization"] = f"Bearer {made.secret}"
    assert bot.get("/api/v1/alerts").status_code == 403
    acked = bot.post(f"/api/v1/alerts/{ids[0]}/receipts", json={"channel": "hook"})
    assert acked.status_code == 200, acked.text
    assert acked.json()["status"] == "notified"
    assert bot.post(f"/api/v1/alerts/{ids[0]}/receipts", json={"channel": "nope"}).status_code == 422
    assert [e["actor"] for e in env.entries("alert.receipt")] == [f"token:{made.record.id}"]


def test_suppressions_routes_and_dead_letters(harness: Harness) -> None:
    harness.add("sec", Role.SECURITY_ADMIN)
    harness.add("ana", Role.ANALYST)
    admin, analyst = harness.sign_in("sec"), harness.sign_in("ana")
    body = {
        "rule_id": "*",
        "conditions": [{"field": "user.name", "op": "eq", "values": ["user0"]}],
        "owner": "张三",
        "reason": "压测账号 load-test account",
        "expires_at": ts(harness.env.clock().replace(year=2027)),
    }
    assert analyst.post("/api/v1/suppressions", json=body).status_code == 403
    made = admin.post("/api/v1/suppressions", json=body)
    assert made.status_code == 201, made.text
    seed(harness, 2)
    listed = analyst.get("/api/v1/suppressions").json()
    assert listed[0]["hits"] == 2
    queue = analyst.get("/api/v1/alerts").json()["items"]
    assert {a["group"]["user.name"] for a in queue} == {"user1"}
    suppressed = analyst.get("/api/v1/alerts", params={"suppressed": True}).json()["items"]
    assert [a["group"]["user.name"] for a in suppressed] == ["user0"]
    assert admin.delete(f"/api/v1/suppressions/{made.json()['id']}").status_code == 204
    assert harness.env.entries("alert.suppression_created")
    assert harness.env.entries("alert.suppression_revoked")

    route = {"channels": ["hook"], "levels": ["red"], "hours": "22:00-06:00"}
    assert analyst.put("/api/v1/notifications/routes/night-red", json=route).status_code == 403
    saved = admin.put("/api/v1/notifications/routes/night-red", json=route)
    assert saved.status_code == 200, saved.text
    assert admin.put("/api/v1/notifications/routes/bad", json={"channels": ["nope"]}).status_code == 422
    # Create-only: a taken name is refused (412) and the stored route is kept.
    other = {"channels": ["hook"], "levels": ["blue"]}
    taken = admin.put("/api/v1/notifications/routes/night-red", json=other, headers={"If-None-Match": "*"})
    assert taken.status_code == 412, taken.text
    assert taken.json()["type"].endswith("already-exists")
    assert admin.get("/api/v1/notifications/routes").json()[0]["levels"] == ["red"]
    fresh = admin.put("/api/v1/notifications/routes/day-blue", json=other, headers={"If-None-Match": "*"})
    assert fresh.status_code == 200, fresh.text
    assert admin.delete("/api/v1/notifications/routes/day-blue").status_code == 204
    assert [r["name"] for r in admin.get("/api/v1/notifications/routes").json()] == ["night-red"]
    channels = admin.get("/api/v1/notifications/channels").json()
    assert channels == [{"name": "hook", "type": "webhook", "receipt": "delivery", "target": "127.0.0.1:9"}]
    assert admin.get("/api/v1/notifications/push-key").text.startswith("-----BEGIN PUBLIC KEY-----")
    assert admin.delete("/api/v1/notifications/routes/night-red").status_code == 204

    env = harness.env
    with env.state.write() as conn:
        notice = Notice("ntf-test", "alert", "hook", ts(env.clock()))
        enqueue(conn, notice, alert_id=None, now=env.clock())
        row = NotificationRecord.from_row(conn.execute("SELECT * FROM notifications").fetchone())
        from soc_api.alerting.outbox import Batch

        record_failure(
            conn,
            Batch("ntf-test", "hook", (row,)),
            "hook: receiver answered 500",
            now=env.clock(),
            retry_at=None,
        )
    dead = analyst.get("/api/v1/notifications", params={"status": "dead"}).json()["items"]
    assert [(d["key"], d["last_error"]) for d in dead] == [("ntf-test", "hook: receiver answered 500")]
    resent = analyst.post(f"/api/v1/notifications/{dead[0]['id']}/resend")
    assert resent.status_code == 200, resent.text
    assert (
        analyst.get("/api/v1/notifications", params={"status": "pending"}).json()["items"][0]["key"]
        == "ntf-test"
    )
    assert analyst.post(f"/api/v1/notifications/{dead[0]['id']}/resend").status_code == 404


def test_cases_and_bulletins(harness: Harness) -> None:
    ids = seed(harness, 3)
    harness.add("ana", Role.ANALYST)
    harness.add("sec", Role.SECURITY_ADMIN)
    analyst, admin = harness.sign_in("ana"), harness.sign_in("sec")
    first = analyst.post("/api/v1/cases", json={"title": "罗某夜间导出", "alert_ids": ids[:2]})
    assert first.status_code == 201, first.text
    second = analyst.post("/api/v1/cases", json={"title": "other", "alert_ids": ids[2:]}).json()
    case_id = first.json()["id"]
    assert first.json()["warning_level"] == "red"
    task = analyst.post(
        f"/api/v1/cases/{case_id}/tasks",
        json={"title": "约谈", "owner": "ana", "due_at": "2026-12-02T09:00:00Z"},
    )
    assert task.status_code == 201, task.text
    assert analyst.post(f"/api/v1/cases/{case_id}/tasks/{task.json()['id']}/done").status_code == 204
    assert analyst.post(f"/api/v1/cases/{case_id}/notes", json={"text": "已取证"}).status_code == 204
    content = "导出清单\n".encode()
    attached = analyst.post(
        f"/api/v1/cases/{case_id}/attachments",
        json={
            "name": "清单.txt",
            "media_type": "text/plain",
            "content_b64": base64.b64encode(content).decode(),
        },
    )
    assert attached.status_code == 201, attached.text
    fetched = analyst.get(f"/api/v1/cases/{case_id}/attachments/{attached.json()['id']}")
    assert fetched.content == content
    assert fetched.headers["content-type"] == "application/octet-stream"
    merged = analyst.post(f"/api/v1/cases/{second['id']}/merge", json={"into": case_id})
    assert merged.status_code == 200, merged.text
    detail = analyst.get(f"/api/v1/cases/{case_id}").json()
    assert {a["id"] for a in detail["alerts"]} == set(ids)
    assert [t["done_at"] is not None for t in detail["tasks"]] == [True]
    assert {o["kind"] for o in detail["observables"]} >= {"user", "ip", "dataset"}
    assert "merged_from" in [e["action"] for e in detail["timeline"]]
    report = analyst.get(f"/api/v1/cases/{case_id}/report", params={"format": "pdf"})
    assert report.content.startswith(b"%PDF-")
    assert "罗某夜间导出" in analyst.get(f"/api/v1/cases/{case_id}/report").text

    period = {"start": "2026-12-01T00:00:00Z", "end": "2026-12-02T00:00:00Z"}
    assert analyst.post("/api/v1/bulletins", json=period).status_code == 403
    made = admin.post("/api/v1/bulletins", json=period)
    assert made.status_code == 201, made.text
    bulletin = made.json()
    assert bulletin["pages"] >= 2
    pdf = analyst.get(f"/api/v1/bulletins/{bulletin['id']}/pdf")
    assert pdf.content.startswith(b"%PDF-")
    from crypto.recipes import sm3_hex

    assert sm3_hex(pdf.content) == bulletin["pdf_digest"]
    entry = harness.env.entries("alert.bulletin_generated")[-1]
    assert entry["payload"]["pdf"] == bulletin["pdf_digest"]  # type: ignore[index]
    assert analyst.get("/api/v1/bulletins").json()["items"][0]["id"] == bulletin["id"]
