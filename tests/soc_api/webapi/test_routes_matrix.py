"""Every route × every role against the declared matrix; a route without a declared permission fails.

Also: tokens act within their scopes, and a denial is ledgered (`authz.denied`) before the 403.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts

from soc_api.identity.roles import MATRIX, Permission, Role
from soc_api.webapi.deps import current_actor, enrolling_actor, permission_of
from tests.soc_api.webapi.conftest import Harness

#: Routes anyone may call (sign-in itself).
PUBLIC = {("POST", "/api/v1/session"), ("POST", "/api/v1/session/second-factor"), ("GET", "/api/v1/session")}
#: Routes of one's own session or account: any signed-in person, no permission.
SELF = {
    ("DELETE", "/api/v1/session"),
    ("POST", "/api/v1/me/second-factor"),
    ("POST", "/api/v1/me/second-factor/confirm"),
    ("POST", "/api/v1/me/password"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/docs"),
    ("GET", "/api/v1/docs/init.js"),
    ("GET", "/api/v1/docs/{asset}"),
    ("GET", "/api/v1/me/access/requests"),
    ("POST", "/api/v1/me/access/requests/{request_id}/withdraw"),
    ("GET", "/api/v1/me/access/grants"),
    ("GET", "/api/v1/me/access/notifications"),
}


def _calls(dependant: Any) -> list[Any]:
    found = [dependant.call]
    for sub in dependant.dependencies:
        found.extend(_calls(sub))
    return found


def declared(app: Any) -> dict[tuple[str, str], Permission | None]:
    """(method, path) -> the permission its route checks (None: public or self-service)."""
    table: dict[tuple[str, str], Permission | None] = {}
    for context in iter_route_contexts(app.routes):  # every route the app serves, routers expanded
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        path = context.path or route.path
        calls = _calls(route.dependant)
        permissions = {p for p in map(permission_of, calls) if p is not None}
        for method in route.methods:
            key = (method, path)
            if key in PUBLIC:
                assert not permissions, key
                table[key] = None
            elif key in SELF:
                assert current_actor in calls or enrolling_actor in calls, (
                    f"{key} must need a signed-in person"
                )
                table[key] = None
            else:
                assert len(permissions) == 1, (
                    f"{method} {path} declares no permission (or several): {permissions}"
                )
                table[key] = permissions.pop()
    return table


def _path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x-unknown", path)


def test_every_route_declares_a_permission_and_each_role_gets_exactly_the_matrix(harness: Harness) -> None:
    table = declared(harness.app)
    assert {p for p in table.values() if p} >= {
        Permission.USERS_READ,
        Permission.AUDIT_READ,
        Permission.METRICS_READ,
    }
    clients = {}
    for role in Role:
        harness.add(f"u-{role.value.replace('_', '-')}", role)
        clients[role] = harness.sign_in(f"u-{role.value.replace('_', '-')}")
    checked = 0
    for (method, path), permission in sorted(table.items(), key=lambda kv: kv[0][1]):
        if permission is None:
            continue
        for role, client in clients.items():
            answer = client.request(method, _path(path), json={} if method in ("POST", "PUT") else None)
            allowed = permission in MATRIX[role]
            if allowed:
                assert answer.status_code not in (401, 403), (role, method, path, answer.text)
            else:
                assert answer.status_code == 403, (role, method, path, answer.status_code, answer.text)
                assert answer.json()["type"].endswith("/permission-denied")
            checked += 1
    assert checked == len(Role) * sum(1 for p in table.values() if p)
    denials = harness.env.entries("authz.denied")
    assert denials
    assert {e["payload"]["permission"] for e in denials} <= {p.value for p in Permission}  # type: ignore[index]


def test_unauthenticated_requests_get_401_problems_and_public_routes_stay_public(harness: Harness) -> None:
    client = harness.client()
    table = declared(harness.app)
    for (method, path), _permission in table.items():
        if (method, path) in PUBLIC:
            continue
        answer = client.request(method, _path(path), json={} if method in ("POST", "PUT") else None)
        assert answer.status_code == 401, (method, path, answer.status_code)
        assert answer.headers["content-type"] == "application/problem+json"
        body = answer.json()
        assert body["status"] == 401
        assert body["instance"] == _path(path)
        assert body["request_id"] == "req-fixed"


def test_a_token_acts_within_its_scopes_only(harness: Harness) -> None:
    harness.add("sysadmin", Role.SYSTEM_ADMIN)
    admin = harness.sign_in("sysadmin")
    beyond = admin.post("/api/v1/tokens", json={"name": "x", "scopes": ["audit.read"]})
    assert beyond.status_code == 403  # no token outranks its maker
    made = admin.post("/api/v1/tokens", json={"name": "reader", "scopes": ["users.read"]})
    assert made.status_code == 201, made.text
    secret = made.json()["token"]
    bot = harness.client()
    bot.headers["Authorization"] = f"Bearer {secret}"
    assert bot.get("/api/v1/users").status_code == 200
    assert (
        bot.post("/api/v1/users", json={"username": "zz", "password": "Correct-Horse-42"}).status_code == 403
    )
    # Revoked: refused at once, and the refusal is ledgered.
    assert admin.delete(f"/api/v1/tokens/{made.json()['id']}").status_code == 204
    assert bot.get("/api/v1/users").status_code == 401
    assert harness.env.entries("login.token_denied")[-1]["payload"]["reason"] == "revoked"  # type: ignore[index]
