"""The detection loop: guarded, timed rules; alerts only where Sigma says so; lanes split the alerts."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from detection.alerts import event_time
from detection.bundle import RuleBundle, compile_bundle
from detection.engine import LoadResult
from detection.loop import DetectionLoop, Detections, Lane, SequentialCorrelator, build_alerts, rule_ref
from detection.pipelines import resolve_pipeline
from tests.detection.stream.conftest import NOW, make_event, rule_texts

CORE_DOWNLOAD = "5a0c1b9e-0d7e-4f43-9a11-000000000001"


def _pack() -> RuleBundle:
    return compile_bundle(
        rule_texts("core_download.yml", "failed_login.yml", "lone_delete.yml"), resolve_pipeline("default")
    )


def test_a_rule_that_raises_is_reported_and_the_others_still_match() -> None:
    (core,) = [r for r in _pack().engine.rules if r.id == CORE_DOWNLOAD]

    def broken(raw: Any, low: Any) -> bool:
        raise KeyError("a bug in one rule")

    faulty = dataclasses.replace(core, id="faulty", name="faulty", matcher=broken)
    bundle = RuleBundle.from_loaded(LoadResult((faulty, core)))
    loop, found = DetectionLoop(bundle), Detections()
    event = make_event("e1", NOW, "dataset.download", classification="core")
    loop.event(7, event, event_time(event), found)
    assert [(s.position, s.rule.id) for s in found.singles] == [(7, CORE_DOWNLOAD)]
    (problem,) = found.problems
    assert (problem.what, problem.rule, problem.position) == ("rule_error", "faulty", 7)
    assert "a bug in one rule" in problem.detail
    assert (loop.figures["faulty"].errors, loop.figures["faulty"].matches) == (1, 0)
    assert loop.figures[CORE_DOWNLOAD].matches == 1
    assert loop.figures[CORE_DOWNLOAD].nanos > 0


def test_base_rules_of_a_correlation_feed_it_without_alerting_alone() -> None:
    bundle = _pack()
    correlator = SequentialCorrelator(bundle.correlations, timedelta(seconds=5))
    loop, found = DetectionLoop(bundle, correlator), Detections()
    for i in range(3):
        event = make_event(f"f{i}", NOW + timedelta(seconds=i), "user.login", outcome="failure")
        loop.event(i, event, event_time(event), found)
    assert found.singles == []  # `generate: false` (Sigma's default) on the correlation
    (correlated,) = found.correlated
    assert sorted(correlated.events) == [0, 1, 2]
    (alert,) = build_alerts(found)
    assert alert.event_ids == ("f0", "f1", "f2")
    assert found.problems == []


def test_matched_events_without_a_time_are_counted_not_correlated() -> None:
    bundle = _pack()
    correlator = SequentialCorrelator(bundle.correlations, timedelta(seconds=5), keep_events=False)
    loop, found = DetectionLoop(bundle, correlator), Detections()
    loop.event(0, make_event("f0", NOW, "user.login", outcome="failure"), None, found)
    loop.event(1, make_event("q", NOW, "dataset.query"), None, found)  # matches nothing
    assert correlator.untimed == 1


def test_lanes_split_single_event_alerts_and_keep_figures_of_their_own_events() -> None:
    bundle = _pack()
    events = [make_event(f"d{i}", NOW, "dataset.download", classification="core") for i in range(6)]
    lanes = [DetectionLoop(bundle, lane=Lane(i, 3)) for i in range(3)]
    raised: list[list[int]] = []
    for loop in lanes:
        found = Detections()
        for position, event in enumerate(events):
            loop.event(position, event, event_time(event), found)
        raised.append([s.position for s in found.singles])
    assert raised == [[0, 3], [1, 4], [2, 5]]
    assert [loop.figures[CORE_DOWNLOAD].matches for loop in lanes] == [2, 2, 2]
    assert rule_ref(bundle.engine.rules[0]) in lanes[0].figures
