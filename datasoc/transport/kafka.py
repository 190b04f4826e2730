"""`Transport` on Kafka (confluent-kafka / librdkafka): the scale-out replacement of the spool.

This module is the writing and administrative side (topics, the idempotent producer, group offsets);
the reading side (watermarks, the positioned reader, `KafkaConsumer`) is `datasoc.transport.kafka_read`.

Each datasoc topic is one Kafka topic `<prefix><name>` with one partition, so a topic's offsets
are a single ordered sequence, as the `Transport` contract has them (a partitioned events topic
would need partition-aware offsets in the contract; not yet). The transport creates missing
topics at open, with `min.insync.replicas` = min(2, replication) and, on a single broker,
`flush.messages=1` (the broker fsyncs every append, as the spool does; with replicas, the
replication is the durability).

- `append` produces with an idempotent producer (`enable.idempotence`, `acks=all`: broker retries
  never duplicate or reorder) and returns the offsets only after the broker acknowledged every
  record of the batch. A batch the broker did not acknowledge within `delivery_timeout_s` raises
  `TransportUnavailableError`: the caller acknowledges nothing (collectors answer with
  back-pressure). Some of such a batch may still have been stored: the records are at-least-once
  from the sender's view, and `event.id` makes a resent event harmless downstream.
- Consumers are consumer groups: `consumer(name, topic)` keeps its committed offset in Kafka under
  the group `<group_prefix><name>` (committed synchronously; Kafka's convention is the next offset
  to read, as the spool's). The partition is assigned, not subscribed: one process per consumer
  name, as with the spool. Reads are `read_committed`, so aborted transactions (Flink's
  exactly-once sink) are never seen; offsets then skip the transaction markers.
- `auto.offset.reset=error`: a consumer behind retention gets `OffsetOutOfRangeError` and must
  `reset_to_start()`, which counts what it skipped (never a silent jump).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from pydantic import SecretStr

from datasoc.transport.base import DEFAULT_TOPICS, Record, TopicRange, Transport, validate_name
from datasoc.transport.errors import (
    RecordTooLargeError,
    TransportClosedError,
    TransportError,
    TransportUnavailableError,
    UnknownTopicError,
)
from datasoc.transport.kafka_read import EPOCH, KafkaConsumer, Reader, quiet_logger, watermarks

__all__ = ["KafkaConfig", "KafkaConsumer", "KafkaTransport", "TransportUnavailableError"]

#: Bound of each round trip of `consumer_offsets` (the collectors' lag check runs on their loop).
_OFFSETS_TIMEOUT_S: Final = 2.0
#: How long the groups' offsets the brokers gave are used before asking again.
_OFFSETS_REFRESH_S: Final = 2.0


@dataclass(frozen=True, slots=True)
class KafkaConfig:
    """Where the brokers are, how topics are named and made, and how long to wait."""

    bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = "datasoc."
    group_prefix: str = "datasoc."
    replication: int = 1
    retention_hours: int = 7 * 24
    max_record_bytes: int = 1024 * 1024
    delivery_timeout_s: float = 15.0
    request_timeout_s: float = 10.0
    #: SASL/TLS (`security.protocol` etc.); empty for PLAINTEXT on a private network.
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    ca_file: str | None = None
    topics: tuple[str, ...] = field(default=DEFAULT_TOPICS)

    def client(self) -> dict[str, Any]:
        """librdkafka settings every client of this transport shares (secrets only in here)."""
        settings: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": self.security_protocol,
            "socket.timeout.ms": int(self.request_timeout_s * 1000),
        }
        if self.sasl_mechanism:
            settings["sasl.mechanism"] = self.sasl_mechanism
        if self.username is not None:
            settings["sasl.username"] = self.username
            settings["sasl.password"] = self.password.get_secret_value() if self.password else ""
        if self.ca_file:
            settings["ssl.ca.location"] = self.ca_file
        return settings


class KafkaTransport(Transport):
    """Topics on Kafka (see module docstring)."""

    def __init__(self, config: KafkaConfig | None = None) -> None:
        from confluent_kafka import Consumer as RdConsumer
        from confluent_kafka import Producer

        self.config = config or KafkaConfig()
        self._topics = tuple(validate_name(t) for t in self.config.topics)
        self._lock = threading.Lock()
        self._closed = False
        self._ensure_topics()
        self._producer = Producer(
            {
                **self.config.client(),
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "compression.type": "lz4",
                "message.max.bytes": self.config.max_record_bytes + 64 * 1024,
                "delivery.timeout.ms": int(self.config.delivery_timeout_s * 1000),
                "queue.buffering.max.messages": 200_000,
            },
            logger=quiet_logger(),
        )
        self._reader = Reader(RdConsumer(self._consumer_settings("reader"), logger=quiet_logger()), self)
        self._admin = self._make_admin()
        self._meta = RdConsumer(self._consumer_settings("reader"), logger=quiet_logger())
        self._meta_lock = threading.Lock()
        # One librdkafka consumer per (name, topic), reused: the indexer asks for its consumer on
        # every pass, and each new one would hold threads and connections until close.
        self._consumers: dict[tuple[str, str], KafkaConsumer] = {}
        self._offsets: dict[str, tuple[float, dict[str, int]]] = {}

    # -- plumbing -----------------------------------------------------------------------------

    def kafka_topic(self, topic: str) -> str:
        """The Kafka topic behind datasoc topic `topic`."""
        if topic not in self._topics:
            raise UnknownTopicError(topic, self._topics)
        return f"{self.config.topic_prefix}{topic}"

    def _consumer_settings(self, group: str) -> dict[str, Any]:
        return {
            **self.config.client(),
            "group.id": f"{self.config.group_prefix}{group}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "error",
            "isolation.level": "read_committed",
            "enable.partition.eof": True,
        }

    def _make_admin(self) -> Any:
        from confluent_kafka.admin import AdminClient

        return AdminClient(self.config.client(), logger=quiet_logger())

    def _ensure_topics(self) -> None:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]

        admin = self._make_admin()
        try:
            existing = admin.list_topics(timeout=self.config.request_timeout_s).topics
        except KafkaException as exc:
            raise TransportUnavailableError(
                f"kafka {self.config.bootstrap}: cannot list topics: {exc}"
            ) from None
        rf = self.config.replication
        settings = {
            "min.insync.replicas": str(min(2, rf)),
            "retention.ms": str(self.config.retention_hours * 3600 * 1000),
            "max.message.bytes": str(self.config.max_record_bytes + 64 * 1024),
            "message.timestamp.type": "CreateTime",
        }
        if rf == 1:
            settings["flush.messages"] = "1"  # one broker: fsync each append, as the spool does
        wanted = [
            NewTopic(
                f"{self.config.topic_prefix}{t}", num_partitions=1, replication_factor=rf, config=settings
            )
            for t in self._topics
            if f"{self.config.topic_prefix}{t}" not in existing
        ]
        for name, future in (admin.create_topics(wanted) if wanted else {}).items():
            try:
                future.result(self.config.request_timeout_s)
            except KafkaException as exc:
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise TransportError(f"kafka: cannot create topic {name}: {exc}") from None
        for t in self._topics:
            name = f"{self.config.topic_prefix}{t}"
            known = existing.get(name)
            if known is not None and len(known.partitions) != 1:
                raise TransportError(
                    f"kafka topic {name} has {len(known.partitions)} partitions; datasoc topics have one"
                )
        if wanted:
            self._await_leaders(admin, [topic.topic for topic in wanted])

    def _await_leaders(self, admin: Any, names: list[str]) -> None:
        """A new topic answers "not leader" until its partition has one: wait for it (bounded)."""
        deadline = time.monotonic() + self.config.request_timeout_s * 3
        while time.monotonic() < deadline:
            topics = admin.list_topics(timeout=self.config.request_timeout_s).topics
            ready = [n for n in names if n in topics and topics[n].partitions.get(0) is not None]
            if len(ready) == len(names) and all(topics[n].partitions[0].leader >= 0 for n in ready):
                return
            time.sleep(0.1)
        raise TransportUnavailableError(f"kafka: no leader for {names} after creating them")

    def _check_open(self) -> None:
        if self._closed:
            raise TransportClosedError("kafka transport is closed")

    # -- Transport ----------------------------------------------------------------------------

    @property
    def topics(self) -> tuple[str, ...]:
        return self._topics

    def append(self, topic: str, payloads: Sequence[bytes], *, now: datetime) -> list[int]:
        """Produce a batch; return its offsets once the broker acknowledged all of it."""
        self._check_open()
        name = self.kafka_topic(topic)
        for index, payload in enumerate(payloads):
            if len(payload) > self.config.max_record_bytes:
                raise RecordTooLargeError(topic, index, len(payload), self.config.max_record_bytes)
        if not payloads:
            return []
        stamp = int((now - EPOCH).total_seconds() * 1000)
        offsets: list[int | None] = [None] * len(payloads)
        errors: list[str] = []
        done = [0]

        def delivered(error: Any, message: Any, *, position: int) -> None:
            if error is not None:
                errors.append(str(error))
            else:
                offsets[position] = message.offset()
            done[0] += 1

        deadline = time.monotonic() + self.config.delivery_timeout_s
        for position, payload in enumerate(payloads):
            while True:
                try:
                    self._producer.produce(
                        name,
                        value=payload,
                        partition=0,
                        timestamp=stamp,
                        on_delivery=functools.partial(delivered, position=position),
                    )
                    break
                except BufferError:  # the local queue is full: the broker is slow or away
                    if time.monotonic() > deadline:
                        raise TransportUnavailableError(
                            f"kafka {self.config.bootstrap}: producer queue full; {topic} not appended"
                        ) from None
                    self._producer.poll(0.05)
        while done[0] < len(payloads):
            self._producer.poll(0.05)
            if time.monotonic() > deadline + 5:  # librdkafka times out each record itself first
                break
        if errors or any(offset is None for offset in offsets):
            first = errors[0] if errors else "no acknowledgement in time"
            raise TransportUnavailableError(
                f"kafka {self.config.bootstrap}: {topic}: {len(errors) or 'some'} of {len(payloads)} records "
                f"not acknowledged ({first}); nothing of this batch is acknowledged"
            )
        return [offset for offset in offsets if offset is not None]

    def read(self, topic: str, from_offset: int, max_records: int) -> list[Record]:
        """Up to `max_records` acknowledged records from `from_offset`, in order."""
        self._check_open()
        with self._lock:
            return self._reader.fetch(topic, from_offset, max_records, consumer="")

    def range(self, topic: str) -> TopicRange:
        """Retained offsets (low and high watermarks) of `topic`."""
        self._check_open()
        # Not the reader's client: a read holds its lock while it fetches, and the collectors ask
        # for the range from their event loop (measured: HTTP acknowledgements waited ~1 s).
        with self._meta_lock:
            low, high = watermarks(self._meta, self, topic)
        return TopicRange(start=low, end=high)

    def consumer_offsets(self, topic: str) -> dict[str, int]:
        """Committed offsets of the datasoc consumer groups (`<group_prefix><name>`) on `topic`.

        The collectors' back-pressure asks several times a second from their event loop: the
        brokers are asked at most every `_OFFSETS_REFRESH_S` (two round trips, bounded by
        `_OFFSETS_TIMEOUT_S` each; measured: asking on every check held HTTP acknowledgements for
        about a second), and the consumers of this process add what they committed since (fresher,
        and no round trip). `TransportUnavailableError` when the brokers do not answer."""
        self._check_open()
        self.kafka_topic(topic)
        cached = self._offsets.get(topic)
        if cached is None or time.monotonic() - cached[0] >= _OFFSETS_REFRESH_S:
            cached = (time.monotonic(), self._group_offsets(topic))
            self._offsets[topic] = cached
        local = {n: c.committed for (n, t), c in list(self._consumers.items()) if t == topic and not c.closed}
        return {**cached[1], **local}

    def _group_offsets(self, topic: str) -> dict[str, int]:
        from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException, TopicPartition

        name = self.kafka_topic(topic)
        prefix = self.config.group_prefix
        timeout = min(self.config.request_timeout_s, _OFFSETS_TIMEOUT_S)
        try:
            listed = self._admin.list_consumer_groups(request_timeout=timeout).result(timeout)
            groups = sorted(g.group_id for g in listed.valid if g.group_id.startswith(prefix))
            offsets: dict[str, int] = {}
            for group in groups:
                consumer = group[len(prefix) :]
                if consumer == "reader":  # the transport's own offset-less reader
                    continue
                request = [ConsumerGroupTopicPartitions(group, [TopicPartition(name, 0)])]
                futures = self._admin.list_consumer_group_offsets(request, request_timeout=timeout)
                for found in futures[group].result(timeout).topic_partitions:
                    if found.topic == name and found.offset >= 0:
                        offsets[consumer] = int(found.offset)
        except (KafkaException, TimeoutError) as exc:
            raise TransportUnavailableError(f"kafka: consumer offsets of {topic}: {exc}") from None
        return offsets

    def consumer(self, name: str, topic: str) -> KafkaConsumer:
        """A consumer group member at its committed offset (the retained start for a new group)."""
        self._check_open()
        validate_name(name, kind="consumer")
        self.kafka_topic(topic)
        known = self._consumers.get((name, topic))
        if known is not None and not known.closed:
            known.seek_committed()
            return known
        consumer = KafkaConsumer(self, name, topic)
        self._consumers[(name, topic)] = consumer
        return consumer

    def close(self) -> None:
        """Deliver what is queued (bounded wait), close every client; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._producer.flush(self.config.delivery_timeout_s)
        for consumer in self._consumers.values():
            consumer.close()
        self._reader.client.close()
        self._meta.close()
