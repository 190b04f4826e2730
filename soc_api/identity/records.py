"""Frozen records read from the state store, and the time format they are stored in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from soc_api.identity.roles import Permission, Role
from soc_api.identity.sessions import Stage


def ts(when: datetime) -> str:
    """Stored time: UTC with microseconds and `Z` (sorts as time)."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(text: str | None) -> datetime | None:
    """A stored time back (None stays None)."""
    if text is None:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def need_ts(text: str) -> datetime:
    """A stored time that is never null."""
    when = parse_ts(text)
    assert when is not None
    return when


@dataclass(frozen=True, slots=True)
class Account:
    """An account as stored (the password hash and sealed TOTP secret stay inside the service)."""

    id: str
    username: str
    display_name: str
    roles: frozenset[Role]
    disabled: bool
    created_at: datetime
    updated_at: datetime
    password_changed_at: datetime
    failures: int
    locked_until: datetime | None
    mfa_enrolled: bool
    password_hash: str
    totp_sealed: str | None
    totp_pending_sealed: str | None
    totp_last_counter: int

    def __repr__(self) -> str:
        return f"Account({self.username!r}, roles={sorted(self.roles)})"


@dataclass(frozen=True, slots=True)
class Session:
    """A sign-in session (its id is known only to the browser; the store keeps its digest)."""

    id_digest: str
    account_id: str
    stage: Stage
    csrf_digest: str
    created_at: datetime
    last_seen_at: datetime
    revoked_at: datetime | None
    peer: str


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A machine identity: an ingest token (source, parser) or an API token (scopes)."""

    id: str
    digest: str
    name: str
    kind: str
    scopes: frozenset[Permission]
    source: str | None
    parser: str | None
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    def active(self, now: datetime) -> bool:
        """Neither revoked nor expired at `now`."""
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)

    def __repr__(self) -> str:
        return f"TokenRecord({self.id!r}, {self.kind}, {self.name!r})"
