"""In-process detection: events topic -> engine and correlations -> alerts topic, idempotent ids."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from collectors.sink import encode_event
from datasoc.event import Event
from datasoc.transport import ALERTS, EVENTS, Spool
from detection.alerts import alert_id, single_alert
from detection.engine import RuleSet
from detection.pipelines import resolve_pipeline
from soc_api.detector import Detector, decode_alert

T0 = datetime(2026, 3, 3, 18, 0, tzinfo=UTC)  # 02:00 in Asia/Shanghai

RULES = """
title: 核心数据下载 / Core data download
id: 11111111-1111-4111-8111-111111111111
name: core_download
status: test
level: high
tags: [attack.exfiltration, mlps.8.1.4.3]
logsource: {product: datasoc, service: apigw}
detection:
  sel:
    event.action: dataset.download
    data.classification: core
  condition: sel
---
title: 多次核心数据下载 / Repeated core downloads
id: 22222222-2222-4222-8222-222222222222
status: test
level: medium
correlation:
  type: event_count
  rules: [core_download]
  group-by: [user.name]
  timespan: 10m
  condition: {gte: 3}
  generate: true
"""


def make_event(i: int, *, user: str = "xiehaiyan", minutes: int = 0, grade: str = "core") -> Event:
    return Event.from_dict(
        {
            "@timestamp": (T0 + timedelta(minutes=minutes)).isoformat(),
            "event.id": f"e-{i}",
            "event.ingested": T0.isoformat(),
            "event.action": "dataset.download",
            "event.outcome": "success",
            "observer.collector": "test",
            "log.original": f"download {i}",
            "user.name": user,
            "data.classification": grade,
        }
    )


def load() -> Detector:
    rules = RuleSet.from_texts([(None, RULES)], pipeline=resolve_pipeline("default"))
    assert not rules.errors, rules.errors
    return Detector(rules, allowed_lateness=timedelta(minutes=1))


def test_single_alert_is_built_from_rule_and_event() -> None:
    detector = load()
    (rule,) = [r for r in detector.rules.rules if r.name == "core_download"]
    alert = single_alert(rule, make_event(1).to_dict())
    assert alert.warning_level == "red"  # high rule on core data
    assert alert.event_ids == ("e-1",)
    assert alert.alert_id == alert_id(rule.id, ["e-1"])
    assert alert.events[0]["user.name"] == "xiehaiyan"


def test_pass_appends_single_and_correlation_alerts_then_commits(tmp_path: Path) -> None:
    events = [make_event(i, minutes=i) for i in range(3)] + [make_event(9, user="lisi", minutes=4)]
    with Spool.open(tmp_path / "spool") as spool:
        spool.append(EVENTS, [encode_event(e) for e in events], now=T0)
        report = load().run_pass(spool, now=T0)
        alerts = [decode_alert(r.payload) for r in spool.read(ALERTS, 0, 100)]
        assert (report.read, report.committed_offset) == (4, 4)
        singles = [a for a in alerts if a.rule_id.startswith("1111")]
        (burst,) = [a for a in alerts if a.rule_id.startswith("2222")]
        assert len(singles) == 4
        assert burst.event_ids == ("e-0", "e-1", "e-2")
        assert burst.group == {"user.name": "xiehaiyan"}
        assert burst.warning_level == "orange"  # medium rule raised one step by core data
        assert report.alerts == len(alerts) == 5
        # A second detector (as after a restart) resumes after the committed offset: nothing new.
        assert load().run_pass(spool, now=T0).read == 0


def test_replay_gives_the_same_alert_ids(tmp_path: Path) -> None:
    events = [make_event(i, minutes=i) for i in range(3)]
    with Spool.open(tmp_path / "a") as first, Spool.open(tmp_path / "b") as second:
        for spool in (first, second):
            spool.append(EVENTS, [encode_event(e) for e in events], now=T0)
            load().run_pass(spool, now=T0)
        ids = [{json.loads(r.payload)["alert.id"] for r in s.read(ALERTS, 0, 100)} for s in (first, second)]
    assert ids[0] == ids[1]
