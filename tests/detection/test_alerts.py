"""Alerts built from stream matches (pure)."""

from __future__ import annotations

from datetime import timedelta

from datasoc.alert import Alert
from detection.alerts import alert_id, alert_line, correlation_alert, json_safe, single_alert
from detection.bundle import compile_bundle
from detection.correlation import CorrelationEngine
from detection.pipelines import resolve_pipeline
from tests.detection.stream.conftest import NOW, make_event, rule_texts

PIPELINE = resolve_pipeline("default")


def test_alert_id_depends_on_rule_and_event_set_only() -> None:
    assert alert_id("r", ["b", "a"]) == alert_id("r", ["a", "b"])
    assert alert_id("r", ["a"]) != alert_id("r2", ["a"])
    assert alert_id("r", ["a"]) != alert_id("r", ["a", "b"])
    assert alert_id("r", ["a"]).startswith("al-")
    assert len(alert_id("r", ["a"])) == 35


def test_single_alert_is_a_valid_contract_alert() -> None:
    bundle = compile_bundle(rule_texts("core_download.yml"), PIPELINE)
    event = make_event("e1", NOW, "dataset.download", classification="core")
    (rule,) = bundle.engine.match(event)
    alert = Alert.from_dict(__import__("json").loads(alert_line(single_alert(rule, event))))
    assert alert.warning_level == "red"
    assert alert.event_ids == ("e1",)
    assert alert.count == 1
    assert alert.alert_id == alert_id(rule.id, ["e1"])


def test_correlation_alert_names_every_event_and_the_group() -> None:
    bundle = compile_bundle(rule_texts("failed_login.yml"), PIPELINE)
    engine = CorrelationEngine(bundle.correlations)
    events = {
        i: make_event(f"f{i}", NOW + timedelta(seconds=i), "user.login", outcome="failure") for i in range(3)
    }
    matches = []
    for i, event in events.items():
        refs = [r for rule in bundle.engine.match(event) for r in (rule.id, rule.name) if r]
        matches += engine.process(i, event, NOW + timedelta(seconds=i), refs)
    (match,) = matches
    alert = correlation_alert(match, events)
    assert alert.group == {"user.name": "alice"}
    assert alert.event_ids == ("f0", "f1", "f2")
    assert alert.count == 3
    assert alert.first_seen == NOW
    assert alert.last_seen == NOW + timedelta(seconds=2)
    assert alert.rule_level == "high"
    assert alert.warning_level == "orange"


def test_event_copies_with_integers_beyond_i_json_still_make_a_valid_alert() -> None:
    # Found by the SigmaHQ bench: a Windows field holding 2**64 - 1 made Alert validation fail and
    # the job restart forever. The copy carries it as a string; the alert is raised.
    bundle = compile_bundle(rule_texts("core_download.yml"), PIPELINE)
    event = {**make_event("e1", NOW, "dataset.download", classification="core"), "Handle": 2**64 - 1}
    (rule,) = bundle.engine.match(event)
    alert = single_alert(rule, event)
    assert alert.events[0]["Handle"] == str(2**64 - 1)
    assert json_safe({"a": [2**60, True, 1.5]}) == {"a": [str(2**60), True, 1.5]}
