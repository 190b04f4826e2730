"""The transport seam (`Transport`, `Consumer`, `Record`), its embedded implementation (the spool)
and the scale-out one (Kafka, `datasoc.transport.kafka`)."""

from __future__ import annotations

from datasoc.transport.base import (
    ALERTS,
    DEADLETTER,
    DEFAULT_TOPICS,
    EVENTS,
    Consumer,
    Record,
    TopicRange,
    Transport,
    validate_name,
)
from datasoc.transport.errors import (
    CorruptRecordError,
    OffsetOutOfRangeError,
    RecordTooLargeError,
    SpoolLockedError,
    TopicNameError,
    TransportClosedError,
    TransportError,
    UnknownTopicError,
)
from datasoc.transport.kafka import KafkaConfig, KafkaConsumer, KafkaTransport, TransportUnavailableError
from datasoc.transport.retention import RetentionPolicy, RetentionReport, TopicRetention
from datasoc.transport.segment_files import TailRepair
from datasoc.transport.spool import Spool, SpoolConfig, SpoolConsumer
from datasoc.transport.topic_log import TopicStats

__all__ = [
    "ALERTS",
    "DEADLETTER",
    "DEFAULT_TOPICS",
    "EVENTS",
    "Consumer",
    "CorruptRecordError",
    "KafkaConfig",
    "KafkaConsumer",
    "KafkaTransport",
    "OffsetOutOfRangeError",
    "Record",
    "RecordTooLargeError",
    "RetentionPolicy",
    "RetentionReport",
    "Spool",
    "SpoolConfig",
    "SpoolConsumer",
    "SpoolLockedError",
    "TailRepair",
    "TopicNameError",
    "TopicRange",
    "TopicRetention",
    "TopicStats",
    "Transport",
    "TransportClosedError",
    "TransportError",
    "TransportUnavailableError",
    "UnknownTopicError",
    "validate_name",
]
