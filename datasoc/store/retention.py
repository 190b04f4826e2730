"""The retention job: the only way events leave the store.

Why a minimum: the Cybersecurity Law of the PRC (art. 21(3)) requires network logs to be kept for
no less than six months, and MLPS 2.0 level 3 (GB/T 22239-2019, security audit) builds on it, so
audit records must be kept at least six months. Six calendar months are at most 184 days
(for example July to December), hence `MIN_RETENTION_DAYS = 184`. Shorter retention is possible
only with `allow_short_retention=True`, meant for development and tests.

Each run reports what it did through `on_purge`, the seam where the application writes a `purge`
entry to the audit ledger. The report is delivered after the delete has committed, so its count is
exact; if `on_purge` raises, the error propagates and the caller must record the purge another way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from datasoc.event import format_timestamp, parse_timestamp
from datasoc.store.base import EventStore
from datasoc.store.errors import RetentionPolicyError

MIN_RETENTION_DAYS: Final = 184
DEFAULT_RETENTION_DAYS: Final = 184


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """What one retention run did: events with `@timestamp < cutoff` were deleted."""

    ran_at: datetime
    cutoff: datetime
    retention_days: int
    purged: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for the ledger's `purge` entry payload."""
        return {
            "ran_at": format_timestamp(self.ran_at),
            "cutoff": format_timestamp(self.cutoff),
            "retention_days": self.retention_days,
            "purged": self.purged,
        }


def check_retention_days(retention_days: object, *, allow_short_retention: bool = False) -> int:
    """Validate a retention period in days; raises `RetentionPolicyError` naming the rule broken."""
    if type(retention_days) is not int or retention_days < 1:
        raise RetentionPolicyError(
            f"retention_days must be a positive whole number of days, got {retention_days!r}"
        )
    if retention_days < MIN_RETENTION_DAYS and not allow_short_retention:
        raise RetentionPolicyError(
            f"retention_days={retention_days} is below {MIN_RETENTION_DAYS} days: MLPS 2.0 level 3"
            " (GB/T 22239-2019, with Cybersecurity Law art. 21) requires audit records to be kept"
            " at least 6 months",
            hint=f"use {MIN_RETENTION_DAYS} days or more;"
            " allow_short_retention=True is for development and tests only",
        )
    return retention_days


def _utc_now(now: datetime) -> datetime:
    try:
        return parse_timestamp(now)
    except ValueError as exc:
        raise RetentionPolicyError(f"now: {exc}") from None


def retention_cutoff(now: datetime, retention_days: int) -> datetime:
    """The oldest `@timestamp` kept: `now - retention_days`. Events exactly at the cutoff stay."""
    return _utc_now(now) - timedelta(days=retention_days)


class RetentionJob:
    """Purges events older than `retention_days`; run it from a scheduler with the current time."""

    def __init__(
        self,
        store: EventStore,
        retention_days: int = DEFAULT_RETENTION_DAYS,
        on_purge: Callable[[PurgeReport], None] | None = None,
        *,
        allow_short_retention: bool = False,
    ) -> None:
        self._store = store
        self._retention_days = check_retention_days(
            retention_days, allow_short_retention=allow_short_retention
        )
        self._on_purge = on_purge

    @property
    def retention_days(self) -> int:
        """The retention period this job enforces."""
        return self._retention_days

    def run(self, now: datetime) -> PurgeReport:
        """Delete events older than `now - retention_days` and report it (also when none were)."""
        now = _utc_now(now)
        cutoff = retention_cutoff(now, self._retention_days)
        purged = self._store._purge_before(cutoff)  # the one sanctioned caller of the purge
        report = PurgeReport(ran_at=now, cutoff=cutoff, retention_days=self._retention_days, purged=purged)
        if self._on_purge is not None:
            self._on_purge(report)
        return report
