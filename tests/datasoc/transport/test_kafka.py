"""The Kafka transport against a real broker: the Transport contract, consumer groups, and kills."""

from __future__ import annotations

import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource

from datasoc.transport import OffsetOutOfRangeError, RecordTooLargeError, UnknownTopicError
from datasoc.transport.kafka import KafkaConfig, KafkaTransport, TransportUnavailableError
from services import Server

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
WRITER = Path(__file__).with_name("kafka_writer.py")
REPO = Path(__file__).resolve().parents[3]


#: The tests stamp records with a fixed clock (March 2026): with the default 7 days the broker's
#: retention check (every 5 minutes) deleted them under a test that ran later than that.
TEST_RETENTION_H = 24 * 365 * 20


def config(bootstrap: str, prefix: str, **overrides: object) -> KafkaConfig:
    settings: dict[str, object] = {"retention_hours": TEST_RETENTION_H, **overrides}
    return KafkaConfig(bootstrap=bootstrap, topic_prefix=prefix, group_prefix=prefix, **settings)  # type: ignore[arg-type]


@pytest.fixture
def prefix() -> str:
    """Topics and groups of this test alone, on the session's broker."""
    return f"t{secrets.token_hex(4)}."


@pytest.fixture
def transport(kafka_server: Server, prefix: str) -> Iterator[KafkaTransport]:
    opened = KafkaTransport(config(kafka_server.address, prefix))
    yield opened
    opened.close()


def test_append_returns_offsets_after_the_ack_and_read_gives_them_back(transport: KafkaTransport) -> None:
    first = transport.append("events", [b"a", b"b", "数据".encode()], now=NOW)
    second = transport.append("events", [b"d"], now=NOW)
    assert first == [0, 1, 2]
    assert second == [3]
    records = transport.read("events", 1, 10)
    assert [(r.offset, r.payload) for r in records] == [(1, b"b"), (2, "数据".encode()), (3, b"d")]
    assert records[0].timestamp == NOW
    assert records[0].topic == "events"
    assert transport.read("events", 4, 10) == []
    assert transport.read_payloads("events", 0, 2) == [(0, b"a"), (1, b"b")]
    span = transport.range("events")
    assert (span.start, span.end) == (0, 4)
    assert transport.append("events", [], now=NOW) == []


def test_topics_are_single_partition_and_fsync_each_append_on_one_broker(
    transport: KafkaTransport, kafka_server: Server
) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_server.address})
    name = transport.kafka_topic("events")
    assert len(admin.list_topics(timeout=10).topics[name].partitions) == 1
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    described = admin.describe_configs([resource])[resource].result(10)
    assert described["flush.messages"].value == "1"
    assert described["min.insync.replicas"].value == "1"


def test_refusals_name_what_is_wrong(transport: KafkaTransport) -> None:
    with pytest.raises(UnknownTopicError):
        transport.append("nope", [b"x"], now=NOW)
    with pytest.raises(RecordTooLargeError):
        transport.append("events", [b"ok", b"x" * (1024 * 1024 + 1)], now=NOW)
    assert transport.range("events").end == 0  # the batch was refused whole
    with pytest.raises(OffsetOutOfRangeError):
        transport.read("events", 5, 1)


def test_consumer_groups_keep_committed_offsets_across_transports(kafka_server: Server, prefix: str) -> None:
    with KafkaTransport(config(kafka_server.address, prefix)) as first:
        first.append("events", [f"e{i}".encode() for i in range(10)], now=NOW)
        indexer = first.consumer("indexer", "events")
        assert (indexer.position, indexer.committed) == (0, 0)
        assert [r.payload for r in indexer.poll(4)] == [b"e0", b"e1", b"e2", b"e3"]
        indexer.commit()
        assert [r.offset for r in indexer.poll(100)] == list(range(4, 10))
        assert indexer.poll(10) == []
        # not committed past 4: a restart reads 4.. again (at least once)
    with KafkaTransport(config(kafka_server.address, prefix)) as second:
        again = second.consumer("indexer", "events")
        assert (again.committed, again.position) == (4, 4)
        other = second.consumer("detector", "events")  # another group: its own offset
        assert other.committed == 0
        again.seek(8)
        assert [r.offset for r in again.poll(10)] == [8, 9]
        assert again.committed == 4
        with pytest.raises(OffsetOutOfRangeError):
            again.seek(11)
        assert again.reset_to_start() == 0


def _run_writer_and_kill(
    bootstrap: str, prefix: str, round_no: int, rng: random.Random
) -> list[tuple[int, str]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    threads = rng.choice([1, 3])
    proc = subprocess.Popen(
        [
            sys.executable,
            str(WRITER),
            bootstrap,
            prefix,
            str(round_no),
            str(rng.randrange(1 << 30)),
            str(threads),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    acks: list[tuple[int, str]] = []
    threshold = rng.randint(50, 2000)
    while len(acks) < threshold:
        line = proc.stdout.readline()
        if not line:
            break
        offset, record_id = line.decode().split()
        acks.append((int(offset), record_id))
    if proc.poll() is not None:
        err = proc.stderr.read().decode() if proc.stderr else ""
        pytest.fail(f"writer exited early ({proc.returncode}): {err[-2000:]}")
    time.sleep(rng.random() * 0.05)
    proc.send_signal(signal.SIGKILL)
    for line in proc.stdout.read().decode().splitlines():
        if line.strip():
            offset, record_id = line.split()
            acks.append((int(offset), record_id))
    proc.wait(10)
    if proc.stderr is not None:
        proc.stderr.close()
    proc.stdout.close()
    return acks


def _all_records(transport: KafkaTransport) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    offset = transport.range("events").start
    while True:
        batch = transport.read("events", offset, 5000)
        if not batch:
            return out
        out.extend((r.offset, r.payload.split(b"|", 1)[0].decode()) for r in batch)
        offset = batch[-1].offset + 1


@pytest.mark.slow
def test_sigkilled_producers_lose_nothing_acknowledged_and_duplicate_nothing(
    kafka_server: Server, prefix: str
) -> None:
    rng = random.Random(20261203)
    acked: list[tuple[int, str]] = []
    for round_no in range(4):
        acked += _run_writer_and_kill(kafka_server.address, prefix, round_no, rng)
    with KafkaTransport(config(kafka_server.address, prefix)) as transport:
        stored = _all_records(transport)
    assert len(acked) > 200
    stored_ids = Counter(record_id for _, record_id in stored)
    assert max(stored_ids.values()) == 1  # the idempotent producer never wrote a record twice
    assert set(acked) <= set(stored)  # every acknowledged record, at the offset it was acknowledged at
    assert [o for o, _ in stored] == sorted(o for o, _ in stored)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_broker_killed_and_restarted_loses_nothing_acknowledged(own_kafka: Server) -> None:
    prefix = "k."
    transport = KafkaTransport(
        config(own_kafka.address, prefix, delivery_timeout_s=3.0, request_timeout_s=3.0)
    )
    acked: list[str] = []
    refused = 0
    stop = threading.Event()
    errors: list[BaseException] = []

    def produce() -> None:
        nonlocal refused
        seq = 0
        while not stop.is_set():
            ids = [f"r{seq + k}" for k in range(20)]
            seq += 20
            try:
                transport.append("events", [i.encode() + b"|x" for i in ids], now=NOW)
            except TransportUnavailableError:
                refused += 1  # the sender is told: nothing of this batch is acknowledged
                time.sleep(0.2)
                continue
            except BaseException as exc:  # anything else fails the test
                errors.append(exc)
                return
            acked.extend(ids)

    worker = threading.Thread(target=produce)
    worker.start()
    try:
        time.sleep(3)
        before_kill = len(acked)
        own_kafka.kill()
        time.sleep(8)
        during = len(acked)
        own_kafka.start()
        own_kafka.wait_ready()
        deadline = time.monotonic() + 120
        while len(acked) <= during + 100 and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stop.set()
        worker.join(60)
    assert not errors, errors
    assert before_kill > 0
    assert refused > 0  # while the broker was away, appends were refused, not acknowledged
    assert len(acked) > during + 100  # and after its restart they are acknowledged again
    stored = Counter(record_id for _, record_id in _all_records(transport))
    transport.close()
    assert not set(acked) - set(stored)
    acked_counts = Counter(acked)
    assert all(stored[i] == 1 for i in acked_counts)  # acknowledged ones exactly once


def test_asking_again_for_a_consumer_reuses_it_from_its_committed_offset(transport: KafkaTransport) -> None:
    transport.append("events", [b"a", b"b", b"c"], now=NOW)
    first = transport.consumer("indexer", "events")
    first.poll(2)
    first.commit(1)
    again = transport.consumer("indexer", "events")
    assert again is first  # one librdkafka client per consumer name, not one per pass
    assert (again.position, again.committed) == (1, 1)
    assert [r.payload for r in again.poll(10)] == [b"b", b"c"]
    first.close()
    assert transport.consumer("indexer", "events") is not first
