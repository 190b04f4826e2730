"""Lag of the slowest configured consumer, computed from a real spool's offsets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from collectors.inputs.backpressure import UNKNOWN_RETRY, BackPressureConfig, LagMonitor, transport_lag
from collectors.inputs.errors import InputConfigError
from datasoc.transport import EVENTS, Spool, TopicRange, TransportUnavailableError
from tests.collectors.inputs.conftest import NOW


def test_transport_lag_is_measured_from_the_slowest_consumer() -> None:
    topic = TopicRange(start=10, end=100)
    assert transport_lag(topic, {"indexer": 90, "detector": 40}, ["indexer", "detector"]) == 60
    assert transport_lag(topic, {"indexer": 90}, ["indexer", "detector"]) == 90  # never committed
    assert transport_lag(topic, {"indexer": 3}, ["indexer"]) == 90  # behind retention counts from start
    assert transport_lag(topic, {}, []) == 0


def test_monitor_follows_commits_and_caches_for_the_refresh_interval(spool: Spool) -> None:
    spool.append(EVENTS, [b"x"] * 5, now=NOW)
    monitor = LagMonitor(spool, BackPressureConfig(limit=3, refresh=timedelta(seconds=1)))
    assert monitor.lag(NOW) == 5
    assert monitor.overloaded(NOW)
    spool.consumer("indexer", EVENTS).commit(4)
    assert monitor.lag(NOW + timedelta(milliseconds=500)) == 5  # cached
    assert monitor.lag(NOW + timedelta(seconds=1)) == 1
    assert not monitor.overloaded(NOW + timedelta(seconds=1))


def test_config_is_validated() -> None:
    with pytest.raises(InputConfigError):
        BackPressureConfig(limit=-1)


@dataclass
class Unanswering:
    """A lag source whose transport stops answering (the real case, Kafka's broker stopped under
    HTTP ingest, is `tests/soc_api/test_platform_kafka_faults.py`); this pins the timing policy."""

    spool: Spool
    down: bool = False
    asked: int = 0

    def range(self, topic: str) -> TopicRange:
        return self.spool.range(topic)

    def consumer_offsets(self, topic: str) -> dict[str, int]:
        self.asked += 1
        if self.down:
            raise TransportUnavailableError("kafka 127.0.0.1:9: consumer offsets of events: timed out")
        return self.spool.consumer_offsets(topic)


def test_a_transport_that_cannot_tell_keeps_the_last_lag_and_is_asked_again_later(spool: Spool) -> None:
    spool.append(EVENTS, [b"x"] * 5, now=NOW)
    source = Unanswering(spool)
    monitor = LagMonitor(source, BackPressureConfig(limit=3, refresh=timedelta(milliseconds=200)))
    assert monitor.lag(NOW) == 5
    source.down = True
    later = NOW + timedelta(seconds=1)
    assert monitor.lag(later) == 5  # the last known lag, not a crash of the input
    assert (monitor.unknown, source.asked) == (1, 2)
    assert monitor.lag(later + UNKNOWN_RETRY - timedelta(milliseconds=1)) == 5
    assert source.asked == 2  # not asked again before UNKNOWN_RETRY: the event loop is not stalled
    source.down = False
    spool.consumer("indexer", EVENTS).commit(5)
    assert monitor.lag(later + UNKNOWN_RETRY) == 0
    assert (monitor.unknown, source.asked) == (1, 3)
