"""TransportSink: events and dead letters reach their topics durably, counted per source."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collectors.sink import TransportSink, dead_letter, encode_event
from datasoc.event import Event
from datasoc.transport import DEADLETTER, EVENTS, Spool

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)


def make_event(i: int) -> Event:
    return Event.from_dict(
        {
            "@timestamp": "2026-11-28T03:00:00Z",
            "event.id": f"e-{i}",
            "event.ingested": "2026-11-28T04:00:00Z",
            "event.action": "dataset.query",
            "event.outcome": "success",
            "observer.collector": "test",
            "log.original": f"line {i} 查询",
        }
    )


def test_events_and_rejects_reach_their_topics(tmp_path: Path) -> None:
    with Spool.open(tmp_path / "spool") as spool:
        sink = TransportSink(spool, batch_size=3)
        for i in range(7):
            sink.add_event(make_event(i), source="gw.log", now=NOW)
        sink.add_rejected(
            stage="parse", source="db.log", position=9, reason="bad JSON", raw=b"\xff{oops", now=NOW
        )
        # Two full batches were flushed on their own; the rest waits for flush().
        assert spool.range(EVENTS).end == 6
        assert len(sink.pending()) == 2
        sink.flush(now=NOW)
        assert sink.pending() == []
        assert sink.stats.accepted == {"gw.log": 7}
        assert sink.stats.rejected == {"db.log": 1}
        events = spool.read(EVENTS, 0, 100)
        assert [Event.from_dict(json.loads(r.payload)) for r in events] == [make_event(i) for i in range(7)]
        (dead,) = spool.read(DEADLETTER, 0, 10)
        record = json.loads(dead.payload)
        assert record["reason"] == "bad JSON"
        assert record["source"] == "db.log"
        assert record["position"] == 9
        assert base64.b64decode(record["raw_b64"]) == b"\xff{oops"
        assert record["raw_text"] is None  # not UTF-8, so only the bytes are kept


def test_dead_letter_keeps_utf8_text_and_marks_truncation() -> None:
    record = json.loads(
        dead_letter(
            stage="parse", source="s", position=None, reason="r", raw="审计".encode(), received_at=NOW
        )
    )
    assert record["raw_text"] == "审计"
    assert record["raw_truncated"] is False
    big = json.loads(
        dead_letter(stage="parse", source="s", position=1, reason="r", raw=b"x" * (2 << 20), received_at=NOW)
    )
    assert big["raw_truncated"] is True
    assert len(base64.b64decode(big["raw_b64"])) == 1 << 20


def test_encode_event_round_trips() -> None:
    event = make_event(1)
    assert Event.from_dict(json.loads(encode_event(event))) == event


def test_batch_size_must_be_positive(tmp_path: Path) -> None:
    with Spool.open(tmp_path / "spool") as spool, pytest.raises(ValueError, match="at least 1"):
        TransportSink(spool, batch_size=0)
