"""In-process trace: every access on the events topic is ledgered once, with sealed client address."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from audit.entry import LedgerEntry
from audit.ledger import Ledger
from audit.sealed import open_payload
from audit.verify import verify_store
from collectors.sink import encode_event
from crypto.recipes import SealingKey, SigningKey
from datasoc.event import Event
from datasoc.transport import EVENTS, Spool
from soc_api.trail import access_entry, is_access, resume_state, trace_pending

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
ORIGIN = "test/ledger"


def make_event(i: int, *, lifecycle: str | None = "transmit", event_id: str | None = None) -> Event:
    data: dict[str, object] = {
        "@timestamp": "2026-11-28T02:13:00Z",
        "event.id": event_id or f"e-{i}",
        "event.ingested": "2026-11-28T04:00:00Z",
        "event.action": "dataset.download" if lifecycle else "auth.login",
        "event.outcome": "success",
        "observer.collector": "test",
        "log.original": f"line {i}",
        "user.name": "xiehaiyan",
        "data.asset.id": "ds-wjw-dzbl",
        "data.classification": "core",
        "data.records": 50000,
        "source.ip": "10.24.227.36",
    }
    if lifecycle:
        data["datasoc.lifecycle"] = lifecycle
    return Event.from_dict(data)


@pytest.fixture
def keys() -> tuple[SigningKey, SealingKey]:
    return SigningKey.generate(), SealingKey.generate("seal:test", rng=lambda n: b"\x07" * n)


def access_entries(ledger: Ledger) -> list[LedgerEntry]:
    return [e for e in ledger.store.entries() if e.kind == "access"]


def test_access_entry_mapping_is_pure_and_complete() -> None:
    actor, subject, payload = access_entry(make_event(3), 41)
    assert (actor, subject) == ("xiehaiyan", "ds-wjw-dzbl")
    assert payload["spool_offset"] == 41
    assert payload["event.id"] == "e-3"
    assert payload["data.classification"] == "core"
    assert payload["data.records"] == 50000
    assert is_access(make_event(1))
    assert not is_access(make_event(1, lifecycle=None))


def test_traces_accesses_once_and_seals_client_address(
    tmp_path: Path, keys: tuple[SigningKey, SealingKey]
) -> None:
    signer, sealer = keys
    events = [make_event(i, lifecycle=None if i % 3 == 0 else "transmit") for i in range(30)]
    with Spool.open(tmp_path / "spool") as spool:
        spool.append(EVENTS, [encode_event(e) for e in events], now=NOW)
        ledger = Ledger.open(tmp_path / "ledger", signer, origin=ORIGIN)
        report = trace_pending(spool, ledger, sealer, now=NOW, batch_size=7)
        assert (report.read, report.ledgered, report.next_offset) == (30, 20, 30)
        entries = access_entries(ledger)
        assert [e.payload["event.id"] for e in entries] == [e.event_id for e in events if is_access(e)]
        raw = ledger.store.read_raw(entries[0].seq)
        assert b"10.24.227.36" not in raw  # sealed in the ledger
        assert open_payload(entries[0], sealer)["source.ip"] == "10.24.227.36"
        # Nothing new: a second pass traces nothing.
        assert trace_pending(spool, ledger, sealer, now=NOW).ledgered == 0
        ledger.checkpoint_tail(now=NOW.replace(minute=1))
        ledger.close()
    assert verify_store(tmp_path / "ledger", signer.public_key_pem()).ok


def test_resumes_after_restart_without_gaps_or_repeats(
    tmp_path: Path, keys: tuple[SigningKey, SealingKey]
) -> None:
    signer, sealer = keys
    with Spool.open(tmp_path / "spool") as spool:
        spool.append(EVENTS, [encode_event(make_event(i)) for i in range(10)], now=NOW)
        ledger = Ledger.open(tmp_path / "ledger", signer, origin=ORIGIN)
        trace_pending(spool, ledger, sealer, now=NOW)
        ledger.close()
        # More events arrive while the trail is down; it resumes from the ledger itself.
        spool.append(EVENTS, [encode_event(make_event(i)) for i in range(10, 15)], now=NOW)
        ledger = Ledger.open(tmp_path / "ledger", signer, origin=ORIGIN)
        assert resume_state(ledger).next_offset == 10
        assert trace_pending(spool, ledger, sealer, now=NOW).ledgered == 5
        ids = [e.payload["event.id"] for e in access_entries(ledger)]
        ledger.close()
    assert ids == [f"e-{i}" for i in range(15)]


def test_replayed_events_are_not_traced_twice(tmp_path: Path, keys: tuple[SigningKey, SealingKey]) -> None:
    signer, sealer = keys
    batch = [encode_event(make_event(i)) for i in range(5)]
    with Spool.open(tmp_path / "spool") as spool:
        spool.append(EVENTS, batch, now=NOW)
        spool.append(EVENTS, batch, now=NOW)  # a collector re-read its file after a crash
        ledger = Ledger.open(tmp_path / "ledger", signer, origin=ORIGIN)
        report = trace_pending(spool, ledger, sealer, now=NOW)
        ledger.close()
    assert (report.read, report.ledgered) == (10, 5)


def test_undecodable_payloads_are_left_to_the_indexer(
    tmp_path: Path, keys: tuple[SigningKey, SealingKey]
) -> None:
    signer, sealer = keys
    with Spool.open(tmp_path / "spool") as spool:
        spool.append(
            EVENTS, [b"not json", json.dumps({"x": 1}).encode(), encode_event(make_event(1))], now=NOW
        )
        ledger = Ledger.open(tmp_path / "ledger", signer, origin=ORIGIN)
        report = trace_pending(spool, ledger, sealer, now=NOW)
        ledger.close()
    assert (report.read, report.ledgered, report.next_offset) == (3, 1, 3)


def test_the_trail_resumes_after_a_gap_it_ledgered_and_counts_it_once(
    tmp_path: Path, keys: tuple[SigningKey, SealingKey]
) -> None:
    from datasoc.transport import RetentionPolicy, SpoolConfig
    from soc_api.steps import GapPolicy
    from soc_api.trail import Trail

    signer, sealer = keys
    spool = Spool.open(tmp_path / "spool", config=SpoolConfig(segment_bytes=64 * 1024))
    ledger = Ledger.open(tmp_path / "ledger", signer, origin=ORIGIN)
    try:
        for at in range(0, 900, 100):
            events = [make_event(i, event_id=f"g-{i}") for i in range(at, at + 100)]
            spool.append(EVENTS, [encode_event(e) for e in events], now=NOW)
        spool.apply_retention(NOW, RetentionPolicy(max_age=None, max_bytes=64 * 1024))
        start = spool.range(EVENTS).start
        assert start > 0
        report = Trail(spool, ledger, sealer, on_gap=GapPolicy(ledger)).run(now=NOW)
        assert report.ledgered == 900 - start
        # A restart resumes after the newest traced access; and with nothing new, after the gap it
        # ledgered, which it does not report again.
        again = Trail(spool, ledger, sealer, on_gap=GapPolicy(ledger)).run(now=NOW)
        assert again.ledgered == 0
        gaps = [e for e in ledger.store.entries() if e.kind == "system.gap"]
        assert [(g.payload["from_offset"], g.payload["to_offset"]) for g in gaps] == [(0, start)]
    finally:
        ledger.close()
        spool.close()
