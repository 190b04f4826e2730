"""Lag of the slowest configured consumer, computed from a real spool's offsets."""

from __future__ import annotations

from datetime import timedelta

import pytest

from collectors.inputs.backpressure import BackPressureConfig, LagMonitor, transport_lag
from collectors.inputs.errors import InputConfigError
from datasoc.transport import EVENTS, Spool, TopicRange
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
