"""Lockout with back-off after repeated sign-in failures (pure).

After `threshold` consecutive failures an account is locked for `base`, doubling with every
further failure up to `cap` (OWASP Authentication Cheat Sheet: exponential back-off, no
permanent lock an attacker could use to deny service). A success resets the count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class LockoutPolicy:
    """Consecutive failures allowed before locking, and the back-off schedule."""

    threshold: int = 5
    base: timedelta = timedelta(minutes=1)
    cap: timedelta = timedelta(hours=1)

    def lock_for(self, failures: int) -> timedelta:
        """How long the account locks after its `failures`-th consecutive failure (0: not locked)."""
        if failures < self.threshold:
            return timedelta(0)
        steps = min(failures - self.threshold, 32)
        span: timedelta = self.base * (2**steps)
        return min(span, self.cap)

    def after_failure(self, failures_before: int, now: datetime) -> tuple[int, datetime | None]:
        """`(failures, locked_until)` after one more failure at `now`."""
        failures = failures_before + 1
        span = self.lock_for(failures)
        return failures, (now + span if span else None)


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    """True while `now` is before `locked_until`."""
    return locked_until is not None and now < locked_until
