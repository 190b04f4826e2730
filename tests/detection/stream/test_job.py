"""The stream job end to end on the shared session job: alerts, correlation, rule updates, pitfalls.

Tests run in file order against one job; each hands out event times after all earlier ones
(`stream.times`) so the shared watermark only moves forward, except where lateness is the point.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from datasoc.transport import EVENTS
from detection.stream.batch import encode_batch
from tests.detection.stream.conftest import NOW, Platform, make_event, rule_texts

CORE_DOWNLOAD = "5a0c1b9e-0d7e-4f43-9a11-000000000001"
FAILED_LOGIN = "5a0c1b9e-0d7e-4f43-9a11-000000000002"
FAILED_LOGINS = "5a0c1b9e-0d7e-4f43-9a11-000000000003"
LONE_DELETE = "5a0c1b9e-0d7e-4f43-9a11-000000000005"
SHARE_RULE = "5a0c1b9e-0d7e-4f43-9a11-0000000000a1"

SHARE_YAML = """
title: Share of important data
id: 5a0c1b9e-0d7e-4f43-9a11-0000000000a1
status: test
logsource:
  product: datasoc
detection:
  selection:
    event.action: dataset.share
    data.classification: {grade}
  condition: selection
level: {level}
"""


def _with_event(alerts: list[dict[str, object]], event_id: str) -> list[dict[str, object]]:
    return [a for a in alerts if event_id in a["event_ids"]]  # type: ignore[operator]


def test_events_before_rules_are_buffered_not_lost(stream: Platform) -> None:
    # Pitfall 5: these events were read while no rule set had arrived on the broadcast side.
    stream.wait_for("alert of the early core download", lambda: bool(_with_event(stream.alerts(), "early-1")))
    (alert,) = _with_event(stream.alerts(), "early-1")
    assert alert["rule.id"] == CORE_DOWNLOAD
    assert alert["warning_level"] == "red"  # high rule, core data raises one step
    assert alert["events"][0]["event.id"] == "early-1"
    assert not _with_event(stream.alerts(), "early-2")  # a query is not a download


def test_buffered_events_feed_correlations_too(stream: Platform) -> None:
    # Released by a processing-time timer, whose side outputs PyFlink 2.3 mishandles (see `Route`).
    stream.wait_for(
        "the early correlation alert",
        lambda: any(a["group"] == {"user.name": "early"} for a in stream.alerts_of(FAILED_LOGINS)),
    )
    (alert,) = [a for a in stream.alerts_of(FAILED_LOGINS) if a["group"] == {"user.name": "early"}]
    assert sorted(alert["event_ids"]) == ["early-f0", "early-f1", "early-f2"]


def test_single_event_rule_alerts_on_matching_events_only(stream: Platform) -> None:
    t1, t2, t3 = stream.times(3, timedelta(seconds=1))
    stream.feed(
        [
            make_event("single-general", t1, "dataset.download", user="bob", classification="general"),
            make_event("single-none", t2, "dataset.download", user="bob"),
            make_event("single-core", t3, "dataset.download", user="bob", classification="core"),
        ]
    )
    stream.wait_for("core download alert", lambda: bool(_with_event(stream.alerts(), "single-core")))
    alerts = stream.alerts()
    assert not _with_event(alerts, "single-general")
    assert not _with_event(alerts, "single-none")
    (alert,) = _with_event(alerts, "single-core")
    assert alert["first_seen"] == alert["last_seen"] == t3.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert alert["rule.tags"] == ["attack.exfiltration"]


def test_correlation_in_event_time_and_expiry_within_a_burst(stream: Platform) -> None:
    base = stream.times(1, timedelta(minutes=1))[0]
    # dave: four failures 40 s apart arrive in one burst (one file, the watermark does not move):
    # no 1-minute window holds three of them (pitfall 3: state must expire on arrival too).
    dave = [
        make_event(
            f"dave-{i}", base + timedelta(seconds=40 * i), "user.login", user="dave", outcome="failure"
        )
        for i in range(4)
    ]
    # carol: three failures within 30 s, delivered out of order (within the bound of 2 s).
    carol_times = [base + timedelta(seconds=s) for s in (10, 11, 12)]
    carol = [
        make_event(f"carol-{i}", t, "user.login", user="carol", outcome="failure")
        for i, t in zip((1, 0, 2), (carol_times[1], carol_times[0], carol_times[2]), strict=True)
    ]
    stream.clock = base + timedelta(seconds=160)
    stream.feed(dave + carol)
    stream.wait_for("carol's correlation alert", lambda: bool(_with_event(stream.alerts(), "carol-0")))
    alerts = stream.alerts()
    (alert,) = [a for a in alerts if a["rule.id"] == FAILED_LOGINS and a["group"] == {"user.name": "carol"}]
    assert sorted(alert["event_ids"]) == ["carol-0", "carol-1", "carol-2"]
    assert alert["first_seen"] == carol_times[0].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert alert["count"] == 3
    assert not [a for a in alerts if a["group"] == {"user.name": "dave"}]
    # The base rule has `generate: false` (Sigma default): it never alerts on its own.
    assert not stream.alerts_of(FAILED_LOGIN)


def test_time_driven_window_closes_on_the_watermark(stream: Platform) -> None:
    # Pitfalls 1 and 2: `lt` is decided when the window closes, i.e. by an event-time timer. If the
    # timestamp assigner were dropped or ignored, the watermark would stay at Long.MIN_VALUE and this
    # alert would never come.
    (t_delete,) = stream.times(1, timedelta(seconds=1))
    (t_later,) = stream.times(1, timedelta(minutes=5))
    stream.feed(
        [
            make_event("lone-delete", t_delete, "dataset.delete", user="erin"),
            make_event("filler-1", t_later, "dataset.query", user="filler"),  # moves the watermark
        ]
    )
    stream.wait_for("the isolated-deletion alert", lambda: bool(stream.alerts_of(LONE_DELETE)))
    (alert,) = stream.alerts_of(LONE_DELETE)
    assert alert["event_ids"] == ["lone-delete"]
    assert alert["group"] == {"user.name": "erin"}
    assert alert["first_seen"] == t_delete.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_a_later_file_read_first_waits_for_the_earlier_one(stream: Platform) -> None:
    # The file source reads the files of one scan in no fixed order. Here the later file is read
    # first, deterministically: the earlier one is hidden until the job has seen the later one.
    # Read in that order without `Sequence`, the later file's time (an hour on) would move the
    # watermark past the earlier burst, which would then be late for the failed-login correlation.
    t0, t1, t2 = stream.times(3, timedelta(seconds=1))
    (t_late,) = stream.times(1, timedelta(hours=1))
    burst = [
        make_event(f"hana-{i}", t, "user.login", user="hana", outcome="failure")
        for i, t in enumerate((t0, t1, t2))
    ]
    stream.spool.append(EVENTS, [json.dumps(e).encode() for e in burst], now=NOW)
    records = stream.spool.read(EVENTS, stream.exporter.position, 100)
    name = f"events-{records[0].offset:020d}-{records[-1].offset + 1:020d}.jsonl"
    data, early = encode_batch(
        [(r.offset, r.payload) for r in records], prev=stream.exporter.position, file=name, at=0
    )
    (stream.exporter.batches / name).write_bytes(data)
    hidden = Path(stream.config.input_dir) / ".held-back.jsonl"
    hidden.write_text(early)
    visible = hidden.with_name(name)
    stream.exporter.position = records[-1].offset + 1
    stream.feed([make_event("hana-later", t_late, "dataset.download", user="hana", classification="core")])
    waits_before = stream.count("batch_waiting")
    stream.wait_for("the later batch held back", lambda: stream.count("batch_waiting") > waits_before)
    assert not _with_event(stream.alerts(), "hana-later")  # held, not evaluated out of order
    hidden.rename(visible)
    stream.wait_for("the later batch's alert", lambda: bool(_with_event(stream.alerts(), "hana-later")))
    stream.wait_for(
        "hana's correlation alert",
        lambda: any(a["group"] == {"user.name": "hana"} for a in stream.alerts_of(FAILED_LOGINS)),
    )
    assert not [h for h in stream.health() if h["kind"] == "late_event" and "hana" in json.dumps(h)]


def _applied(stream: Platform, version: int) -> None:
    # A change applies to events processed after it arrived (no event-time alignment of rule versions).
    stream.wait_for(
        f"rule change {version}",
        lambda: any(h.get("kind") == "rule_change" and h["version"] == version for h in stream.health()),
    )


def test_hot_rule_update_add_change_reject_disable(stream: Platform) -> None:
    added = stream.rules.write(put={"share.yml": SHARE_YAML.format(grade="important", level="medium")})
    _applied(stream, added.version)
    (t1,) = stream.times(1, timedelta(seconds=1))
    stream.feed([make_event("share-1", t1, "dataset.share", user="fay", classification="important")])
    stream.wait_for("alert of the added rule", lambda: bool(_with_event(stream.alerts(), "share-1")))
    assert _with_event(stream.alerts(), "share-1")[0]["rule.level"] == "medium"

    # Two changes at once: applied in version order even when their files are read the other way.
    stream.rules.write(put={"share.yml": SHARE_YAML.format(grade="important", level="critical")})
    # A broken version of the same rule: rejected with its error, the critical version stays active.
    broken = stream.rules.write(put={"share.yml": "title: broken\nlogsource: {}\ndetection: {}\n"})
    stream.wait_for(
        "the rejection of the broken version",
        lambda: any(h.get("version") == broken.version and h.get("rejected") for h in stream.health()),
    )
    (record,) = [h for h in stream.health() if h.get("version") == broken.version]
    assert list(record["rejected"]) == ["share.yml"]
    assert "share.yml" in record["rejected"]["share.yml"][0]
    (t2,) = stream.times(1, timedelta(seconds=1))
    stream.feed([make_event("share-2", t2, "dataset.share", user="fay", classification="important")])
    stream.wait_for("alert of the changed rule", lambda: bool(_with_event(stream.alerts(), "share-2")))
    assert _with_event(stream.alerts(), "share-2")[0]["rule.level"] == "critical"

    disabled = stream.rules.write(disable=["share.yml"])
    _applied(stream, disabled.version)
    t3, t4 = stream.times(2, timedelta(seconds=1))
    stream.feed(
        [
            make_event("share-3", t3, "dataset.share", user="fay", classification="important"),
            make_event("share-core", t4, "dataset.download", user="fay", classification="core"),
        ]
    )
    stream.wait_for(
        "the next alert after the disable", lambda: bool(_with_event(stream.alerts(), "share-core"))
    )
    assert not _with_event(stream.alerts(), "share-3")
    assert len(stream.alerts_of(SHARE_RULE)) == 2


def test_bad_input_is_reported_not_dropped(stream: Platform) -> None:
    start = stream.spool.range(EVENTS).end
    stream.spool.append(EVENTS, [b"not json", json.dumps({"no": "timestamp"}).encode()], now=NOW)
    stream.exporter.export_all()
    stream.wait_for("two bad_event records", lambda: stream.count("bad_event") >= 2)
    bad = {h["offset"]: h for h in stream.health() if h["kind"] == "bad_event"}
    assert bad[start]["line"] == "not json"
    assert bad[start + 1]["reason"] == "@timestamp is missing or not a string"
    # A foreign line in the input directory is not a batch: reported too, never a crash.
    (Path(stream.config.input_dir) / "events-x.jsonl").write_text('{"o": 1, "e": {}}\n')
    stream.wait_for("the bad_batch record", lambda: stream.count("bad_batch") >= 1)


def test_late_events_leave_correlation_but_still_alert_alone(stream: Platform) -> None:
    (now,) = stream.times(1, timedelta(minutes=10))
    stream.feed(
        [
            make_event("gina-now", now, "user.login", user="gina", outcome="failure"),
            make_event("gina-mark", now, "dataset.download", user="gina", classification="core"),
        ]
    )
    stream.wait_for("the marker alert", lambda: bool(_with_event(stream.alerts(), "gina-mark")))
    late = now - timedelta(minutes=5)  # far behind the group's horizon (bound 2 s)
    stream.feed(
        [
            make_event("gina-late", late, "user.login", user="gina", outcome="failure"),
            make_event("late-core", late, "dataset.download", user="gina", classification="core"),
        ]
    )
    stream.wait_for("the late core download's alert", lambda: bool(_with_event(stream.alerts(), "late-core")))
    stream.wait_for(
        "the late event report",
        lambda: any(h["kind"] == "late_event" and h["rule"] == FAILED_LOGINS for h in stream.health()),
    )


def test_rule_health_counts_matches_and_time(stream: Platform) -> None:
    stream.wait_for(
        "a rule health record", lambda: any(h["kind"] == "rule_health" for h in stream.health()), timeout=30
    )
    last = [h for h in stream.health() if h["kind"] == "rule_health"][-1]
    matches, nanos, errors = last["rules"][CORE_DOWNLOAD]
    assert matches >= 2
    assert nanos > 0
    assert errors == 0


def test_rule_pack_is_reported_as_applied(stream: Platform) -> None:
    first = [h for h in stream.health() if h.get("kind") == "rule_change" and h["version"] == 1]
    assert first
    assert sorted(first[0]["accepted"]) == sorted(
        rule_texts("core_download.yml", "failed_login.yml", "lone_delete.yml")
    )
    assert json.dumps(first[0]["rejected"]) == "{}"


TAKEOVER = "5a0c1b9e-0d7e-4f43-9a11-0000000000c1"
TAKEOVER_YAML = """
title: Login success after repeated failures
name: login_success
status: test
logsource:
  product: datasoc
  service: auth
detection:
  selection:
    event.action: user.login
    event.outcome: success
  condition: selection
level: informational
---
title: Account takeover (failures then success)
id: 5a0c1b9e-0d7e-4f43-9a11-0000000000c1
status: test
correlation:
  type: temporal_ordered
  rules:
    - 5a0c1b9e-0d7e-4f43-9a11-000000000003
    - login_success
  group-by:
    - user.name
  timespan: 5m
  generate: true
level: critical
"""


def test_chained_correlation_runs_over_two_stages_in_order(stream: Platform) -> None:
    # A correlation over a correlation: the inner matches (stage 1) and the outer rule's own event
    # (the success, passed through stage 1) reach stage 2 in the order a sequential engine sees them.
    change = stream.rules.write(put={"takeover.yml": TAKEOVER_YAML})
    _applied(stream, change.version)
    times = stream.times(4, timedelta(seconds=2))
    fails = [
        make_event(f"ivan-f{i}", t, "user.login", user="ivan", outcome="failure")
        for i, t in enumerate(times[:3])
    ]
    success = make_event("ivan-ok", times[3], "user.login", user="ivan")
    stream.feed([*fails, success])
    stream.wait_for("the takeover alert", lambda: bool(stream.alerts_of(TAKEOVER)))
    (alert,) = stream.alerts_of(TAKEOVER)
    assert sorted(alert["event_ids"]) == ["ivan-f0", "ivan-f1", "ivan-f2", "ivan-ok"]
    assert alert["group"] == {"user.name": "ivan"}
    assert alert["warning_level"] == "red"
    # generate: true keeps the inner rule's own alert.
    assert any(a["group"] == {"user.name": "ivan"} for a in stream.alerts_of(FAILED_LOGINS))
