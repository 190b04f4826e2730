"""The indexer consumes from Kafka as a consumer group: at least once, rejects dead-lettered in Kafka."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from datasoc.event import Event
from datasoc.store import SearchQuery, SQLiteEventStore
from datasoc.transport import DEADLETTER, EVENTS, KafkaConfig, KafkaTransport
from services import Server
from soc_api.indexer import index_pending

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def event(n: int) -> bytes:
    return Event.from_dict(
        {
            "@timestamp": NOW - timedelta(seconds=n),
            "event.id": f"k-{n}",
            "event.ingested": NOW,
            "event.action": "dataset.query",
            "event.outcome": "success",
            "observer.collector": "gw",
            "log.original": f"line {n}",
        }
    ).canonical()


def test_indexer_on_kafka_commits_in_its_group_and_dead_letters_in_kafka(
    kafka_server: Server, tmp_path: Path
) -> None:
    prefix = f"ix{secrets.token_hex(3)}."
    # Records stamped with the fixed NOW: a long retention, or the broker deletes them (test_kafka.py).
    config = KafkaConfig(
        bootstrap=kafka_server.address, topic_prefix=prefix, group_prefix=prefix, retention_hours=175_200
    )
    with KafkaTransport(config) as kafka, SQLiteEventStore(tmp_path / "events.db") as store:
        kafka.append(EVENTS, [event(n) for n in range(30)] + [b"{not json"], now=NOW)
        report = index_pending(kafka, store, now=NOW, batch_size=8)
        assert (report.read, report.stored, report.rejected, report.committed_offset) == (31, 30, 1, 31)
        (dead,) = kafka.read(DEADLETTER, 0, 10)
        assert b'"stage":"index"' in dead.payload
        assert index_pending(kafka, store, now=NOW).read == 0
        kafka.append(EVENTS, [event(30)], now=NOW)
    with KafkaTransport(config) as again, SQLiteEventStore(tmp_path / "events.db") as store:
        report = index_pending(again, store, now=NOW)  # a restart resumes from the group's offset
        assert (report.read, report.stored, report.committed_offset) == (1, 1, 32)
        assert store.count(SearchQuery(start=NOW - timedelta(days=1), end=NOW + timedelta(days=1))) == 31
