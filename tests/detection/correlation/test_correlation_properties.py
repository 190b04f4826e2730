"""Property tests: the event_count state machine against the brute-force definition of its semantics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from detection.correlation import CorrelationEngine, CorrelationRuleSet

T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)
SPAN = timedelta(minutes=5)  # failed_login_burst: gte 5 failures per user.name within 5m
NEED = 5

events_st = st.lists(
    st.tuples(st.integers(0, 900), st.sampled_from(["a", "b"])),  # (seconds after T0, user)
    min_size=0,
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(events=events_st, lateness_s=st.sampled_from([0, 60, 3600]), data=st.data())
def test_event_count_matches_are_sound_disjoint_and_complete(
    ruleset: CorrelationRuleSet, events: list[tuple[int, str]], lateness_s: int, data: Any
) -> None:
    spec = next(s for s in ruleset.specs if s.name == "failed_login_burst")
    engine = CorrelationEngine([spec], allowed_lateness=timedelta(seconds=lateness_s))
    order = data.draw(st.permutations(range(len(events))))
    matches = []
    late: set[int] = set()
    newest: datetime | None = None
    for index in order:
        seconds, user = events[index]
        t = T0 + timedelta(seconds=seconds)
        # The documented late rule, restated: before (newest event time seen - allowed lateness).
        newest = t if newest is None else max(newest, t)
        if t < newest - timedelta(seconds=lateness_s):
            late.add(index)
        event = {"event.action": "login", "event.outcome": "failure", "user.name": user}
        matches += engine.process(index, event, t, {"failed_login"})
    matches += engine.flush()
    assert engine.stats().late_events == len(late)

    named: list[int] = []
    for m in matches:
        times = [T0 + timedelta(seconds=events[i][0]) for i in m.event_indexes]
        # Sound: enough events, one group, within the timespan, none of them late.
        assert len(m.event_indexes) >= NEED
        assert {events[i][1] for i in m.event_indexes} == {m.group_dict()["user.name"]}
        assert max(times) - min(times) <= SPAN
        assert (m.first_time, m.last_time) == (min(times), max(times))
        assert not late & set(m.event_indexes)
        named += m.event_indexes
    # Disjoint: no event alerts twice.
    assert len(named) == len(set(named))
    # Complete: the events left over hold no window that satisfies the condition.
    left = [i for i in range(len(events)) if i not in late and i not in set(named)]
    for user in ("a", "b"):
        times = sorted(events[i][0] for i in left if events[i][1] == user)
        for k, start in enumerate(times):
            inside = [t for t in times[k:] if t - start <= SPAN.total_seconds()]
            assert len(inside) < NEED, (user, start, inside)


@settings(max_examples=100, deadline=None)
@given(events=events_st, lateness_s=st.sampled_from([0, 60, 3600]))
def test_in_order_event_count_equals_the_reference_fold(
    ruleset: CorrelationRuleSet, events: list[tuple[int, str]], lateness_s: int
) -> None:
    # Lateness keeps older events buffered longer; in input order it must not change the result.
    spec = next(s for s in ruleset.specs if s.name == "failed_login_burst")
    engine = CorrelationEngine([spec], allowed_lateness=timedelta(seconds=lateness_s))
    ordered = sorted(events)
    got = []
    for index, (seconds, user) in enumerate(ordered):
        event = {"event.action": "login", "event.outcome": "failure", "user.name": user}
        got += [
            m.event_indexes
            for m in engine.process(index, event, T0 + timedelta(seconds=seconds), {"failed_login"})
        ]
    # Reference: per user, keep the events of the last 5 minutes; at 5, alert with them and start over.
    expected = []
    buffers: dict[str, list[tuple[int, int]]] = {"a": [], "b": []}
    for index, (seconds, user) in enumerate(ordered):
        buf = [(i, s) for i, s in buffers[user] if seconds - s <= SPAN.total_seconds()] + [(index, seconds)]
        if len(buf) >= NEED:
            expected.append(tuple(i for i, _ in buf))
            buf = []
        buffers[user] = buf
    assert got == expected


@settings(max_examples=100, deadline=None)
@given(
    events=st.lists(
        st.tuples(
            st.integers(0, 1800), st.sampled_from(["a", "b"]), st.sampled_from(["d1", "d2", "d3", "d4", None])
        ),
        max_size=60,
    ),
    lateness_s=st.sampled_from([0, 120, 3600]),
)
def test_in_order_value_count_equals_the_reference_fold(
    ruleset: CorrelationRuleSet, events: list[tuple[int, str, str | None]], lateness_s: int
) -> None:
    spec = next(s for s in ruleset.specs if s.name == "many_datasets")  # >= 3 distinct data.asset.id in 10m
    engine = CorrelationEngine([spec], allowed_lateness=timedelta(seconds=lateness_s))
    ordered = sorted(events, key=lambda e: e[0])
    got = []
    for index, (seconds, user, asset) in enumerate(ordered):
        event = {"event.action": "dataset.read", "user.name": user}
        if asset is not None:
            event["data.asset.id"] = asset
        got += [
            m.event_indexes
            for m in engine.process(index, event, T0 + timedelta(seconds=seconds), {"dataset_read"})
        ]
    # Reference: per user, keep the valued events of the last 10 minutes; at 3 distinct, alert and start over.
    expected = []
    buffers: dict[str, list[tuple[int, int, str]]] = {"a": [], "b": []}
    for index, (seconds, user, asset) in enumerate(ordered):
        if asset is None:
            continue
        buf = [e for e in buffers[user] if seconds - e[1] <= 600] + [(index, seconds, asset)]
        if len({a for _, _, a in buf}) >= 3:
            expected.append(tuple(i for i, _, _ in buf))
            buf = []
        buffers[user] = buf
    assert got == expected


RECON = {"w": "recon_whoami", "n": "recon_netuser", "i": "recon_ipconfig"}


@settings(max_examples=100, deadline=None)
@given(
    events=st.lists(
        st.tuples(st.integers(0, 1800), st.sampled_from(["h1", "h2"]), st.sampled_from(sorted(RECON))),
        max_size=60,
    ),
    lateness_s=st.sampled_from([0, 120, 3600]),
)
def test_in_order_temporal_equals_the_reference_fold(
    ruleset: CorrelationRuleSet, events: list[tuple[int, str, str]], lateness_s: int
) -> None:
    spec = next(s for s in ruleset.specs if s.name == "recon_sequence")  # all three rules per host in 5m
    engine = CorrelationEngine([spec], allowed_lateness=timedelta(seconds=lateness_s))
    ordered = sorted(events, key=lambda e: e[0])
    got = []
    for index, (seconds, host, kind) in enumerate(ordered):
        t = T0 + timedelta(seconds=seconds)
        got += [m.event_indexes for m in engine.process(index, {"host.name": host}, t, {RECON[kind]})]
    expected = []
    buffers: dict[str, list[tuple[int, int, str]]] = {"h1": [], "h2": []}
    for index, (seconds, host, kind) in enumerate(ordered):
        buf = [e for e in buffers[host] if seconds - e[1] <= 300] + [(index, seconds, kind)]
        if len({k for _, _, k in buf}) == 3:
            expected.append(tuple(i for i, _, _ in buf))
            buf = []
        buffers[host] = buf
    assert got == expected


@settings(max_examples=150, deadline=None)
@given(
    events=st.lists(st.tuples(st.integers(0, 600), st.sampled_from(["login", "export"])), max_size=30),
    lateness_s=st.sampled_from([0, 60, 3600]),
    data=st.data(),
)
def test_temporal_ordered_matches_are_sound_disjoint_and_complete(
    ruleset: CorrelationRuleSet, events: list[tuple[int, str]], lateness_s: int, data: Any
) -> None:
    spec = next(s for s in ruleset.specs if s.name == "login_then_export")  # login, then export, in 2m
    engine = CorrelationEngine([spec], allowed_lateness=timedelta(seconds=lateness_s))
    refs = {"login": {"successful_login"}, "export": {"dataset_export"}}
    late: set[int] = set()
    newest: datetime | None = None
    matches = []
    for index in data.draw(st.permutations(range(len(events)))):
        seconds, kind = events[index]
        t = T0 + timedelta(seconds=seconds)
        newest = t if newest is None else max(newest, t)
        if t < newest - timedelta(seconds=lateness_s):
            late.add(index)
        matches += engine.process(index, {"user.name": "u"}, t, refs[kind])
    matches += engine.flush()

    def ordered_pair(indexes: list[int]) -> bool:
        """A login strictly before an export (time, then input index) at most 120 s apart."""
        keyed = sorted((events[i][0], i) for i in indexes)
        return any(
            events[a][1] == "login" and events[b][1] == "export" and tb - ta <= 120
            for n, (ta, a) in enumerate(keyed)
            for tb, b in keyed[n + 1 :]
        )

    named: list[int] = []
    for m in matches:
        times = [events[i][0] for i in m.event_indexes]
        assert max(times) - min(times) <= 120
        assert ordered_pair(list(m.event_indexes))
        assert not late & set(m.event_indexes)
        named += m.event_indexes
    assert len(named) == len(set(named))
    assert not ordered_pair([i for i in range(len(events)) if i not in late and i not in set(named)])
