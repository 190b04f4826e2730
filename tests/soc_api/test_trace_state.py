"""The grant trace's state in the in-process engines: the trail ledgers each verdict with its grant and
resumes its cumulative records from the ledger; the detector saves them with its offset and neither
loses nor doubles them across a restart or a failed batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from audit.ledger import Ledger
from collectors.sink import encode_event
from crypto.recipes import SealingKey, SigningKey
from datasoc.event import Event
from datasoc.grants import Grant, GrantBook, GrantTerms
from datasoc.transport import ALERTS, EVENTS, Spool
from detection.engine import LoadResult
from soc_api.detector import Detector, decode_alert
from soc_api.governance.usage import UsageFile, last_used
from soc_api.trail import Trail

NOW = datetime(2026, 3, 3, 4, 0, tzinfo=UTC)
GRANT = Grant.issue(
    "SQ-1",
    "wangwei",
    GrantTerms(
        assets={"ds-hjqy": None},
        valid_from=NOW - timedelta(days=1),
        valid_to=NOW + timedelta(days=1),
        region="东湖区",
        record_cap=1000,
    ),
)


class Book:
    """A grant source whose book the test changes."""

    def __init__(self, *grants: Grant) -> None:
        self.current = GrantBook.of(grants, version=1)

    def book(self) -> GrantBook:
        return self.current


def access(i: int, **changes: Any) -> Event:
    data: dict[str, Any] = {
        "@timestamp": (NOW + timedelta(minutes=i)).isoformat(),
        "event.id": f"e-{i}",
        "event.ingested": NOW.isoformat(),
        "event.action": "dataset.query",
        "event.outcome": "success",
        "observer.collector": "test",
        "log.original": f"q {i}",
        "datasoc.actor_role": "user",
        "datasoc.lifecycle": "use",
        "user.name": "wangwei",
        "data.asset.id": "ds-hjqy",
        "data.classification": "important",
        "data.records": 300,
        "source.geo.name": "东湖区",
        "approval.id": "SQ-1",
    }
    data.update(changes)
    return Event.from_dict({k: v for k, v in data.items() if v is not None})


def fill(spool: Spool, events: list[Event]) -> None:
    spool.append(EVENTS, [encode_event(e) for e in events], now=NOW)


@pytest.fixture
def parts(tmp_path: Path) -> Any:
    spool = Spool.open(tmp_path / "spool")
    ledger = Ledger.open(tmp_path / "ledger", SigningKey.generate(), origin="test/trace")
    yield spool, ledger, SealingKey.generate("seal:t", rng=lambda n: b"\x01" * n)
    ledger.close()
    spool.close()


def _verdicts(ledger: Ledger) -> list[tuple[str, str, int | None, list[str]]]:
    return [
        (
            e.payload.get("approval.id", "-"),
            e.payload.get("trace.verdict", "-"),
            e.payload.get("trace.used"),
            e.payload.get("trace.violations", []),
        )
        for e in ledger.store.entries()
        if e.kind == "access"
    ]


def test_the_trail_ledgers_each_verdict_and_resumes_the_cap_from_the_ledger(parts: Any) -> None:
    spool, ledger, seal = parts
    fill(
        spool,
        [
            access(0),
            access(1),
            access(2, **{"approval.id": None}),
            access(3, **{"source.geo.name": "西山区"}),
        ],
    )
    Trail(spool, ledger, seal, grants=Book(GRANT)).run(now=NOW)
    assert _verdicts(ledger) == [
        ("SQ-1", "allowed", 300, []),
        ("SQ-1", "allowed", 600, []),
        ("-", "violation", None, ["no_grant"]),
        ("SQ-1", "violation", 900, ["outside_region"]),
    ]
    # A new trail (a restart) takes the grant's cumulative records from its newest access entry.
    assert last_used(ledger, "SQ-1") == 900
    fill(
        spool,
        [access(4), access(5, **{"event.outcome": "failure"}), access(6, **{"datasoc.lifecycle": "delete"})],
    )
    Trail(spool, ledger, seal, grants=Book(GRANT)).run(now=NOW)
    assert _verdicts(ledger)[4:] == [
        ("SQ-1", "violation", 1200, ["over_cap"]),
        ("SQ-1", "-", None, []),  # a failed query is ledgered, not judged
        ("SQ-1", "-", None, []),  # neither is a provider's deletion
    ]
    # The grant's index key selects every access under it.
    with ledger.store.index.lock:
        under = ledger.store.index.lookup("grant:SQ-1")
    assert len(under) == 6


def test_a_failed_append_counts_the_batch_once_when_it_is_traced_again(parts: Any) -> None:
    spool, ledger, seal = parts
    fill(spool, [access(0), access(1)])
    trail = Trail(spool, ledger, seal, grants=Book(GRANT))
    real = ledger.append_many
    calls = {"n": 0}

    def failing(drafts: Any, *, now: datetime) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("disk full")
        return real(drafts, now=now)

    ledger.append_many = failing  # type: ignore[method-assign]
    with pytest.raises(OSError):
        trail.run(now=NOW)
    trail.run(now=NOW)
    assert [v[2] for v in _verdicts(ledger)] == [300, 600]


def _detector(tmp_path: Path, source: Book) -> Detector:
    return Detector(
        LoadResult(rules=[], correlations=[], errors=[]),
        grants=source,
        usage_file=UsageFile(tmp_path / "detector" / "grant-usage.json"),
    )


def _alerts(spool: Spool) -> list[tuple[str, tuple[str, ...]]]:
    return [(a.rule_id, a.event_ids) for a in (decode_alert(r.payload) for r in spool.read(ALERTS, 0, 100))]


def test_the_detector_saves_its_counts_with_its_offset_and_resumes_exactly(
    parts: Any, tmp_path: Path
) -> None:
    spool, _ledger, _seal = parts
    fill(spool, [access(i) for i in range(3)])
    first = _detector(tmp_path, Book(GRANT))
    assert first.run_pass(spool, now=NOW).alerts == 0
    saved = UsageFile(tmp_path / "detector" / "grant-usage.json").load()
    assert saved is not None
    assert (saved.offset, saved.used) == (3, {"SQ-1": 900})
    fill(spool, [access(3), access(4, **{"approval.id": "SQ-2"})])
    again = _detector(tmp_path, Book(GRANT))  # a restart
    assert again.run_pass(spool, now=NOW).alerts == 2
    assert _alerts(spool) == [("datasoc-grant-over-cap", ("e-3",)), ("datasoc-grant-unknown-grant", ("e-4",))]


def test_a_batch_saved_but_not_committed_is_not_counted_twice(parts: Any, tmp_path: Path) -> None:
    spool, _ledger, _seal = parts
    fill(spool, [access(i) for i in range(3)])
    detector = _detector(tmp_path, Book(GRANT))
    reader = spool.consumer("detector", EVENTS)
    real_commit = type(reader).commit
    crashed = {"done": False}

    def crash(self: Any, offset: int | None = None) -> None:
        if not crashed["done"]:
            crashed["done"] = True
            raise RuntimeError("killed between the save and the commit")
        real_commit(self, offset)

    type(reader).commit = crash  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError):
            detector.run_pass(spool, now=NOW)
    finally:
        type(reader).commit = real_commit  # type: ignore[method-assign]
    assert spool.consumer("detector", EVENTS).committed == 0
    fill(spool, [access(3)])
    restarted = _detector(tmp_path, Book(GRANT))
    restarted.run_pass(spool, now=NOW)
    assert restarted.usage.used == {"SQ-1": 1200}  # not 2100: the saved batch was not counted again
    assert _alerts(spool) == [("datasoc-grant-over-cap", ("e-3",))]


def test_a_grant_change_holds_for_the_events_of_the_next_pass(parts: Any, tmp_path: Path) -> None:
    spool, _ledger, _seal = parts
    source = Book(GRANT)
    detector = _detector(tmp_path, source)
    fill(spool, [access(0)])
    detector.run_pass(spool, now=NOW)
    source.current = GrantBook.of([GRANT.revoke(NOW + timedelta(minutes=1))], version=2)
    fill(spool, [access(1)])
    detector.run_pass(spool, now=NOW)
    assert _alerts(spool) == [("datasoc-grant-revoked", ("e-1",))]
