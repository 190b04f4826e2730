"""The session over HTTP: cookie attributes, CSRF refusal, security headers, expiry, fail-closed 503,
三员 refused through the API, and the audit administrator's search of the platform audit."""

from __future__ import annotations

from pathlib import Path

import pytest

from soc_api.identity.roles import Role
from soc_api.webapi.middleware import CSP
from tests.soc_api.identity_env import PASSWORD
from tests.soc_api.webapi.conftest import Harness, build


def test_the_session_cookie_is_secure_httponly_strict_and_host_only(harness: Harness) -> None:
    harness.add("viewer", Role.VIEWER)
    answer = harness.client().post("/api/v1/session", json={"username": "viewer", "password": PASSWORD})
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("__Host-datasoc_session=")
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
        assert attribute.lower() in cookie.lower(), attribute
    assert "domain" not in cookie.lower()
    assert answer.json()["csrf_token"]
    assert "password" not in answer.text.lower()


def test_state_changing_requests_without_the_csrf_token_are_refused(harness: Harness) -> None:
    harness.add("sys", Role.SYSTEM_ADMIN)
    client = harness.sign_in("sys")
    good = client.headers.pop("X-CSRF-Token")
    body = {"username": "newbie", "password": PASSWORD, "roles": ["viewer"]}
    missing = client.post("/api/v1/users", json=body)
    assert missing.status_code == 403
    assert missing.json()["type"].endswith("/csrf-token-invalid")
    wrong = client.post("/api/v1/users", json=body, headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    assert client.get("/api/v1/users").status_code == 200  # safe methods need none
    assert harness.env.identity.store.by_username("newbie") is None
    made = client.post("/api/v1/users", json=body, headers={"X-CSRF-Token": good})
    assert made.status_code == 201, made.text


def test_security_headers_request_ids_and_hsts_only_over_tls(tmp_path: Path) -> None:
    harness = build(tmp_path, cookie_secure=False, trusted_proxies=frozenset({"testclient"}))
    client = harness.client()
    answer = client.get("/api/v1/session", headers={"X-Request-ID": "abc-123"})
    assert answer.status_code == 401
    assert answer.headers["x-request-id"] == "abc-123"
    assert answer.json()["request_id"] == "abc-123"
    assert answer.headers["content-security-policy"] == CSP
    assert "unsafe-inline" not in CSP
    assert "frame-ancestors 'none'" in CSP
    assert answer.headers["x-frame-options"] == "DENY"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" in answer.headers  # https://testserver
    plain = harness.client()
    plain.base_url = "http://testserver"  # type: ignore[assignment]
    assert "strict-transport-security" not in plain.get("/api/v1/session").headers
    proxied = plain.get("/api/v1/session", headers={"X-Forwarded-Proto": "https"})
    assert "strict-transport-security" in proxied.headers  # the trusted proxy terminated TLS
    bad_id = plain.get("/api/v1/session", headers={"X-Request-ID": "no spaces allowed"})
    assert bad_id.headers["x-request-id"] == "req-fixed"
    harness.env.close()


def test_idle_expiry_over_http_ends_the_session(harness: Harness) -> None:
    harness.add("analyst", Role.ANALYST)
    client = harness.sign_in("analyst")
    assert client.get("/api/v1/events").status_code == 200
    harness.env.clock.advance(minutes=16)
    answer = client.get("/api/v1/events")
    assert answer.status_code == 401
    assert "expired" in answer.json()["detail"]


def test_separation_of_duties_is_refused_through_the_api(harness: Harness) -> None:
    harness.add("sys", Role.SYSTEM_ADMIN)
    client = harness.sign_in("sys")
    both = client.post(
        "/api/v1/users",
        json={"username": "both", "password": PASSWORD, "roles": ["security_admin", "audit_admin"]},
    )
    assert both.status_code == 409
    assert both.json()["type"].endswith("/separation-of-duties")
    made = client.post(
        "/api/v1/users", json={"username": "sec", "password": PASSWORD, "roles": ["security_admin"]}
    )
    user_id = made.json()["id"]
    second = client.put(f"/api/v1/users/{user_id}/roles", json={"roles": ["security_admin", "system_admin"]})
    assert second.status_code == 409
    outcomes = [e["payload"]["outcome"] for e in harness.env.entries("admin.")]  # type: ignore[index]
    assert outcomes.count("denied") == 2


def test_a_ledger_that_cannot_be_written_gives_503_and_no_effect(harness: Harness) -> None:
    harness.add("viewer", Role.VIEWER)
    harness.env.ledger.close()
    answer = harness.client().post("/api/v1/session", json={"username": "viewer", "password": PASSWORD})
    assert answer.status_code == 503
    assert answer.json()["type"].endswith("/audit-unavailable")
    assert "set-cookie" not in answer.headers


def test_the_audit_administrator_searches_by_actor_action_target_and_outcome(harness: Harness) -> None:
    harness.add("sys", Role.SYSTEM_ADMIN)
    harness.add("aud", Role.AUDIT_ADMIN)
    sys = harness.sign_in("sys")
    sys.post(
        "/api/v1/users",
        json={"username": "bad", "password": PASSWORD, "roles": ["system_admin", "audit_admin"]},
    )
    harness.client().post("/api/v1/session", json={"username": "sys", "password": "wrong"})
    auditor = harness.sign_in("aud")
    denied = auditor.get("/api/v1/audit/entries", params={"outcome": "denied", "action": "admin.*"}).json()
    assert [(i["action"], i["actor"]) for i in denied["items"]] == [("admin.user_created", "user:sys")]
    failures = auditor.get(
        "/api/v1/audit/entries", params={"actor": "user:sys", "action": "login.failure"}
    ).json()
    assert len(failures["items"]) == 1
    page = auditor.get("/api/v1/audit/entries", params={"limit": 2}).json()
    assert len(page["items"]) == 2
    assert page["next_cursor"]
    rest = auditor.get("/api/v1/audit/entries", params={"limit": 200, "cursor": page["next_cursor"]}).json()
    seqs = [i["seq"] for i in page["items"] + rest["items"]]
    assert seqs == sorted(seqs, reverse=True)
    assert len(set(seqs)) == len(seqs)
    # The searches themselves are on the record.
    searches = harness.env.entries("read.audit_search")
    assert len(searches) == 4
    assert all(e["actor"] == "user:aud" for e in searches)
    harness.env.clock.advance(seconds=1)
    bundle = auditor.get("/api/v1/audit/export", params={"actor": "user:sys"})
    assert bundle.status_code == 200
    assert bundle.content[:2] == b"PK"
    assert harness.env.entries("export")[-1]["actor"] == "user:aud"


def test_interactive_docs_for_signed_in_users_without_inline_scripts(harness: Harness) -> None:
    assert harness.client().get("/api/v1/docs").status_code == 401
    assert harness.client().get("/api/v1/openapi.json").status_code == 401
    harness.add("viewer", Role.VIEWER)
    client = harness.sign_in("viewer")
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert "<script>" not in page.text  # every script has a src: the CSP forbids inline ones
    assert client.get("/api/v1/docs/swagger-ui-bundle.js").status_code == 200
    assert "SwaggerUIBundle" in client.get("/api/v1/docs/init.js").text
    assert client.get("/api/v1/docs/..%2Fpyproject.toml").status_code == 404
    schema = client.get("/api/v1/openapi.json").json()
    problem = schema["paths"]["/api/v1/users"]["get"]["responses"]["4XX"]["content"][
        "application/problem+json"
    ]
    assert set(problem["schema"]["required"]) == {"type", "title", "status"}


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/events?end=0001-01-01T00:00:00Z",
        "/api/v1/events?start=9999-12-31T23:59:59-10:00",
        "/api/v1/audit/entries?start=0001-01-01T00:00:00%2B05:00",
        "/api/v1/audit/entries?end=9999-12-31T23:59:59-05:00",
        "/api/v1/audit/export?start=0001-01-01T00:00:00%2B05:00",
    ],
)
def test_times_at_the_edges_of_the_calendar_are_refused_not_crashed_on(harness: Harness, url: str) -> None:
    # Found by schemathesis: `end - 1 day` and the UTC conversion overflowed (500).
    harness.add("aud", Role.AUDIT_ADMIN)
    client = harness.sign_in("aud")
    answer = client.get(url)
    assert answer.status_code == 422, answer.text
    assert answer.json()["type"].endswith("/invalid-request")
