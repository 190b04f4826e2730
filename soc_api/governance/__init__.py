"""Data governance (数据治理): the asset catalog with grades, discovery, approval policies, access
requests and grants, and the review of what happened.

Pure cores (no I/O): `policy` (composable approval policies), `discovery` (sensitive-data
recognition), `samples` (generated values for tests, the benchmark and the demo). Over the state
store: `store` (SQL), and the services `catalog`, `access` (requests, decisions, grants), assembled by
`Governance.build`; `enrichment` gives the parsers the current catalog and grants.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from datasoc.state import StateStore
from soc_api.governance.access import AccessService, Notifier, TrailFigures, new_request_id
from soc_api.governance.access_store import AccessStore
from soc_api.governance.catalog import CatalogService
from soc_api.governance.grants import GrantService
from soc_api.governance.schema import GOVERNANCE_MIGRATIONS
from soc_api.governance.store import CatalogStore
from soc_api.identity.actors import Actor
from soc_api.identity.audit import AuditSink
from soc_api.identity.roles import permissions_of
from soc_api.identity.store import IdentityStore


@dataclass(frozen=True)
class Governance:
    """The governance services over one state store and one audit sink."""

    catalog: CatalogService
    access: AccessService
    grants: GrantService
    identity: IdentityStore

    @classmethod
    def build(
        cls,
        state: StateStore,
        audit: AuditSink,
        *,
        new_id: Callable[[], str] = new_request_id,
        notifier: Notifier | None = None,
        trail: TrailFigures | None = None,
    ) -> Governance:
        """Assemble the services (the state store must be migrated with identity's and
        `GOVERNANCE_MIGRATIONS`)."""
        identity = IdentityStore(state)
        catalog_store = CatalogStore(state)
        access_store = AccessStore(state)
        return cls(
            catalog=CatalogService(catalog_store, audit, identity, new_id=new_id),
            access=AccessService(
                access_store, catalog_store, identity, audit, new_id=new_id, notifier=notifier, trail=trail
            ),
            grants=GrantService(access_store, catalog_store, audit),
            identity=identity,
        )

    def person(self, username: str) -> Actor:
        """A person as the services see one signed in: their account's id, name, roles and permissions
        (the demo acts as its people through this; the API and CLI get the same from a sign-in)."""
        account = self.identity.find(username)
        return Actor(
            kind="user",
            id=account.id,
            name=account.username,
            permissions=permissions_of(account.roles),
            roles=account.roles,
        )


__all__ = ["GOVERNANCE_MIGRATIONS", "Governance"]
