"""Source health: rates over the window, silence episodes and Prometheus exposition, at explicit times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from collectors.errors import CollectorError
from collectors.health import (
    SILENCE_RULE_ID,
    HealthMetrics,
    HealthTracker,
    SourceConfig,
)

T0 = datetime(2026, 3, 4, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def tracker() -> HealthTracker:
    return HealthTracker(
        {
            "syslog:db-01": SourceConfig("syslog:db-01", timedelta(minutes=5)),
            "http:portal": SourceConfig("http:portal", None),
        },
        window=timedelta(seconds=60),
    )


def test_events_per_second_counts_only_the_window() -> None:
    health = tracker()
    health.record("syslog:db-01", now=at(0), accepted=600, rejected=0, bytes_=60_000)
    health.record("syslog:db-01", now=at(30), accepted=1200, rejected=0, bytes_=120_000)
    (db,) = [h for h in health.snapshot(at(50)) if h.name == "syslog:db-01"]
    assert db.events_per_second == pytest.approx(1800 / 60)
    (db,) = [h for h in health.snapshot(at(70)) if h.name == "syslog:db-01"]
    assert db.events_per_second == pytest.approx(1200 / 60)  # the record at 0 s fell out
    assert db.accepted_total == 1800
    assert db.bytes_total == 180_000
    assert db.last_seen == at(30)


def test_error_rate_over_the_window() -> None:
    health = tracker()
    health.record("http:portal", now=at(0), accepted=90, rejected=10, bytes_=5000)
    health.record("http:portal", now=at(10), accepted=0, rejected=100, bytes_=5000)
    (portal,) = [h for h in health.snapshot(at(20)) if h.name == "http:portal"]
    assert portal.error_rate == pytest.approx(110 / 200)
    assert portal.rejected_total == 110
    (portal,) = [h for h in health.snapshot(at(200)) if h.name == "http:portal"]
    assert portal.error_rate == 0.0
    assert portal.events_per_second == 0.0
    assert not portal.silent  # no expected interval: never silent


def test_silence_raised_once_cleared_and_raised_again() -> None:
    health = tracker()
    health.record("syslog:db-01", now=at(0), accepted=5, rejected=0, bytes_=500)
    assert health.check_silence(at(299)) == []
    (alert,) = health.check_silence(at(301))
    assert alert.rule_id == SILENCE_RULE_ID
    assert alert.rule_level == "high"
    assert "mlps.8.1.4.3" in alert.rule_tags
    assert alert.warning_level == "orange"
    assert alert.event_ids == ("silence:syslog:db-01:2026-03-04T08:00:00.000000Z",)
    assert alert.first_seen == at(0)
    assert alert.last_seen == at(301)
    assert alert.group["source"] == "syslog:db-01"
    assert health.check_silence(at(400)) == []  # same episode: not again
    assert [h.silent for h in health.snapshot(at(400)) if h.name == "syslog:db-01"] == [True]
    health.record("syslog:db-01", now=at(500), accepted=1, rejected=0, bytes_=100)
    assert [h.silent for h in health.snapshot(at(510)) if h.name == "syslog:db-01"] == [False]
    assert health.check_silence(at(700)) == []
    (again,) = health.check_silence(at(801))
    assert again.event_ids == ("silence:syslog:db-01:2026-03-04T08:08:20.000000Z",)
    assert again.alert_id != alert.alert_id


def test_configured_source_never_heard_is_silent_from_tracking_start() -> None:
    health = tracker()
    assert health.check_silence(at(0)) == []
    (alert,) = health.check_silence(at(301))
    assert alert.group["source"] == "syslog:db-01"


def test_long_source_names_keep_alert_ids_short() -> None:
    name = "file:" + "很长的路径/" * 60
    health = HealthTracker({name: SourceConfig(name, timedelta(seconds=1))})
    health.record(name, now=at(0), accepted=1, rejected=0, bytes_=1)
    (alert,) = health.check_silence(at(2))
    assert len(alert.alert_id) <= 128


def test_bad_arguments_are_collector_errors() -> None:
    health = tracker()
    with pytest.raises(CollectorError, match="negative"):
        health.record("x", now=at(0), accepted=-1, rejected=0, bytes_=0)
    health.record("x", now=at(10), accepted=1, rejected=0, bytes_=0)
    with pytest.raises(CollectorError, match="backwards"):
        health.record("x", now=at(5), accepted=1, rejected=0, bytes_=0)
    with pytest.raises(CollectorError, match="positive"):
        SourceConfig("y", timedelta(0))
    with pytest.raises(CollectorError, match="different source"):
        HealthTracker({"a": SourceConfig("b")})


def test_prometheus_exposition() -> None:
    health = tracker()
    health.record("syslog:db-01", now=at(0), accepted=120, rejected=3, bytes_=4096)
    health.snapshot(at(10))
    registry = CollectorRegistry()
    registry.register(HealthMetrics(health))
    text = generate_latest(registry).decode()
    assert 'datasoc_source_events_accepted_total{source="syslog:db-01"} 120.0' in text
    assert 'datasoc_source_events_rejected_total{source="syslog:db-01"} 3.0' in text
    assert 'datasoc_source_bytes_received_total{source="syslog:db-01"} 4096.0' in text
    assert 'datasoc_source_last_seen_seconds{source="syslog:db-01"} 1.7726112e+09' in text
    assert 'datasoc_source_events_per_second{source="syslog:db-01"} 2.0' in text
    assert 'datasoc_source_events_accepted_total{source="http:portal"} 0.0' in text
