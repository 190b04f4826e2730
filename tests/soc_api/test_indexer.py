"""Indexer: spool -> store at least once, idempotent, bad payloads dead-lettered with reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.sink import encode_event
from datasoc.event import Event
from datasoc.store import SQLiteEventStore
from datasoc.transport import DEADLETTER, EVENTS, Spool
from soc_api.indexer import index_pending

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)


def make_event(i: int) -> Event:
    return Event.from_dict(
        {
            "@timestamp": f"2026-11-28T03:{i % 60:02d}:00Z",
            "event.id": f"e-{i}",
            "event.ingested": "2026-11-28T04:00:00Z",
            "event.action": "dataset.download",
            "event.outcome": "success",
            "observer.collector": "test",
            "log.original": f"download {i}",
            "data.classification": "core" if i % 2 else "general",
        }
    )


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[tuple[Spool, SQLiteEventStore]]:
    spool = Spool.open(tmp_path / "spool")
    store = SQLiteEventStore(tmp_path / "events.sqlite3")
    yield spool, store
    store.close()
    spool.close()


def test_indexes_everything_once_and_commits(parts: tuple[Spool, SQLiteEventStore]) -> None:
    spool, store = parts
    spool.append(EVENTS, [encode_event(make_event(i)) for i in range(25)], now=NOW)
    report = index_pending(spool, store, now=NOW, batch_size=10)
    assert (report.read, report.stored, report.rejected, report.committed_offset) == (25, 25, 0, 25)
    assert store.get("e-7") == make_event(7)
    # Nothing new: a second pass reads nothing.
    assert index_pending(spool, store, now=NOW).read == 0


def test_replay_after_lost_commit_is_harmless(parts: tuple[Spool, SQLiteEventStore]) -> None:
    spool, store = parts
    spool.append(EVENTS, [encode_event(make_event(i)) for i in range(5)], now=NOW)
    index_pending(spool, store, now=NOW)
    # As if the offset commit had been lost in a crash: a new consumer re-reads from the start.
    again = index_pending(spool, store, now=NOW, consumer="indexer-2")
    assert (again.read, again.stored) == (5, 0)


def test_bad_payloads_go_to_deadletter_with_reason(parts: tuple[Spool, SQLiteEventStore]) -> None:
    spool, store = parts
    bad_event = json.dumps({"@timestamp": "nope", "event.id": "x"}).encode()
    spool.append(EVENTS, [encode_event(make_event(1)), b"\xff\xfe not json", bad_event], now=NOW)
    report = index_pending(spool, store, now=NOW)
    assert (report.read, report.stored, report.rejected) == (3, 1, 2)
    dead = [json.loads(r.payload) for r in spool.read(DEADLETTER, 0, 10)]
    assert [d["position"] for d in dead] == [1, 2]
    assert all(d["stage"] == "index" for d in dead)
    assert "events@2" in dead[1]["reason"]
    assert "@timestamp" in dead[1]["reason"]


def test_max_batches_leaves_the_rest_for_later(parts: tuple[Spool, SQLiteEventStore]) -> None:
    spool, store = parts
    spool.append(EVENTS, [encode_event(make_event(i)) for i in range(30)], now=NOW)
    first = index_pending(spool, store, now=NOW, batch_size=10, max_batches=1)
    assert (first.read, first.committed_offset) == (10, 10)
    assert index_pending(spool, store, now=NOW).read == 20
