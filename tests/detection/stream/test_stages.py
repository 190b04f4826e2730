"""Correlation stages without Flink: `run_stages` over an in-memory store vs one sequential engine."""

from __future__ import annotations

import json
import pickle
import random
from datetime import timedelta
from typing import Any

import pytest

from detection.correlation import CorrelationEngine
from detection.pipelines import resolve_pipeline
from detection.stream.alerts import correlation_alert, event_time
from detection.stream.batch import BAD_TIME, END_OF_TIME
from detection.stream.rules import RuleBundle, compile_bundle
from detection.stream.stages import Record, Stage, event_input, run_stages, stage_lists
from tests.detection.stream.conftest import NOW, make_event, rule_texts

LATENESS_MS = 2_000
BUCKETS = 4


class DictStore:
    """A `StageStore` over plain dicts, pickling the windows as Flink's state does."""

    def __init__(self, windows: dict[str, bytes], events: dict[str, str], prefix: str) -> None:
        self.windows, self.events, self.prefix = windows, events, prefix

    def load(self) -> dict[str, Any] | None:
        blob = self.windows.get(self.prefix)
        return None if blob is None else pickle.loads(blob)

    def save(self, stored: dict[str, Any]) -> None:
        self.windows[self.prefix] = pickle.dumps(stored)

    def drop(self) -> None:
        del self.windows[self.prefix]

    def event(self, offset: int) -> str | None:
        return self.events.get(f"{self.prefix}/{offset}")

    def put_events(self, texts: dict[int, str]) -> None:
        self.events.update({f"{self.prefix}/{o}": t for o, t in texts.items()})

    def remove_event(self, offset: int) -> None:
        del self.events[f"{self.prefix}/{offset}"]


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
    return compile_bundle(rule_texts("failed_login.yml"), resolve_pipeline("default"))


def _sequential(bundle: RuleBundle, events: list[dict[str, Any]]) -> set[str]:
    engine = CorrelationEngine(bundle.correlations, allowed_lateness=timedelta(milliseconds=LATENESS_MS))
    ids: set[str] = set()
    for offset, event in enumerate(events):
        refs = {r for rule in bundle.engine.match(event) for r in (rule.id, rule.name) if r}
        if refs:
            for match in engine.process(offset, event, event_time(event), refs):
                ids.add(correlation_alert(match, dict(enumerate(events))).alert_id)
    for match in engine.flush():
        ids.add(correlation_alert(match, dict(enumerate(events))).alert_id)
    return ids


def _records(bundle: RuleBundle, offset: int, event: dict[str, Any]) -> list[Record]:
    """The correlation inputs the rule operator makes of one event (a rule referenced by id and by
    name feeds a correlation once)."""
    text = json.dumps(event)
    millis = int(event_time(event).timestamp() * 1000)
    out, fed = [], set()
    for rule in bundle.engine.match(event):
        for ref in (r for r in (rule.id, rule.name) if r):
            for spec in bundle.targets.get(ref, ()):
                if spec.key not in fed:
                    fed.add(spec.key)
                    out.append(event_input(bundle, spec, offset, millis, event, text, ref))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_stages_raise_what_one_sequential_engine_raises_and_keep_no_event_after_the_end(seed: int) -> None:
    bundle = _bundle()
    events = _events(seed, 400)
    windows: dict[str, bytes] = {}
    texts: dict[str, str] = {}
    stages = [Stage(n, LATENESS_MS, BUCKETS) for n in (1, 2, 3)]

    def store_for(stage: int, bucket: int) -> DictStore:
        return DictStore(windows, texts, f"{stage}/{bucket}")

    alerts: set[str] = set()
    most_kept = 0
    for first in range(0, len(events), 25):  # batches of 25, time moving on after each
        batch = events[first : first + 25]
        records = [r for i, e in enumerate(batch) for r in _records(bundle, first + i, e)]
        when = max(int(event_time(e).timestamp() * 1000) for e in batch)
        elements = stage_lists(records, when, BUCKETS, everyone=True)
        for kind, payload in run_stages(stages, elements, store_for):
            assert kind == "alert", payload
            alerts.add(json.loads(payload)["alert.id"])
        most_kept = max(most_kept, len(texts))
    assert alerts  # the load does raise correlations
    # Only events an open window (1 min plus lateness) can still use are kept: pruned as time moves.
    assert most_kept < 40
    for _, payload in run_stages(stages, stage_lists([], END_OF_TIME, BUCKETS, everyone=True), store_for):
        alerts.add(json.loads(payload)["alert.id"])
    assert alerts == _sequential(bundle, events)
    assert (windows, texts) == ({}, {})  # the end of time leaves no state behind


def test_a_restored_stage_goes_on_where_the_stored_state_left_off() -> None:
    bundle = _bundle()
    events = _events(9, 200)
    windows: dict[str, bytes] = {}
    texts: dict[str, str] = {}
    stages = [Stage(n, LATENESS_MS, BUCKETS) for n in (1, 2, 3)]
    alerts: set[str] = set()
    for first in range(0, len(events), 20):
        if first == 100:  # a restore: new stages that have only the stored state
            stages = [Stage(n, LATENESS_MS, BUCKETS) for n in (1, 2, 3)]
        batch = events[first : first + 20]
        records = [r for i, e in enumerate(batch) for r in _records(bundle, first + i, e)]
        when = max(int(event_time(e).timestamp() * 1000) for e in batch)
        elements = stage_lists(records, when, BUCKETS, everyone=True)
        for _, payload in run_stages(stages, elements, lambda s, b: DictStore(windows, texts, f"{s}/{b}")):
            alerts.add(json.loads(payload)["alert.id"])
    final = stage_lists([], END_OF_TIME, BUCKETS, everyone=True)
    for _, payload in run_stages(stages, final, lambda s, b: DictStore(windows, texts, f"{s}/{b}")):
        alerts.add(json.loads(payload)["alert.id"])
    assert alerts == _sequential(bundle, events)


def test_an_element_without_time_moves_no_window() -> None:
    bundle = _bundle()
    event = make_event("x", NOW, "user.login", outcome="failure")
    stage = Stage(1, LATENESS_MS, BUCKETS)
    windows: dict[str, bytes] = {}
    texts: dict[str, str] = {}
    (bucket, records, _), *_ = stage_lists(_records(bundle, 0, event), BAD_TIME, BUCKETS, everyone=False)
    assert list(stage.process(bucket, records, BAD_TIME, DictStore(windows, texts, "1/0"))) == []
    # Kept: no time has passed that would close it.
    assert len(texts) == 1
    assert len(windows) == 1
