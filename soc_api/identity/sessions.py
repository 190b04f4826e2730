"""Session expiry (pure): idle and absolute timeouts, and the stage of a sign-in.

A session is created by the password step. It is `mfa` (second factor awaited) when the account
has one enrolled, `enrol` when its roles require one it has not enrolled (only enrolment is
allowed), else `full`. Either timeout ends it: idle (default 15 min since the last request) and
absolute (default 8 h since sign-in, whatever the activity).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Stage(StrEnum):
    """How far a session got through sign-in."""

    MFA = "mfa"
    ENROL = "enrol"
    FULL = "full"


class Expiry(StrEnum):
    """Why a session is no longer valid (or `VALID`)."""

    VALID = "valid"
    IDLE = "idle"
    ABSOLUTE = "absolute"


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """Idle and absolute timeouts; a half-signed-in session (`mfa`) gets `pending` to finish."""

    idle: timedelta = timedelta(minutes=15)
    absolute: timedelta = timedelta(hours=8)
    pending: timedelta = timedelta(minutes=5)
    #: `last_seen` is written when it moved by at least this much (not on every request).
    touch_every: timedelta = timedelta(seconds=30)

    def expiry(self, *, created: datetime, last_seen: datetime, stage: Stage, now: datetime) -> Expiry:
        """Whether a session is still valid at `now`, else which timeout ended it."""
        if now >= created + self.absolute:
            return Expiry.ABSOLUTE
        idle = self.pending if stage is Stage.MFA else self.idle
        if now >= last_seen + idle:
            return Expiry.IDLE
        return Expiry.VALID

    def should_touch(self, last_seen: datetime, now: datetime) -> bool:
        """True when `last_seen` is stale enough to be written again."""
        return now - last_seen >= self.touch_every
