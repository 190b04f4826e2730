"""Who is acting: a signed-in person, a machine token, an operator at the CLI, or the system."""

from __future__ import annotations

from dataclasses import dataclass, field

from soc_api.identity.roles import Permission, Role


@dataclass(frozen=True, slots=True)
class Actor:
    """The subject of an authorization decision and the `actor` of its ledger entry."""

    kind: str  # "user" | "token" | "cli" | "system"
    id: str
    name: str
    permissions: frozenset[Permission]
    roles: frozenset[Role] = field(default_factory=frozenset)
    #: The session digest of a signed-in person (None for tokens and the CLI).
    session: str | None = None

    @property
    def label(self) -> str:
        """`user:<name>`, `token:<id>`, `cli:<os user>` or `system:<name>`: the ledger's actor."""
        return f"{self.kind}:{self.name if self.kind != 'token' else self.id}"

    def can(self, permission: Permission) -> bool:
        """True when the actor holds `permission`."""
        return permission in self.permissions

    @classmethod
    def cli(cls, os_user: str) -> Actor:
        """An operator at the host's command line: the host's file permissions are the authority."""
        return cls(kind="cli", id=os_user, name=os_user, permissions=frozenset(Permission))
