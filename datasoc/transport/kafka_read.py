"""The reading side of the Kafka transport (`datasoc.transport.kafka`): a partition's watermarks, the
positioned reader that `KafkaTransport.read` and every consumer share, and `KafkaConsumer` (one
consumer group of one topic, its committed offset kept by Kafka). Reads are `read_committed`."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from datasoc.transport.base import Consumer, Record
from datasoc.transport.errors import OffsetOutOfRangeError, TransportUnavailableError

if TYPE_CHECKING:
    from datasoc.transport.kafka import KafkaTransport

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: A read that has records returns after this long, even if more are coming.
_READ_BUDGET_S: Final = 0.1


def quiet_logger() -> logging.Logger:
    """The logger librdkafka's clients write to (warnings and above)."""
    # librdkafka's own log lines (connection refused while a broker restarts...) go to Python
    # logging at debug level, not to stderr; errors reach callers as exceptions.
    logger = logging.getLogger("datasoc.transport.kafka.librdkafka")
    logger.setLevel(logging.WARNING)
    return logger


def _when(message: Any) -> datetime:
    _, ms = message.timestamp()
    return EPOCH + timedelta(milliseconds=ms if ms and ms > 0 else 0)


_TRANSIENT: Final = (
    "NOT_LEADER",
    "LEADER_NOT_AVAILABLE",
    "UNKNOWN_TOPIC_OR_PART",
    "_TRANSPORT",
    "_TIMED_OUT",
)


def watermarks(client: Any, transport: KafkaTransport, topic: str) -> tuple[int, int]:
    """`(low, high)` of `topic`, retrying what a leader election or a restart makes transient."""
    from confluent_kafka import KafkaException, TopicPartition

    name = transport.kafka_topic(topic)
    timeout = transport.config.request_timeout_s
    deadline = time.monotonic() + timeout
    while True:
        try:
            low, high = client.get_watermark_offsets(TopicPartition(name, 0), timeout=timeout, cached=False)
            return int(low), int(high)
        except KafkaException as exc:
            if not any(word in str(exc) for word in _TRANSIENT) or time.monotonic() > deadline:
                raise TransportUnavailableError(f"kafka: offsets of {topic}: {exc}") from None
            time.sleep(0.1)


def _retriable(exc: Exception) -> bool:
    """Whether librdkafka says the failed request may succeed when retried (a coordinator moving)."""
    error = exc.args[0] if exc.args else None
    return bool(getattr(error, "retriable", lambda: False)()) or "COORDINATOR" in str(exc)


class Reader:
    """One librdkafka consumer reading one partition at a time; it keeps fetching where the last
    read stopped (re-assigning would drop what it prefetched), and checks the watermarks only when
    it (re)starts somewhere else or finds nothing new."""

    def __init__(self, client: Any, transport: KafkaTransport) -> None:
        self.client = client
        self._transport = transport
        self._at: tuple[str, int] | None = None

    def fetch(self, topic: str, start: int, limit: int, *, consumer: str) -> list[Record]:
        """Records `[start, ...)` of `topic`, up to `limit`; [] at the end of the topic."""
        from confluent_kafka import KafkaError, TopicPartition

        name = self._transport.kafka_topic(topic)
        if limit <= 0:
            return []
        if self._at != (name, start):
            low, high = watermarks(self.client, self._transport, topic)
            if start < low or start > high:
                raise OffsetOutOfRangeError(topic, start, low, high, consumer=consumer)
            if start == high:
                return []
            self.client.assign([TopicPartition(name, 0, start)])
            self._at = (name, start)
        records: list[Record] = []
        deadline = time.monotonic() + self._transport.config.request_timeout_s
        at_end = False
        # A read that has records returns within `_READ_BUDGET_S` even while more keep arriving
        # (a steady producer seldom lets it reach the end): its caller holds locks meanwhile.
        budget = time.monotonic() + _READ_BUDGET_S
        while len(records) < limit and not at_end and time.monotonic() < deadline:
            if records and time.monotonic() > budget:
                break
            batch = self.client.consume(num_messages=limit - len(records), timeout=0.1)
            if not batch:
                if records:
                    break
                low, high = watermarks(self.client, self._transport, topic)
                if start >= high:
                    break
                continue
            for message in batch:
                error = message.error()
                if error is None:
                    records.append(Record(topic, message.offset(), _when(message), message.value() or b""))
                elif error.code() == KafkaError._PARTITION_EOF:
                    at_end = True
                elif error.code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
                    self._at = None
                    low, high = watermarks(self.client, self._transport, topic)
                    raise OffsetOutOfRangeError(topic, start, low, high, consumer=consumer)
                else:
                    self._at = None
                    raise TransportUnavailableError(f"kafka: reading {topic}: {error}")
        if records:
            self._at = (name, records[-1].offset + 1)
        return records

    def forget(self) -> None:
        """The next fetch starts with a fresh assignment."""
        self._at = None


class KafkaConsumer(Consumer):
    """One consumer group of one topic, its committed offset kept by Kafka."""

    def __init__(self, transport: KafkaTransport, name: str, topic: str) -> None:
        from confluent_kafka import Consumer as RdConsumer
        from confluent_kafka import KafkaException, TopicPartition

        self._transport = transport
        self._name = name
        self._topic = topic
        self._kafka_topic = transport.kafka_topic(topic)
        self._client = RdConsumer(transport._consumer_settings(name), logger=quiet_logger())
        timeout = transport.config.request_timeout_s
        deadline = time.monotonic() + timeout
        while True:
            try:
                [found] = self._client.committed([TopicPartition(self._kafka_topic, 0)], timeout=timeout)
                break
            except KafkaException as exc:
                # A broker just started answers NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS
                # for a while (measured: `datasoc run` refused to start on a fresh broker).
                if not _retriable(exc) or time.monotonic() > deadline:
                    self._client.close()
                    raise TransportUnavailableError(f"kafka: committed offset of {name}: {exc}") from None
                time.sleep(0.2)
        self._reader = Reader(self._client, transport)
        self._committed = found.offset if found.offset >= 0 else transport.range(topic).start
        self._position = self._committed
        self._closed = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def topic(self) -> str:
        return self._topic

    @property
    def position(self) -> int:
        return self._position

    @property
    def committed(self) -> int:
        return self._committed

    def poll(self, max_records: int) -> list[Record]:
        """Up to `max_records` records from `position`, advancing it past the last one."""
        records = self._reader.fetch(self._topic, self._position, max_records, consumer=self._name)
        if records:
            self._position = records[-1].offset + 1
        return records

    def commit(self, offset: int | None = None) -> None:
        """Commit `offset` (default: `position`) to the group, synchronously."""
        from confluent_kafka import KafkaException, TopicPartition

        target = self._position if offset is None else offset
        span = self._transport.range(self._topic)
        if not span.start <= target <= span.end:
            raise OffsetOutOfRangeError(self._topic, target, span.start, span.end, consumer=self._name)
        try:
            self._client.commit(offsets=[TopicPartition(self._kafka_topic, 0, target)], asynchronous=False)
        except KafkaException as exc:
            raise TransportUnavailableError(f"kafka: commit of {self._name}: {exc}") from None
        self._committed = target

    def seek(self, offset: int) -> None:
        """Move `position` within the retained range; the committed offset is unchanged."""
        span = self._transport.range(self._topic)
        if not span.start <= offset <= span.end:
            raise OffsetOutOfRangeError(self._topic, offset, span.start, span.end, consumer=self._name)
        self._position = offset

    def reset_to_start(self) -> int:
        """Jump to the retained start if the position fell behind it; return records skipped."""
        start = self._transport.range(self._topic).start
        skipped = max(0, start - self._position)
        self._position = max(self._position, start)
        return skipped

    @property
    def closed(self) -> bool:
        """True once `close` ran."""
        return self._closed

    def seek_committed(self) -> None:
        """Back to the committed offset (what a freshly opened consumer would start from)."""
        self._position = self._committed

    def close(self) -> None:
        """Leave (the committed offset stays with the group); idempotent."""
        if not self._closed:
            self._closed = True
            self._client.close()
