"""Demo accounts, one per role, for `datasoc demo` in development mode only (never in production).

Their password is fixed and printed, and the administrators' TOTP secrets are printed too, so the
console and its browser tests can sign in; running the demo again reuses the accounts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from soc_api.identity import Identity
from soc_api.identity.actors import Actor
from soc_api.identity.roles import ROLE_TITLES, Role, needs_second_factor

#: Development only: `datasoc demo` refuses to create demo accounts in production mode.
DEMO_PASSWORD = "Demo-Datasoc-2026!"  # noqa: S105 - a printed demo credential, development mode only
DEMO_USERS: dict[Role, str] = {role: f"demo-{role.value.replace('_', '-')}" for role in Role}


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """A demo account's credentials (printed by `datasoc demo`)."""

    username: str
    role: Role
    password: str
    totp_secret: str | None


def ensure_demo_accounts(identity: Identity, actor: Actor, *, now: datetime) -> list[DemoAccount]:
    """Create (or reuse) one account per role; administrators get a second factor enrolled."""
    accounts = []
    for role, username in DEMO_USERS.items():
        account = identity.store.by_username(username)
        if account is None:
            account = identity.accounts.create(
                actor,
                username=username,
                display_name=f"演示 {ROLE_TITLES[role]}",
                password=DEMO_PASSWORD,
                roles={role},
                now=now,
            )
        secret = None
        if needs_second_factor(account.roles):
            secret = identity.signin.totp_secret(account.id)
            if secret is None:
                enrolment, _codes = identity.signin.enrol_now(actor, account.id, now=now)
                secret = enrolment.secret
        accounts.append(DemoAccount(username, role, DEMO_PASSWORD, secret))
    return accounts
