"""The API over a real identity environment: one signed-in client per role, a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from datasoc.store import SQLiteEventStore
from soc_api.alerting import MIGRATIONS as ALERTING_MIGRATIONS
from soc_api.alerting.cases import Cases
from soc_api.alerting.config import default_config
from soc_api.alerting.service import Alerting, ChannelInfo
from soc_api.governance import GOVERNANCE_MIGRATIONS, Governance
from soc_api.identity import totp
from soc_api.identity.actors import Actor
from soc_api.identity.audit import LedgerAudit
from soc_api.identity.roles import Role
from soc_api.webapi import ApiConfig, ApiServices, CollectorView, create_api
from tests.soc_api.identity_env import PASSWORD, Env, open_env

BASE = "https://testserver"


@dataclass
class Harness:
    env: Env
    app: FastAPI
    services: ApiServices
    secrets: dict[str, str] = field(default_factory=dict)

    def client(self) -> TestClient:
        return TestClient(self.app, base_url=BASE, raise_server_exceptions=False)

    def add(self, username: str, *roles: Role) -> str:
        """An account with `roles`; administrators get a TOTP secret enrolled (kept in `secrets`)."""
        account_id = self.env.add_user(username, *roles)
        if any(r in roles for r in (Role.SYSTEM_ADMIN, Role.SECURITY_ADMIN, Role.AUDIT_ADMIN)):
            actor = Actor(kind="user", id=account_id, name=username, permissions=frozenset())
            enrolment = self.env.identity.signin.begin_enrolment(actor, now=self.env.clock())
            code = totp.code_at(enrolment.secret, totp.counter_at(self.env.clock()) - 1)
            self.env.identity.signin.confirm_enrolment(actor, code, now=self.env.clock())
            self.secrets[username] = enrolment.secret
        return account_id

    def sign_in(self, username: str, client: TestClient | None = None) -> TestClient:
        """A client fully signed in as `username`, its CSRF token set as a default header."""
        client = client or self.client()
        answer = client.post("/api/v1/session", json={"username": username, "password": PASSWORD})
        assert answer.status_code == 201, answer.text
        body = answer.json()
        if body["stage"] == "mfa":
            self.env.clock.advance(seconds=30)  # a fresh TOTP step: used steps are refused
            code = totp.code_at(self.secrets[username], totp.counter_at(self.env.clock()))
            answer = client.post("/api/v1/session/second-factor", json={"code": code})
            assert answer.status_code == 200, answer.text
            body = answer.json()
        assert body["stage"] == "full"
        client.headers["X-CSRF-Token"] = body["csrf_token"]
        return client


def build(root: Path, **config: object) -> Harness:
    env = open_env(root)
    env.state.migrate(GOVERNANCE_MIGRATIONS, now=env.clock)
    governance = Governance.build(env.state, LedgerAudit(env.ledger, env.state, env.clock))
    env.state.migrate(ALERTING_MIGRATIONS, now=env.clock)
    events = SQLiteEventStore(root / "events.sqlite3")
    ids = iter(range(10**9))

    def new_id() -> str:
        return f"{next(ids):08d}"

    alerting = Alerting(
        env.state,
        env.identity.audit,
        default_config(),
        channels={"hook": ChannelInfo("hook", "webhook", "delivery", "127.0.0.1:9")},
        new_id=new_id,
        push_public_key=env.keys.signing_key.public_key_pem(),
    )
    services = ApiServices(
        identity=env.identity,
        config=ApiConfig(**config),  # type: ignore[arg-type]
        events=events,
        collector=CollectorView(),
        ledger=env.ledger,
        signer=env.keys.signing_key,
        alerting=alerting,
        cases=Cases(env.state, env.identity.audit, new_id=new_id),
        sse_seconds=0.3,
        settings_view={"mode": "development"},
        governance=governance,
        clock=env.clock,
        new_id=lambda: "req-fixed",
    )
    return Harness(env, create_api(services), services)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    built = build(tmp_path)
    yield built
    assert built.services.events is not None
    built.services.events.close()
    built.env.close()
