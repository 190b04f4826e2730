"""Identity settings gathered in one frozen object (built from `[api]` by the composition root)."""

from __future__ import annotations

from dataclasses import dataclass, field

from soc_api.identity.lockout import LockoutPolicy
from soc_api.identity.passwords import Argon2Params, PasswordPolicy
from soc_api.identity.sessions import SessionPolicy


@dataclass(frozen=True, slots=True)
class IdentityConfig:
    """Policies of accounts, sign-in and sessions."""

    passwords: PasswordPolicy = field(default_factory=PasswordPolicy)
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    sessions: SessionPolicy = field(default_factory=SessionPolicy)
    argon2: Argon2Params = field(default_factory=Argon2Params)
    #: TOTP steps accepted either side of now (RFC 6238 §5.2: one step of clock skew).
    totp_window: int = 1
