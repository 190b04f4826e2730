"""The API behind the console: the OpenAPI document it is typed from, the served build, alerts and
their live stream, the bundle verifier, and the rules list."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crypto.recipes import SigningKey
from datasoc.alert import Alert
from datasoc.transport import ALERTS, Spool
from soc_api.detector import encode_alert
from soc_api.identity.roles import Role
from soc_api.webapi import create_api
from soc_api.webapi.alertfeed import AlertQuery, SpoolAlertFeed
from soc_api.webapi.app import openapi_document
from soc_api.webapi.rulesview import EngineHealth, RuleFigures, RulesView
from tests.soc_api.webapi.conftest import Harness

ROOT = Path(__file__).resolve().parents[3]


def test_the_consoles_openapi_copy_is_the_served_document() -> None:
    """The console's types are generated from console/openapi.json: a contract change must refresh
    it (`datasoc schema openapi > console/openapi.json`), and then `npm run build` type-checks."""
    committed = json.loads((ROOT / "console" / "openapi.json").read_text(encoding="utf-8"))
    assert committed == json.loads(json.dumps(openapi_document())), (
        "console/openapi.json is stale: run `datasoc schema openapi > console/openapi.json`"
    )


def _alert(n: int, *, level: str = "high", when: datetime) -> Alert:
    return Alert.from_dict(
        {
            "alert.id": f"al-{n:032x}",
            "rule.id": "rule-a" if n % 2 else "rule-b",
            "rule.title": f"规则 {n} / rule {n}",
            "rule.level": level,
            "rule.tags": [],
            "warning_level": "orange",
            "group": {"user.name": f"user{n}"},
            "event_ids": [f"ev-{n}"],
            "events": [{"event.id": f"ev-{n}", "user.name": f"user{n}", "data.classification": "core"}],
            "first_seen": when.isoformat(),
            "last_seen": when.isoformat(),
            "count": 1,
        }
    )


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    opened = Spool.open(tmp_path / "spool")
    yield opened
    opened.close()


def test_the_alert_feed_dedups_pages_newest_first_and_follows_new_arrivals(spool: Spool) -> None:
    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    alerts = [_alert(n, when=t0 + timedelta(minutes=n)) for n in range(5)]
    spool.append(ALERTS, [encode_alert(a) for a in alerts] + [encode_alert(alerts[0]), b"not json"], now=t0)
    feed = SpoolAlertFeed(spool)
    found = feed.search(AlertQuery(limit=10))
    assert [f.alert.alert_id for f in found] == [a.alert_id for a in reversed(alerts)]  # no copy twice
    assert feed.invalid == 1  # counted, never silent
    assert [f.alert.rule_id for f in feed.search(AlertQuery(rule_id="rule-a"))] == ["rule-a", "rule-a"]
    page = feed.search(AlertQuery(before=found[1].position, limit=2))
    assert [f.alert.alert_id for f in page] == [alerts[2].alert_id, alerts[1].alert_id]
    head = feed.head()
    spool.append(ALERTS, [encode_alert(_alert(9, when=t0))], now=t0)
    assert [f.alert.alert_id for f in feed.after(head, 10)] == [_alert(9, when=t0).alert_id]


@pytest.fixture(autouse=True)
def short_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    """Streams end within a second here (the test client cannot signal a disconnect)."""
    from soc_api.webapi.routes import alerts as alert_routes

    monkeypatch.setattr(alert_routes, "STREAM_SECONDS", 1.0)
    monkeypatch.setattr(alert_routes, "POLL_SECONDS", 0.05)


def _with_alerts(harness: Harness, spool: Spool) -> Harness:
    services = harness.services
    services.alerts = SpoolAlertFeed(spool)
    services.rules = RulesView(
        (ROOT / "rules",), lambda: EngineHealth("inprocess", 100, {"rule-a": RuleFigures(3, 0, 5000)}, {})
    )
    harness.app = create_api(services)
    return harness


def test_alerts_list_detail_and_a_live_stream(harness: Harness, spool: Spool) -> None:
    t0 = harness.env.clock()
    spool.append(ALERTS, [encode_alert(_alert(n, when=t0)) for n in range(3)], now=t0)
    _with_alerts(harness, spool)
    harness.add("analyst", Role.ANALYST)
    client = harness.sign_in("analyst")
    listed = client.get("/api/v1/alerts", params={"limit": 2})
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert [a["id"] for a in body["items"]] == [_alert(2, when=t0).alert_id, _alert(1, when=t0).alert_id]
    assert body["items"][0]["classification"] == "core"
    rest = client.get("/api/v1/alerts", params={"cursor": body["next_cursor"]}).json()
    assert [a["id"] for a in rest["items"]] == [_alert(0, when=t0).alert_id]
    detail = client.get(f"/api/v1/alerts/{_alert(1, when=t0).alert_id}").json()
    assert detail["events"][0]["user.name"] == "user1"
    assert client.get("/api/v1/alerts/al-nope").status_code == 404
    # The stream from before the first alert sends all three as `alert` events with their positions.
    with client.stream("GET", "/api/v1/alerts/stream", params={"after": -1}) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        seen: list[dict[str, object]] = []
        for line in stream.iter_lines():
            if line.startswith("data: "):
                seen.append(json.loads(line[6:]))
            if len(seen) == 3:
                break
    assert [s["rule_title"] for s in seen] == [f"规则 {n} / rule {n}" for n in range(3)]


def test_a_session_holds_a_bounded_number_of_streams(harness: Harness, spool: Spool) -> None:
    import threading

    from soc_api.webapi.routes import alerts as alert_routes

    _with_alerts(harness, spool)
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


def test_rules_list_the_pack_with_tests_and_engine_figures(harness: Harness, spool: Spool) -> None:
    _with_alerts(harness, spool)
    harness.add("analyst", Role.ANALYST)
    client = harness.sign_in("analyst")
    listed = client.get("/api/v1/rules")
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert listed.json()["engine"] == "inprocess"
    assert len(items) >= 10
    approval = next(r for r in items if r["key"].endswith("approval_not_valid.yml"))
    assert approval["tests_positive"] >= 1
    assert approval["tests_negative"] >= 1
    assert "approval.status" in approval["fields"]
    detail = client.get(f"/api/v1/rules/{approval['key']}").json()
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
