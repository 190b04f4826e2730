"""The API behind the console: the OpenAPI document it is typed from, the served build, an alert's
evidence and ledger proof, the live stream's bounds, the dashboard's alert figures, the bundle
verifier, and the rules list."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest

from crypto.recipes import SigningKey
from datasoc.alert import Alert
from datasoc.event import Event
from soc_api.alerting.intake import LedgerRecorder, take_in
from soc_api.alerting.store import AlertQuery
from soc_api.identity.actors import Actor
from soc_api.identity.roles import Permission, Role
from soc_api.webapi import create_api
from soc_api.webapi.app import openapi_document
from soc_api.webapi.rulesview import EngineHealth, RuleFigures, RulesView
from tests.soc_api.alerting.conftest import RULE, detection_alert
from tests.soc_api.webapi.conftest import Harness

ROOT = Path(__file__).resolve().parents[3]


def test_the_consoles_openapi_copy_is_the_served_document() -> None:
    """The console's types are generated from console/openapi.json: a contract change must refresh
    it (`datasoc schema openapi > console/openapi.json`), and then `npm run build` type-checks."""
    committed = json.loads((ROOT / "console" / "openapi.json").read_text(encoding="utf-8"))
    assert committed == json.loads(json.dumps(openapi_document())), (
        "console/openapi.json is stale: run `datasoc schema openapi > console/openapi.json`"
    )


RULE_FILE = """title: 批量导出 / Bulk export
id: {rule}
status: test
level: high
description: 测试规则 / a test rule
tags: [attack.exfiltration]
logsource: {{product: datasoc}}
detection:
    sel:
        event.action: dataset.download
        data.classification: core
    condition: sel
"""


def _with_alerts(harness: Harness, tmp_path: Path) -> list[str]:
    """Three users' alerts in the store, their events in the event store, and a rule file for them."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "bulk.yml").write_text(RULE_FILE.format(rule=RULE), encoding="utf-8")
    services = harness.services
    services.rules = RulesView(
        (rules,), lambda: EngineHealth("inprocess", 100, {RULE: RuleFigures(3, 0, 5000)}, {})
    )
    harness.app = create_api(services)
    env = harness.env
    detections = [
        detection_alert(n, user=f"user{n % 3}", at=env.clock() - timedelta(hours=1)) for n in range(6)
    ]
    assert services.events is not None
    assert services.alerting is not None
    services.events.insert_many(
        [
            Event.from_dict({**e, "event.outcome": "success", "log.original": "{}"}, now=env.clock())
            for a in detections
            for e in a.events
        ]
    )
    take_in(
        env.state,
        LedgerRecorder(env.ledger, env.clock),
        services.alerting.config,
        detections,
        now=env.clock(),
    )
    return [a.id for a in services.alerting.find(AlertQuery())]


def test_an_alerts_detail_carries_its_rule_events_and_matched_fields(
    harness: Harness, tmp_path: Path
) -> None:
    ids = _with_alerts(harness, tmp_path)
    harness.add("analyst", Role.ANALYST)
    client = harness.sign_in("analyst")
    detail = client.get(f"/api/v1/alerts/{ids[0]}")
    assert detail.status_code == 200, detail.text
    body = detail.json()
    evidence = body["evidence"]
    assert evidence["rule"]["key"] == "bulk.yml"
    assert evidence["rule"]["description"] == "测试规则 / a test rule"
    assert sorted(evidence["matched_fields"]) == ["data.classification", "event.action"]
    assert len(evidence["event_ids"]) == 2 == len(evidence["events"])  # two detection alerts rolled up
    assert {e["event.id"] for e in evidence["events"]} == set(evidence["event_ids"])
    assert all("log.original" not in e for e in evidence["events"])
    assert body["alert"]["count"] == 2
    # Reading people's activity through an alert is ledgered like any event read.
    reads = harness.env.entries("read.alert_events")
    assert [(e["actor"], e["subject"]) for e in reads] == [("user:analyst", f"alert:{ids[0]}")]
    # The proof: these events were never traced by the trail, and the proof says so at step one.
    proof = client.get(f"/api/v1/alerts/{ids[0]}/proof").json()
    assert [p["ok"] for p in proof["proofs"]] == [False, False]
    assert proof["proofs"][0]["steps"][0]["name_en"] == "find the access entry"
    assert client.get("/api/v1/alerts/al-nope/proof").status_code == 404
    # The dashboard counts the store's alerts by level, and its top rule.
    overview = client.get("/api/v1/overview", params={"hours": 3}).json()
    assert sum(v for s in overview["alerts_by_level"] for _t, v in s["points"]) == 3
    assert overview["top_rules"][0]["count"] == 3


def test_without_events_read_the_detail_lists_event_ids_only(harness: Harness, tmp_path: Path) -> None:
    ids = _with_alerts(harness, tmp_path)
    env = harness.env
    made = env.identity.tokens.create(
        Actor.cli("op"), name="wall", kind="api", scopes=[Permission.ALERTS_READ], now=env.clock()
    )
    wall = harness.client()
    wall.headers["Authorization"] = f"Bearer {made.secret}"
    evidence = wall.get(f"/api/v1/alerts/{ids[0]}").json()["evidence"]
    assert len(evidence["event_ids"]) == 2
    assert evidence["events"] == []
    assert evidence["matched_fields"] == []
    assert env.entries("read.alert_events") == []  # nothing read, nothing ledgered


def test_the_stream_carries_each_changes_alert(harness: Harness, tmp_path: Path) -> None:
    ids = _with_alerts(harness, tmp_path)
    harness.add("analyst", Role.ANALYST)
    client = harness.sign_in("analyst")
    client.post(f"/api/v1/alerts/{ids[0]}/start", json={})
    answer = client.get("/api/v1/alerts/stream", params={"after": 0})
    data = [json.loads(line[6:]) for line in answer.text.splitlines() if line.startswith("data: ")]
    started = [d for d in data if d["action"] == "started"]
    assert [(d["alert_id"], d["alert"]["status"], d["alert"]["assignee"]) for d in started] == [
        (ids[0], "in_progress", "analyst")
    ]


def test_a_trace_alert_shows_the_fields_the_trace_judged(harness: Harness, tmp_path: Path) -> None:
    # A trace alert has no rule file to read its fields from: it names those the trace judges by.
    from detection.trace import OVER_CAP, TRACE_RULES, TRACED_FIELDS

    _with_alerts(harness, tmp_path)
    env = harness.env
    services = harness.services
    assert services.events is not None
    assert services.alerting is not None
    rule = TRACE_RULES[OVER_CAP]
    traced = detection_alert(9, rule=rule.id, title=rule.title, at=env.clock() - timedelta(hours=1))
    event = {**traced.events[0], "approval.id": "SQ-1", "data.records": 700, "http.request.method": "GET"}
    alert = Alert.from_dict({**traced.to_dict(), "events": [event]})
    services.events.insert_many(
        [Event.from_dict({**event, "event.outcome": "success", "log.original": "{}"}, now=env.clock())]
    )
    take_in(
        env.state, LedgerRecorder(env.ledger, env.clock), services.alerting.config, [alert], now=env.clock()
    )
    (found,) = [a.id for a in services.alerting.find(AlertQuery()) if a.rule_id == rule.id]
    harness.add("analyst", Role.ANALYST)
    detail = harness.sign_in("analyst").get(f"/api/v1/alerts/{found}").json()["evidence"]
    assert detail["rule"]["key"] is None
    assert detail["matched_fields"] == [f for f in TRACED_FIELDS if f in event]
    assert {"approval.id", "user.name", "data.asset.id", "data.records"} <= set(detail["matched_fields"])


def test_a_session_holds_a_bounded_number_of_streams(harness: Harness, tmp_path: Path) -> None:
    import threading

    from soc_api.webapi.routes import alerts as alert_routes

    _with_alerts(harness, tmp_path)
    harness.add("analyst", Role.ANALYST)
    client = harness.sign_in("analyst")
    assert client.get("/api/v1/alerts/stream").status_code == 200
    _lock, open_streams = harness.app.state.alert_streams
    assert open_streams == {}  # a finished stream gives its slot back

    class Full(dict[str, int]):
        def get(self, key: str, default: int | None = None) -> int:
            return alert_routes.STREAMS_PER_SESSION

    harness.app.state.alert_streams = (threading.Lock(), Full())
    refused = client.get("/api/v1/alerts/stream")
    assert refused.status_code == 429
    assert refused.json()["type"].endswith("/too-many-streams")


def test_a_signed_out_session_ends_its_stream(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from soc_api.webapi.routes import alerts as alert_routes

    monkeypatch.setattr(alert_routes, "HEARTBEAT_SECONDS", 0.0)
    _with_alerts(harness, tmp_path)
    harness.add("analyst", Role.ANALYST)
    client = harness.sign_in("analyst")
    harness.services.sse_seconds = 20.0
    other = harness.client()  # the same session in another tab, which signs out mid-stream
    other.cookies.update(client.cookies)
    other.headers["X-CSRF-Token"] = client.headers["X-CSRF-Token"]
    timer = threading.Timer(0.5, lambda: other.delete("/api/v1/session"))
    started = time.monotonic()
    timer.start()
    with client.stream("GET", "/api/v1/alerts/stream") as stream:
        body = "".join(stream.iter_text())
    timer.join()
    assert "event: expired" in body
    assert time.monotonic() - started < 15  # ended by the sign-out, not by its time limit


def test_the_verifier_shows_each_step_and_names_the_failing_one(harness: Harness) -> None:
    harness.add("auditor", Role.AUDIT_ADMIN)
    client = harness.sign_in("auditor")
    exported = client.get("/api/v1/audit/export")
    assert exported.status_code == 200, exported.text
    bundle = exported.content
    pem = client.get("/api/v1/audit/public-key")
    assert pem.headers["x-key-id"].startswith("sm2:")
    key = base64.b64encode(pem.content).decode()
    ok = client.post("/api/v1/audit/verify", params={"public_key": key}, content=bundle)
    assert ok.status_code == 200, ok.text
    assert ok.json()["ok"] is True
    assert {s["outcome"] for s in ok.json()["steps"]} == {"passed"}
    # Another key: the manifest's signature (step 2) fails, and nothing after it ran.
    other = base64.b64encode(SigningKey.generate().public_key_pem()).decode()
    bad = client.post("/api/v1/audit/verify", params={"public_key": other}, content=bundle).json()
    assert bad["ok"] is False
    assert [s["outcome"] for s in bad["steps"][:3]] == ["passed", "failed", "not_reached"]
    assert "trusted key" in bad["steps"][1]["detail"]
    # Over the cap: refused before it is read whole.
    harness.services.verify_max_bytes = 1000
    big = client.post("/api/v1/audit/verify", params={"public_key": key}, content=b"x" * 5000)
    assert big.status_code == 413
    # The verifier never wrote to the live ledger (only the export and searches did).
    kinds = [e["kind"] for e in harness.env.entries()]
    assert "export" in kinds
    # A key that is not a PEM is a clear 422.
    not_pem = client.post("/api/v1/audit/verify", params={"public_key": "bm9wZQ=="}, content=bundle)
    assert not_pem.status_code == 422


def test_rules_list_the_pack_with_tests_and_engine_figures(harness: Harness) -> None:
    harness.services.rules = RulesView((ROOT / "rules",), lambda: EngineHealth("inprocess", 100, {}, {}))
    harness.app = create_api(harness.services)
    harness.add("analyst", Role.ANALYST)
    client = harness.sign_in("analyst")
    listed = client.get("/api/v1/rules")
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert listed.json()["engine"] == "inprocess"
    assert len(items) >= 10
    # A rule of the pack that reads the approval the parsers joined (the grant trace judges the rest).
    offhours = next(r for r in items if r["key"].endswith("offhours_classified_access.yml"))
    assert offhours["tests_positive"] >= 1
    assert offhours["tests_negative"] >= 1
    assert {"approval.status", "datasoc.local_hour"} <= set(offhours["fields"])
    detail = client.get(f"/api/v1/rules/{offhours['key']}").json()
    assert "detection:" in detail["text"]
    assert "positive:" in detail["tests_text"]


def test_the_console_is_served_with_the_spa_fallback_and_a_nonce_per_page(
    harness: Harness, tmp_path: Path
) -> None:
    build = tmp_path / "static"
    (build / "assets").mkdir(parents=True)
    (build / "index.html").write_text(
        '<meta name="csp-nonce" content="__CSP_NONCE__"><script src="/assets/app-1.js"></script>',
        encoding="utf-8",
    )
    (build / "assets" / "app-1.js").write_text("console.log(1)", encoding="utf-8")
    (build / "secret.key").write_text("never served", encoding="utf-8")
    harness.services.console_dir = build
    harness.app = create_api(harness.services)
    client = harness.client()
    page = client.get("/alerts/al-123")  # a client-side route: the page
    assert page.status_code == 200
    nonce = page.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
    assert f'content="{nonce}"' in page.text
    assert "script-src 'self';" in page.headers["content-security-policy"]
    assert client.get("/").headers["content-security-policy"] != page.headers["content-security-policy"]
    asset = client.get("/assets/app-1.js")
    assert asset.headers["cache-control"].startswith("public, max-age=31536000")
    assert asset.headers["content-type"].startswith("text/javascript")
    assert "never served" not in client.get("/secret.key").text  # not a listed type: the page instead
    assert "never served" not in client.get("/assets/../secret.key").text
    # The API keeps its own answers: an unknown API path is a 404 problem, a wrong method a 405.
    missing = client.get("/api/v1/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert client.get("/api/v1/session/second-factor").status_code == 405
