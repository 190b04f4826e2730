"""The security queue: denials folded per peer, kind, subject and window; bounded under a flood."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from collectors.security import (
    DENIED,
    THROTTLED,
    DenialSummary,
    OverflowSummary,
    SecurityEvent,
    SecurityEventError,
    SecurityEvents,
    peer_key,
)

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def denial(peer: str, at: datetime, *, kind: str = DENIED, reason: str = "unknown token") -> SecurityEvent:
    return SecurityEvent.create(kind=kind, peer=peer, subject="collector:http-ingest", reason=reason, at=at)


def test_three_thousand_denials_from_one_peer_in_a_window_are_one_summary() -> None:
    queue = SecurityEvents(window=timedelta(seconds=60))
    for i in range(3000):
        queue.push(denial("10.0.0.9", T0 + timedelta(milliseconds=10 * i)))
    assert queue.drain(T0 + timedelta(seconds=59)) == []  # the window is not over yet
    (summary,) = queue.drain(T0 + timedelta(seconds=60))
    assert isinstance(summary, DenialSummary)
    assert (summary.actor, summary.kind, summary.count) == ("peer:10.0.0.9", DENIED, 3000)
    assert summary.payload()["first"] == "2026-11-28T12:00:00.000000Z"
    assert summary.payload()["last"] == "2026-11-28T12:00:29.990000Z"
    assert queue.drain(T0 + timedelta(hours=1)) == []


def test_peers_kinds_and_reasons_are_kept_apart() -> None:
    queue = SecurityEvents()
    queue.push(denial("10.0.0.1", T0))
    queue.push(denial("10.0.0.1", T0, reason="missing Authorization header"))
    queue.push(denial("10.0.0.1", T0, kind=THROTTLED))
    queue.push(denial("10.0.0.2", T0))
    summaries = queue.drain(T0, final=True)
    assert sorted((s.actor, s.kind, s.count) for s in summaries) == [
        ("peer:10.0.0.1", DENIED, 2),
        ("peer:10.0.0.1", THROTTLED, 1),
        ("peer:10.0.0.2", DENIED, 1),
    ]
    first = next(s for s in summaries if isinstance(s, DenialSummary) and s.count == 2)
    assert dict(first.reasons) == {"unknown token": 1, "missing Authorization header": 1}


def test_a_flood_of_distinct_peers_stays_bounded_and_the_overflow_is_reported() -> None:
    queue = SecurityEvents(max_keys=100)
    for i in range(5000):
        queue.push(denial(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", T0 + timedelta(microseconds=i)))
    assert queue.pending() == 101  # 100 open summaries and the overflow
    summaries = queue.drain(T0 + timedelta(minutes=2))
    overflow = [s for s in summaries if isinstance(s, OverflowSummary)]
    assert len(summaries) == 101
    assert overflow[0].count == 4900
    assert overflow[0].payload()["kinds"] == {DENIED: 4900}
    assert sum(s.payload()["count"] for s in summaries) == 5000  # every event counted somewhere


def test_events_validate_and_ipv6_hosts_count_as_their_64() -> None:
    with pytest.raises(SecurityEventError, match="kind"):
        SecurityEvent.create(kind="login.ok", peer="1.2.3.4", subject="s", reason="r", at=T0)
    with pytest.raises(SecurityEventError, match="time zone"):
        SecurityEvent.create(kind=DENIED, peer="1.2.3.4", subject="s", reason="r", at=T0.replace(tzinfo=None))
    assert peer_key("2001:db8:1:2:aaaa::1") == peer_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert peer_key("::ffff:10.1.2.3") == "10.1.2.3"
    assert peer_key("not-an-address") == "not-an-address"
