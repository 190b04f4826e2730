"""Identity and access: accounts with a second factor, 三员分立, machine tokens, the platform audit.

Pure cores (no I/O): `roles` (the permission matrix and the 三员 rule), `passwords` (policy),
`lockout`, `sessions`, `totp`. Over the state store: `store` (SQL), `audit` (fail-closed audit
sinks and search), and the services `signin`, `accounts`, `machine`, assembled by `Identity.build`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from crypto.recipes import KeyStore
from datasoc.state import StateStore
from soc_api.identity.accounts import Accounts
from soc_api.identity.audit import AuditSink
from soc_api.identity.config import IdentityConfig
from soc_api.identity.machine import Tokens
from soc_api.identity.passwords import Passwords
from soc_api.identity.schema import AUDIT_MIGRATIONS, IDENTITY_MIGRATIONS
from soc_api.identity.signin import SignIn
from soc_api.identity.store import IdentityStore

MIGRATIONS = (*IDENTITY_MIGRATIONS, *AUDIT_MIGRATIONS)


@dataclass(frozen=True)
class Identity:
    """The identity services over one state store and one audit sink."""

    store: IdentityStore
    audit: AuditSink
    signin: SignIn
    accounts: Accounts
    tokens: Tokens
    config: IdentityConfig

    @classmethod
    def build(
        cls,
        state: StateStore,
        audit: AuditSink,
        keys: KeyStore,
        config: IdentityConfig | None = None,
        *,
        new_id: Callable[[], str] | None = None,
    ) -> Identity:
        """Assemble the services (the state store must be migrated with `MIGRATIONS`)."""
        config = config or IdentityConfig()
        store = IdentityStore(state)
        passwords = Passwords(config.argon2)
        extra = {"new_id": new_id} if new_id is not None else {}
        return cls(
            store=store,
            audit=audit,
            signin=SignIn(store, audit, keys, config, passwords),
            accounts=Accounts(store, audit, config, passwords, **extra),
            tokens=Tokens(store, audit, **extra),
            config=config,
        )


__all__ = ["MIGRATIONS", "Identity", "IdentityConfig"]
