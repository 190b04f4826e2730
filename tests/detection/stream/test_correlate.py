"""The job's bucketed correlations without Flink, over an in-memory store, vs one sequential engine.

Both run behind the same detection loop (`detection.loop`); only the correlator differs.
"""

from __future__ import annotations

import json
import pickle
import random
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from detection.alerts import event_time
from detection.bundle import RuleBundle, compile_bundle
from detection.loop import WHOLE, DetectionLoop, Detections, Lane, SequentialCorrelator, build_alerts
from detection.pipelines import resolve_pipeline
from detection.stream.batch import BAD_TIME
from detection.stream.correlate import BucketCorrelator, BucketState
from tests.detection.stream.conftest import NOW, make_event, rule_texts

LATENESS_MS = 2_000
BUCKETS = 4
PACK_AUTH = rule_texts("failed_login.yml")


class DictStore:
    """A `BucketStore` over plain dicts, pickling the bucket states as Flink's state does."""

    def __init__(self) -> None:
        self.states: dict[int, bytes] = {}
        self.texts: dict[str, str] = {}

    def load(self, bucket: int) -> BucketState | None:
        blob = self.states.get(bucket)
        return None if blob is None else pickle.loads(blob)

    def save(self, bucket: int, state: BucketState) -> None:
        self.states[bucket] = pickle.dumps(state)

    def drop(self, bucket: int) -> None:
        self.states.pop(bucket, None)

    def text(self, bucket: int, position: int) -> str | None:
        return self.texts.get(f"{bucket}/{position}")

    def put_texts(self, bucket: int, texts: Mapping[int, str]) -> None:
        self.texts.update({f"{bucket}/{p}": t for p, t in texts.items()})

    def remove_text(self, bucket: int, position: int) -> None:
        del self.texts[f"{bucket}/{position}"]


def _events(seed: int, n: int) -> list[dict[str, Any]]:
    """Logins of five users, 40 % failures, 0-20 s apart: some users reach three failures a minute."""
    rng = random.Random(seed)
    at, out = NOW, []
    for i in range(n):
        at += timedelta(seconds=rng.randint(0, 20))
        outcome = "failure" if rng.random() < 0.4 else "success"
        user = f"u{rng.randint(1, 5)}"
        out.append(make_event(f"e{i}", at, "user.login", user=user, outcome=outcome))
    return out


def _bundle() -> RuleBundle:
    return compile_bundle(PACK_AUTH, resolve_pipeline("default"))


def _sequential(bundle: RuleBundle, events: list[dict[str, Any]]) -> set[str]:
    correlator = SequentialCorrelator(bundle.correlations, timedelta(milliseconds=LATENESS_MS))
    loop, found = DetectionLoop(bundle, correlator), Detections()
    for offset, event in enumerate(events):
        loop.event(offset, event, event_time(event), found)
    correlator.flush(found)
    return {a.alert_id for a in build_alerts(found) if a.group}


class Job:
    """The rule operator's use of the loop: batches of events, then their time, per lane."""

    def __init__(self, bundle: RuleBundle, store: DictStore, lane: Lane = WHOLE) -> None:
        self.correlator = BucketCorrelator(store, LATENESS_MS, BUCKETS, lane=lane)
        self.loop = DetectionLoop(bundle, self.correlator, lane=lane)
        self.found = Detections()

    def batch(self, first: int, events: list[dict[str, Any]], when: int | None = None) -> set[str]:
        for i, event in enumerate(events):
            self.loop.event(first + i, event, event_time(event), self.found, json.dumps(event))
        newest = max((int(event_time(e).timestamp() * 1000) for e in events), default=BAD_TIME)
        self.correlator.end_batch(newest if when is None else when, self.found)
        return self._alerts()

    def flush(self) -> set[str]:
        self.correlator.flush(self.found)
        return self._alerts()

    def _alerts(self) -> set[str]:
        ids = {a.alert_id for a in build_alerts(self.found) if a.group}
        assert not [p for p in self.found.problems if p.what != "late_event"], self.found.problems
        self.found.clear()
        return ids


@pytest.mark.parametrize("seed", range(4))
def test_buckets_raise_what_one_sequential_engine_raises_and_keep_no_event_after_the_end(seed: int) -> None:
    bundle = _bundle()
    events = _events(seed, 400)
    store = DictStore()
    job = Job(bundle, store)
    alerts: set[str] = set()
    most_kept = 0
    for first in range(0, len(events), 25):  # batches of 25, time moving on after each
        alerts |= job.batch(first, events[first : first + 25])
        most_kept = max(most_kept, len(store.texts))
    assert alerts  # the load does raise correlations
    # Only events an open window (1 min plus lateness) can still use are kept: pruned as time moves.
    assert most_kept < 40
    alerts |= job.flush()
    assert alerts == _sequential(bundle, events)
    assert (store.states, store.texts) == ({}, {})  # the end of time leaves no state behind


def test_a_restored_correlator_goes_on_where_the_stored_state_left_off() -> None:
    bundle = _bundle()
    events = _events(9, 200)
    store = DictStore()
    job = Job(bundle, store)
    alerts: set[str] = set()
    for first in range(0, len(events), 20):
        if first == 100:  # a restore: a new correlator that has only the stored state
            job = Job(bundle, store)
        alerts |= job.batch(first, events[first : first + 20])
    alerts |= job.flush()
    assert alerts == _sequential(bundle, events)


def test_lanes_together_raise_what_one_lane_raises() -> None:
    # Parallelism 2: each lane sees every batch, alerts on its own events and correlates its buckets.
    bundle = compile_bundle(
        rule_texts("failed_login.yml", "core_download.yml", "lone_delete.yml"), resolve_pipeline("default")
    )
    events = _events(5, 300)
    for i in range(0, 300, 7):  # single-event alerts too, spread over both lanes' positions
        events[i] = make_event(f"dl{i}", event_time(events[i]), "dataset.download", classification="core")
    whole, lanes = Job(bundle, DictStore()), [Job(bundle, DictStore(), Lane(i, 2)) for i in range(2)]
    one: list[set[str]] = []
    two: list[set[str]] = [set(), set()]

    def collect(job: Job, found: list[str]) -> None:
        found += [a.alert_id for a in build_alerts(job.found)]
        job.found.clear()

    for first in range(0, len(events), 30):
        batch = events[first : first + 30]
        one.append(whole.batch(first, batch))
        for n, lane in enumerate(lanes):
            two[n] |= lane.batch(first, batch)
    assert set().union(*one) == two[0] | two[1]
    assert two[0]  # both lanes own buckets that correlate
    assert two[1]
    assert not two[0] & two[1]  # and no correlation is raised twice
    singles: list[list[str]] = [[], []]
    for n, lane in enumerate(lanes):  # single-event alerts: each event's by exactly one lane
        for first in range(0, len(events), 30):
            for i, event in enumerate(events[first : first + 30]):
                lane.loop.event(first + i, event, event_time(event), lane.found, json.dumps(event))
            collect(lane, singles[n])
    assert singles[0]
    assert singles[1]
    assert not set(singles[0]) & set(singles[1])
    reference: list[str] = []
    for i, event in enumerate(events):
        whole.loop.event(i, event, event_time(event), whole.found, json.dumps(event))
    collect(whole, reference)
    assert sorted(singles[0] + singles[1]) == sorted(reference)


def test_a_batch_without_time_moves_no_window() -> None:
    store = DictStore()
    job = Job(_bundle(), store)
    assert job.batch(0, [make_event("x", NOW, "user.login", outcome="failure")], when=BAD_TIME) == set()
    # Kept: no time has passed that would close it.
    assert len(store.texts) == 1
    assert len(store.states) == 1
