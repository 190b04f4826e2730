"""temporal, temporal_ordered, chained correlations and field aliases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

S = timedelta(seconds=1)
M = timedelta(minutes=1)
US = timedelta(microseconds=1)
T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)  # the drivers' time origin (conftest.T0)
Driver = Any  # conftest.Driver; importlib import mode cannot import conftest
MakeDriver = Callable[..., Driver]


def run(d: Driver, at: timedelta, proc: str, host: str = "ws1") -> list:
    return d.feed(at, process__name=proc, host__name=host)


def test_temporal_all_rules_in_any_order_within_timespan(make_driver: MakeDriver) -> None:
    d = make_driver("recon_sequence")
    out = run(d, 0 * M, "ipconfig.exe") + run(d, 1 * M, "whoami.exe")
    assert out == []
    out = run(d, 5 * M, "net.exe")  # exactly 5m after the first: inside
    assert [(m.rule_name, m.event_indexes, m.measure) for m in out] == [("recon_sequence", (0, 1, 2), 3)]
    assert out[0].group_dict() == {"host.name": "ws1"}


def test_temporal_just_outside_timespan_does_not_fire(make_driver: MakeDriver) -> None:
    d = make_driver("recon_sequence")
    out = run(d, 0 * M, "ipconfig.exe") + run(d, 1 * M, "whoami.exe") + run(d, 5 * M + US, "net.exe")
    assert out == []


def test_temporal_repeats_of_one_rule_do_not_count_as_different_rules(make_driver: MakeDriver) -> None:
    d = make_driver("recon_sequence")
    out = []
    for i in range(5):
        out += run(d, i * S, "whoami.exe")
    out += run(d, 10 * S, "net.exe")
    assert out == []
    out = run(d, 20 * S, "ipconfig.exe")
    assert [m.event_indexes for m in out] == [(0, 1, 2, 3, 4, 5, 6)]


def test_temporal_hosts_stay_separate(make_driver: MakeDriver) -> None:
    d = make_driver("recon_sequence")
    out = (
        run(d, 0 * S, "whoami.exe", "ws1")
        + run(d, 1 * S, "net.exe", "ws2")
        + run(d, 2 * S, "ipconfig.exe", "ws1")
    )
    assert out == []
    out = run(d, 3 * S, "net.exe", "ws1")
    assert [(m.group_dict(), m.event_indexes) for m in out] == [({"host.name": "ws1"}, (0, 2, 3))]


def login(d: Driver, at: timedelta, outcome: str = "success", user: str = "alice") -> list:
    return d.feed(at, event__action="login", event__outcome=outcome, user__name=user)


def export(d: Driver, at: timedelta, user: str = "alice") -> list:
    return d.feed(at, event__action="dataset.export", user__name=user)


def test_temporal_ordered_in_order_fires(make_driver: MakeDriver) -> None:
    d = make_driver("login_then_export")
    assert login(d, 0 * S) == []
    out = export(d, 2 * M)  # exactly the timespan
    assert [(m.rule_name, m.event_indexes) for m in out] == [("login_then_export", (0, 1))]


def test_temporal_ordered_reversed_order_does_not_fire(make_driver: MakeDriver) -> None:
    d = make_driver("login_then_export")
    out = export(d, 0 * S) + login(d, 30 * S)
    assert out == []
    assert d.engine.flush() == []


def test_temporal_ordered_just_outside_timespan_does_not_fire(make_driver: MakeDriver) -> None:
    d = make_driver("login_then_export")
    assert login(d, 0 * S) + export(d, 2 * M + US) == []


def test_temporal_ordered_finds_the_order_among_noise(make_driver: MakeDriver) -> None:
    d = make_driver("login_then_export")
    out = export(d, 0 * S) + login(d, 10 * S)
    assert out == []
    out = export(d, 20 * S)
    assert [m.event_indexes for m in out] == [(0, 1, 2)]


def test_temporal_ordered_out_of_order_arrival_uses_event_time(make_driver: MakeDriver) -> None:
    # The export arrives first but happened after the login: event time decides the order.
    d = make_driver("login_then_export", allowed_lateness=5 * M)
    assert export(d, 1 * M) == []
    out = login(d, 0 * M)
    assert [m.event_indexes for m in out] == [(0, 1)]
    assert (out[0].first_time, out[0].last_time) == (T0, T0 + 1 * M)


def test_temporal_ordered_equal_timestamps_keep_input_order(make_driver: MakeDriver) -> None:
    d = make_driver("login_then_export")
    assert export(d, 0 * S) + login(d, 0 * S) == []
    d2 = make_driver("login_then_export")
    assert [m.event_indexes for m in login(d2, 0 * S) + export(d2, 0 * S)] == [(0, 1)]


def test_chained_correlation_names_all_events_and_hides_the_inner_match(make_driver: MakeDriver) -> None:
    d = make_driver("failed_login_burst", "brute_force_then_success")
    out = []
    for i in range(5):
        out += login(d, i * 30 * S, "failure")
    assert out == []  # the inner burst fired, but brute_force_then_success suppresses it (generate: false)
    out = login(d, 6 * M)
    assert len(out) == 1
    m = out[0]
    assert (m.rule_name, m.level, m.correlation_type) == (
        "brute_force_then_success",
        "high",
        "temporal_ordered",
    )
    assert m.event_indexes == (0, 1, 2, 3, 4, 5)
    assert m.count == 6
    assert (m.first_time, m.last_time) == (T0, T0 + 6 * M)
    assert m.group_dict() == {"user.name": "alice"}


def test_chained_correlation_success_before_the_burst_does_not_fire(make_driver: MakeDriver) -> None:
    d = make_driver("failed_login_burst", "brute_force_then_success")
    out = login(d, 0 * S)
    for i in range(5):
        out += login(d, (i + 1) * 30 * S, "failure")
    assert out == []
    assert d.engine.flush() == []


def test_chained_correlation_other_user_success_does_not_fire(make_driver: MakeDriver) -> None:
    d = make_driver("failed_login_burst", "brute_force_then_success")
    out = []
    for i in range(5):
        out += login(d, i * S, "failure", "alice")
    out += login(d, 10 * S, "success", "bob")
    assert out == []


def test_aliases_group_by_different_fields_per_rule(make_driver: MakeDriver) -> None:
    d = make_driver("error_and_connection")
    out = d.feed(0 * S, http__response__status_code=500, destination__ip="10.0.0.5", source__ip="1.2.3.4")
    # Same pair of addresses, but in the other fields of the other event type.
    out += d.feed(10 * S, event__category="network", source__ip="10.0.0.5", destination__ip="1.2.3.4")
    assert [(m.group_dict(), m.event_indexes) for m in out] == [
        ({"internal_ip": "10.0.0.5", "remote_ip": "1.2.3.4"}, (0, 1))
    ]


def test_aliases_different_addresses_do_not_correlate(make_driver: MakeDriver) -> None:
    d = make_driver("error_and_connection")
    out = d.feed(0 * S, http__response__status_code=500, destination__ip="10.0.0.5", source__ip="1.2.3.4")
    # Same field names as the error event: with the aliases these are swapped, so no match.
    out += d.feed(1 * S, event__category="network", destination__ip="10.0.0.5", source__ip="1.2.3.4")
    assert out == []
