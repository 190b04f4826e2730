"""Security decisions of the collectors (denied tokens, throttled peers, refused client
certificates): typed events, folded per peer and window into summaries for the ledger.

Listeners `push` a `SecurityEvent` and return at once: the push takes a short lock around a dict
update and never waits for the ledger (one forged-token request used to hold the whole HTTP
server for a background pass, its ledger append waiting for the pass lock). A platform step calls
`drain(now)` and ledgers what it returns:

- `DenialSummary`: the events of one (peer, kind, subject) whose window (`window`, from the first
  event) is over: "N denials from peer P between T1 and T2", with the count of each reason.
  3,000 forged-token requests from one peer within a window are one ledger entry, not 3,000.
- `OverflowSummary`: events that found no room (more than `max_keys` keys open at once, a flood of
  distinct peers), counted by kind with their first and last time, so the overflow itself is
  reported; memory stays bounded by `max_keys`.

Every event is also logged, rate-limited per key (`collectors.ratelog`); each summary is logged
when drained. `drain(now, final=True)` returns everything still open (shutdown).
"""

from __future__ import annotations

import ipaddress
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

from collectors.errors import CollectorError
from collectors.ratelog import RateLimitedLog
from datasoc.event import format_timestamp
from datasoc.logging import get_logger

log = get_logger("collectors.security")
#: Kinds a collector reports (ledger kinds of the `login` family).
DENIED: Final = "login.denied"
THROTTLED: Final = "login.throttled"
OVERFLOW: Final = "login.overflow"
KINDS: Final = frozenset({DENIED, THROTTLED})
_MAX_TEXT: Final = 200
_MAX_REASONS: Final = 16


class SecurityEventError(CollectorError, ValueError):
    """A security event or the aggregator's configuration is invalid."""


def peer_key(address: str) -> str:
    """The peer a limit or a summary is kept for: the IPv4 address, or the IPv6 /64 network
    (one host commonly holds a whole /64, so per-address keys would not limit it)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """One security decision taken at a listener; build with `create`."""

    kind: str
    peer: str
    subject: str
    reason: str
    at: datetime

    @classmethod
    def create(cls, *, kind: str, peer: str, subject: str, reason: str, at: datetime) -> SecurityEvent:
        """Validated event; `peer` is reduced to its `peer_key`, texts are bounded."""
        if kind not in KINDS:
            raise SecurityEventError(f"security event kind {kind!r}: known: {sorted(KINDS)}")
        if at.tzinfo is None:
            raise SecurityEventError("security event time must carry a time zone")
        if not subject:
            raise SecurityEventError("security event needs a subject")
        return cls(kind, peer_key(peer), subject[:_MAX_TEXT], reason[:_MAX_TEXT], at)


@dataclass(frozen=True, slots=True)
class DenialSummary:
    """The events of one (peer, kind, subject) in one window."""

    kind: str
    peer: str
    subject: str
    count: int
    first: datetime
    last: datetime
    reasons: MappingProxyType[str, int]

    @property
    def actor(self) -> str:
        """The ledger actor: `peer:<address or network>`."""
        return f"peer:{self.peer}"

    def payload(self) -> dict[str, Any]:
        """The ledger payload: count, first and last time, and the count per reason."""
        return {
            "count": self.count,
            "first": format_timestamp(self.first),
            "last": format_timestamp(self.last),
            "reasons": dict(self.reasons),
        }


@dataclass(frozen=True, slots=True)
class OverflowSummary:
    """Events that did not fit into the aggregator (too many distinct keys at once)."""

    count: int
    first: datetime
    last: datetime
    kinds: MappingProxyType[str, int]
    kind: str = OVERFLOW
    actor: str = "peer:*"
    subject: str = "collector:*"

    def payload(self) -> dict[str, Any]:
        """The ledger payload: how many events, when, and of which kinds."""
        return {
            "count": self.count,
            "first": format_timestamp(self.first),
            "last": format_timestamp(self.last),
            "kinds": dict(self.kinds),
        }


Summary = DenialSummary | OverflowSummary


@dataclass
class _Open:
    first: datetime
    last: datetime
    count: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


@dataclass
class _Overflow:
    first: datetime
    last: datetime
    count: int = 0
    kinds: Counter[str] = field(default_factory=Counter)


class SecurityEvents:
    """A bounded, aggregating queue of security events (module docstring); thread-safe."""

    def __init__(
        self,
        *,
        window: timedelta = timedelta(seconds=60),
        max_keys: int = 4096,
        logger: RateLimitedLog | None = None,
    ) -> None:
        if window <= timedelta(0) or max_keys < 1:
            raise SecurityEventError("window must be positive and max_keys at least 1")
        self.window = window
        self.max_keys = max_keys
        self._log = logger or RateLimitedLog(log, interval=window.total_seconds(), max_keys=max_keys)
        self._lock = threading.Lock()
        self._open: dict[tuple[str, str, str], _Open] = {}
        self._overflow: _Overflow | None = None
        self.pushed = 0
        self.overflowed = 0

    def push(self, event: SecurityEvent) -> None:
        """Count the event into its open summary (or the overflow); never blocks on I/O."""
        key = (event.peer, event.kind, event.subject)
        with self._lock:
            self.pushed += 1
            summary = self._open.get(key)
            if summary is None and len(self._open) < self.max_keys:
                summary = self._open[key] = _Open(event.at, event.at)
            if summary is not None:
                summary.count += 1
                summary.last = max(summary.last, event.at)
                if event.reason in summary.reasons or len(summary.reasons) < _MAX_REASONS:
                    summary.reasons[event.reason] += 1
                else:
                    summary.reasons["<other>"] += 1
            else:
                self.overflowed += 1
                if self._overflow is None:
                    self._overflow = _Overflow(event.at, event.at)
                self._overflow.count += 1
                self._overflow.last = max(self._overflow.last, event.at)
                self._overflow.kinds[event.kind] += 1
        self._log.warning(
            "security_denied",
            key=key,
            kind=event.kind,
            peer=event.peer,
            subject=event.subject,
            reason=event.reason,
        )

    def drain(self, now: datetime, *, final: bool = False) -> list[Summary]:
        """Summaries whose window is over at `now` (every open one when `final`), oldest first."""
        out: list[Summary] = []
        with self._lock:
            for key, summary in list(self._open.items()):
                if final or now - summary.first >= self.window:
                    del self._open[key]
                    peer, kind, subject = key
                    out.append(
                        DenialSummary(
                            kind=kind,
                            peer=peer,
                            subject=subject,
                            count=summary.count,
                            first=summary.first,
                            last=summary.last,
                            reasons=MappingProxyType(dict(summary.reasons)),
                        )
                    )
            overflow = self._overflow
            if overflow is not None and (final or now - overflow.first >= self.window):
                self._overflow = None
                out.append(
                    OverflowSummary(
                        count=overflow.count,
                        first=overflow.first,
                        last=overflow.last,
                        kinds=MappingProxyType(dict(overflow.kinds)),
                    )
                )
        out.sort(key=lambda s: s.first)
        for item in out:
            log.warning(
                "security_summary", kind=item.kind, actor=item.actor, subject=item.subject, **item.payload()
            )
        return out

    def pending(self) -> int:
        """Open summaries (plus one if events overflowed)."""
        with self._lock:
            return len(self._open) + (self._overflow is not None)
