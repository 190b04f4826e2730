"""The transport seam (`Transport`, `Consumer`, `Record`) and its embedded implementation, the spool."""

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
    "UnknownTopicError",
    "validate_name",
]
