"""event_count and value_count: window boundaries, sliding windows, groups, emission, late events."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from detection.correlation import CorrelationInputError

S = timedelta(seconds=1)
M = timedelta(minutes=1)
US = timedelta(microseconds=1)

T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)  # the drivers' time origin (conftest.T0)
Driver = Any  # conftest.Driver; importlib import mode cannot import conftest
MakeDriver = Callable[..., Driver]


def fail(d: Driver, at: timedelta, user: str = "alice") -> list:
    return d.feed(at, event__action="login", event__outcome="failure", user__name=user)


def test_burst_exactly_timespan_wide_fires_with_every_event(make_driver: MakeDriver) -> None:
    d = make_driver("failed_login_burst")
    out = []
    for at in (0 * M, 1 * M, 2 * M, 3 * M):
        out += fail(d, at)
    assert out == []
    # Fifth failure exactly 5m after the first: inside (the span is inclusive).
    out = fail(d, 5 * M)
    assert len(out) == 1
    match = out[0]
    assert match.rule_name == "failed_login_burst"
    assert match.rule_id == "2a9d7c44-1d6e-4f0b-8f3e-5b1c0e7d9a01"
    assert match.level == "medium"
    assert match.tags == ("attack.credential-access", "attack.t1110")
    assert match.correlation_type == "event_count"
    assert match.event_indexes == (0, 1, 2, 3, 4)
    assert match.count == 5
    assert match.measure == 5
    assert match.group_dict() == {"user.name": "alice"}
    assert (match.first_time, match.last_time) == (T0, T0 + 5 * M)


def test_burst_one_microsecond_wider_than_timespan_does_not_fire(make_driver: MakeDriver) -> None:
    d = make_driver("failed_login_burst")
    out = []
    for at in (0 * M, 1 * M, 2 * M, 3 * M, 5 * M + US):
        out += fail(d, at)
    assert out == []
    # The first event left the window; the next failure completes 1m..5m+ (five events, 4m wide).
    out = fail(d, 5 * M + 2 * US)
    assert [m.event_indexes for m in out] == [(1, 2, 3, 4, 5)]


def test_burst_across_a_fixed_window_boundary_is_found(make_driver: MakeDriver) -> None:
    # 10:03:59 .. 10:06:01 straddles the fixed 5-minute boundary at 10:05.
    d = make_driver("failed_login_burst")
    out = []
    for at in (3 * M + 59 * S, 4 * M + 30 * S, 4 * M + 59 * S, 5 * M + 1 * S, 6 * M + 1 * S):
        out += fail(d, at)
    assert [m.event_indexes for m in out] == [(0, 1, 2, 3, 4)]


def test_groups_stay_separate(make_driver: MakeDriver) -> None:
    d = make_driver("failed_login_burst")
    out = []
    for i, user in enumerate(["alice", "bob", "alice", "bob", "alice", "carol", "bob"]):
        out += fail(d, i * S, user)
    assert out == []  # three alice, three bob, one carol: nobody has five
    out += fail(d, 10 * S, "alice")
    out += fail(d, 11 * S, "alice")
    assert len(out) == 1
    assert out[0].group_dict() == {"user.name": "alice"}
    assert out[0].event_indexes == (0, 2, 4, 7, 8)


def test_missing_group_by_field_groups_under_none(make_driver: MakeDriver) -> None:
    d = make_driver("failed_login_burst")
    out = []
    for i in range(5):
        out += d.feed(i * S, event__action="login", event__outcome="failure")
    assert [m.group_dict() for m in out] == [{"user.name": None}]


def test_repeated_burst_alerts_once_per_new_set_of_events(make_driver: MakeDriver) -> None:
    d = make_driver("failed_login_burst")
    out = []
    for i in range(12):
        out += fail(d, i * S)
    assert [m.event_indexes for m in out] == [(0, 1, 2, 3, 4), (5, 6, 7, 8, 9)]
    # No event is ever named by two matches.
    named = [i for m in out for i in m.event_indexes]
    assert len(named) == len(set(named))


def test_late_event_is_counted_and_dropped(make_driver: MakeDriver) -> None:
    d = make_driver("failed_login_burst")
    for i in range(4):
        fail(d, 10 * M + i * S)
    # Without allowed lateness, an event older than the newest one is late.
    assert fail(d, 9 * M) == []
    stats = d.engine.stats()
    assert stats.late_events == 1
    assert stats.late_by_rule == (("2a9d7c44-1d6e-4f0b-8f3e-5b1c0e7d9a01", 1),)
    # The late event did not count: one more in-time failure is needed.
    assert [m.event_indexes for m in fail(d, 10 * M + 10 * S)] == [(0, 1, 2, 3, 5)]


def test_out_of_order_event_within_allowed_lateness_completes_a_window(make_driver: MakeDriver) -> None:
    d = make_driver("failed_login_burst", allowed_lateness=2 * M)
    out = []
    for at in (10 * M, 10 * M + 10 * S, 10 * M + 20 * S, 11 * M + 30 * S):
        out += fail(d, at)
    assert out == []
    out = fail(d, 9 * M + 45 * S)  # 105 s older than the newest: within 2 minutes of lateness
    assert [m.event_indexes for m in out] == [(0, 1, 2, 3, 4)]
    assert out[0].first_time == T0 + 9 * M + 45 * S
    assert d.engine.stats().late_events == 0


def test_event_exactly_at_the_horizon_is_accepted_one_before_is_late(make_driver: MakeDriver) -> None:
    d = make_driver("failed_login_burst", allowed_lateness=1 * M)
    fail(d, 10 * M)
    fail(d, 9 * M)  # exactly newest - lateness
    assert d.engine.stats().late_events == 0
    fail(d, 9 * M - US)
    assert d.engine.stats().late_events == 1


def test_watermark_makes_older_events_late(make_driver: MakeDriver) -> None:
    d = make_driver("failed_login_burst", allowed_lateness=1 * M)
    assert d.engine.advance(T0 + 30 * M) == []
    fail(d, 29 * M)
    assert d.engine.stats().late_events == 1
    assert d.engine.horizon() == T0 + 30 * M
    # A watermark never moves back.
    d.engine.advance(T0)
    assert d.engine.horizon() == T0 + 30 * M


def test_state_stays_bounded_over_a_long_stream(make_driver: MakeDriver) -> None:
    d = make_driver("failed_login_burst")
    for i in range(600):  # two failures per user per 5m: never fires, 100 minutes of stream
        fail(d, i * 10 * S, f"user{i % 30}")
    stats = d.engine.stats()
    # Only the last 5 minutes (31 events, at most 30 groups) can still be buffered.
    assert stats.buffered <= 31
    assert stats.open_groups <= 30


def test_value_count_counts_distinct_values(make_driver: MakeDriver) -> None:
    d = make_driver("many_datasets")
    out = []
    for i, asset in enumerate(["ds1", "ds1", "ds2", "ds1", "ds2"]):
        out += d.feed(i * M, event__action="dataset.read", user__name="bob", data__asset__id=asset)
    assert out == []  # five reads, two distinct datasets
    out = d.feed(6 * M, event__action="dataset.read", user__name="bob")  # no asset id: no value
    assert out == []
    out = d.feed(7 * M, event__action="dataset.read", user__name="bob", data__asset__id="ds3")
    assert len(out) == 1
    assert out[0].measure == 3
    assert out[0].event_indexes == (0, 1, 2, 3, 4, 6)
    assert out[0].count == 6


def test_value_count_outside_timespan_does_not_fire(make_driver: MakeDriver) -> None:
    d = make_driver("many_datasets")
    out = d.feed(0 * M, event__action="dataset.read", user__name="bob", data__asset__id="ds1")
    out += d.feed(5 * M, event__action="dataset.read", user__name="bob", data__asset__id="ds2")
    out += d.feed(10 * M + US, event__action="dataset.read", user__name="bob", data__asset__id="ds3")
    assert out == []


def test_value_count_reads_nested_event_fields(make_driver: MakeDriver) -> None:
    d = make_driver("many_datasets")
    out = []
    for i, asset in enumerate(["a", "b", "c"]):
        event = {"event.action": "dataset.read", "user": {"name": "bob"}, "data": {"asset": {"id": asset}}}
        out += d.engine.process(i, event, T0 + i * S, d.matcher(event))
    assert [(m.group_dict(), m.event_indexes) for m in out] == [({"user.name": "bob"}, (0, 1, 2))]


def export(d: Driver, at: timedelta, user: str = "alice") -> list:
    return d.feed(at, event__action="dataset.export", user__name=user)


def test_lt_fires_only_when_the_window_closes(make_driver: MakeDriver) -> None:
    d = make_driver("lone_export")
    assert export(d, 0 * M) == []
    assert d.engine.advance(T0 + 60 * M) == []  # window [10:00, 11:00] still open at 11:00
    out = d.engine.advance(T0 + 60 * M + US)
    assert [(m.rule_name, m.event_indexes, m.measure) for m in out] == [("lone_export", (0,), 1)]


def test_lt_two_events_exactly_timespan_apart_share_a_window(make_driver: MakeDriver) -> None:
    d = make_driver("lone_export")
    export(d, 0 * M)
    export(d, 60 * M)
    assert d.engine.flush() == []


def test_lt_two_events_just_over_timespan_apart_are_two_lone_exports(make_driver: MakeDriver) -> None:
    d = make_driver("lone_export")
    export(d, 0 * M)
    out = export(d, 60 * M + US)  # moving the horizon past 11:00 closes the first window
    assert [m.event_indexes for m in out] == [(0,)]
    assert [m.event_indexes for m in d.engine.flush()] == [(1,)]


def test_lt_groups_stay_separate(make_driver: MakeDriver) -> None:
    d = make_driver("lone_export")
    export(d, 0 * M, "alice")
    export(d, 1 * M, "bob")
    export(d, 2 * M, "bob")
    out = d.engine.advance(T0 + 3 * 60 * M)
    assert [(m.group_dict(), m.event_indexes) for m in out] == [({"user.name": "alice"}, (0,))]


def test_eq_needs_exactly_the_count_when_the_window_closes(make_driver: MakeDriver) -> None:
    d = make_driver("exactly_three_exports")
    for i in range(3):
        assert export(d, i * M, "alice") == []
    for i in range(4):
        export(d, i * M, "bob")
    out = d.engine.advance(T0 + 11 * M)
    assert [(m.group_dict(), m.event_indexes, m.measure) for m in out] == [
        ({"user.name": "alice"}, (0, 1, 2), 3)
    ]


def test_flush_ends_input_and_later_events_are_late(make_driver: MakeDriver) -> None:
    d = make_driver("lone_export")
    export(d, 0 * M)
    assert [m.event_indexes for m in d.engine.flush()] == [(0,)]
    assert export(d, 1 * M) == []
    assert d.engine.stats().late_events == 1
    assert d.engine.stats().open_groups == 0


def test_bad_input_is_rejected_with_a_clear_error(make_driver: MakeDriver) -> None:
    d = make_driver("failed_login_burst")
    naive = T0.replace(tzinfo=None)
    with pytest.raises(CorrelationInputError, match="event 0: event_time must be a timezone-aware"):
        d.engine.process(0, {}, naive, {"failed_login"})
    with pytest.raises(CorrelationInputError, match="collection of rule refs"):
        d.engine.process(0, {}, T0, "failed_login")
    with pytest.raises(CorrelationInputError, match="non-negative int"):
        d.engine.process(-1, {}, T0, set())
    with pytest.raises(CorrelationInputError, match="watermark"):
        d.engine.advance(naive)


def test_out_of_order_event_completes_a_window_that_starts_at_itself(make_driver: MakeDriver) -> None:
    # The late arrival at 4m only completes [4m, 9m]; the window starting at the oldest event does not hold.
    d = make_driver("failed_login_burst", allowed_lateness=10 * M)
    out = []
    for at in (0 * M, 6 * M, 7 * M, 8 * M, 9 * M):
        out += fail(d, at)
    assert out == []
    out = fail(d, 4 * M)
    assert [m.event_indexes for m in out] == [(1, 2, 3, 4, 5)]
    assert d.engine.stats().buffered == 1  # the event at 0 is left, unconsumed


def test_expiry_keeps_events_exactly_one_timespan_before_the_horizon(make_driver: MakeDriver) -> None:
    d = make_driver("failed_login_burst")
    fail(d, 0 * M)
    fail(d, 1 * M)
    out = []
    for _ in range(4):
        out += fail(d, 6 * M)  # horizon 6m: the event at 0 expires, the one at 1m (1m + 5m = 6m) stays
    assert [m.event_indexes for m in out] == [(1, 2, 3, 4, 5)]


def test_engine_state_survives_a_pickle_round_trip(make_driver: MakeDriver) -> None:
    # What a checkpoint does (Flink keeps Python state pickled): stopping half-way changes nothing.
    d = make_driver("failed_login_burst", "lone_export")
    out = fail(d, 0 * S) + fail(d, 1 * S) + export(d, 2 * S)
    d.engine = pickle.loads(pickle.dumps(d.engine))
    for i in range(3):
        out += fail(d, (3 + i) * S)
    out += d.engine.advance(T0 + 2 * 60 * M)
    assert [(m.rule_name, m.event_indexes) for m in out] == [
        ("failed_login_burst", (0, 1, 3, 4, 5)),
        ("lone_export", (2,)),
    ]
