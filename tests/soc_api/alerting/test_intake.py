"""Intake: exactly once by detection alert id, grouped by rule and key within the window."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from soc_api.alerting import store
from soc_api.alerting.intake import store_alert_id
from tests.soc_api.alerting.conftest import AlertEnv, detection_alert


def test_twelve_downloads_roll_up_into_one_alert_with_a_count(alerting: AlertEnv) -> None:
    alerts = [detection_alert(n) for n in range(12)]
    report = alerting.take(alerts[:5])
    assert (report.created, report.grouped) == (1, 4)
    report = alerting.take(alerts)  # a replay of the first five with seven more
    assert (report.created, report.grouped, report.duplicates) == (0, 7, 5)
    listed = alerting.service.find(store.AlertQuery())
    assert len(listed) == 1
    alert = listed[0]
    assert alert.count == 12
    assert alert.events == 12
    assert alert.first_seen == alerts[0].first_seen
    assert alert.last_seen == alerts[-1].last_seen
    assert alert.warning_level == "red"  # high rule on core data
    assert alert.event_class == "data_security"
    assert alert.grade == "core"
    assert dict(alert.group) == {
        "user.name": "luowen",
        "source.ip": "10.23.4.5",
        "data.asset.id": "ds-core-1",
    }
    detail = alerting.service.get(alert.id)
    assert len(detail.members) == 12
    assert [c.action for c in detail.changes] == ["new"] + ["grouped"] * 11
    # One notification for the new alert, none for the roll-ups.
    assert [n.kind for n in detail.notifications] == ["alert"]
    kinds = [e["kind"] for e in alerting.env.entries("alert.")]
    assert kinds.count("alert.new") == 1
    assert kinds.count("alert.grouped") == 11


def test_other_keys_and_gaps_beyond_the_window_make_new_alerts(alerting: AlertEnv) -> None:
    alerting.take([detection_alert(0), detection_alert(1, user="someone-else")])
    later = detection_alert(2, at=alerting.env.clock() + timedelta(hours=3))
    report = alerting.take([later])
    assert report.created == 1
    assert len(alerting.service.find(store.AlertQuery())) == 3


def test_a_run_that_catches_up_stops_and_a_backlog_asks_for_more(alerting: AlertEnv) -> None:
    """Records that arrive while a run catches up wait for the next run as one batch, instead of the
    run chasing them in batches of a few (each with its transaction and ledger commit)."""
    from datasoc.transport import ALERTS, Spool
    from soc_api.alerting.intake import AlertIntake
    from soc_api.detector import encode_alert

    spool = Spool.open(alerting.env.root / "spool")
    try:
        intake = AlertIntake(spool, alerting.env.state, alerting.recorder, alerting.config, batch_size=10)
        now = alerting.env.clock()
        spool.append(ALERTS, [encode_alert(detection_alert(n, user=f"u{n}")) for n in range(25)], now=now)
        two = intake.run(now=now, max_batches=2)
        assert (two.read, two.backlog, two.more) == (20, True, True)
        rest = intake.run(now=now)
        assert (rest.read, rest.backlog, rest.more) == (5, False, False)
        spool.append(ALERTS, [encode_alert(detection_alert(n, user=f"u{n}")) for n in range(25, 55)], now=now)
        drained = intake.run(now=now)  # full batches go on; the short one ends the run
        assert (drained.read, drained.created, drained.backlog, drained.more) == (30, 30, False, False)
        assert len(alerting.service.find(store.AlertQuery(limit=100))) == 55
    finally:
        spool.close()


def test_the_checkpoint_due_after_an_intake_is_signed_once_its_transaction_is_over(
    alerting: AlertEnv,
) -> None:
    """The intake appends inside its transaction without signing, then signs what became due."""
    store_ = alerting.env.ledger.store
    assert store_.latest_checkpoint() is None
    alerting.take([detection_alert(n, user=f"u{n}") for n in range(3)])
    latest = store_.latest_checkpoint()
    assert latest is not None
    assert latest.checkpoint.size == store_.size
    assert [e.kind for e in store_.entries()].count("alert.new") == 3


def test_store_alert_ids_are_stable_and_sort_by_first_seen() -> None:
    early = datetime(2026, 12, 3, 8, 0, 0, tzinfo=UTC)
    later = early + timedelta(milliseconds=1)
    a = store_alert_id("al-zzzz", early)
    assert a == store_alert_id("al-zzzz", early)  # a replay derives the same id
    assert re.fullmatch(r"alr-[0-9a-f]{24}", a)
    assert store_alert_id("al-0000", later) > a  # later first seen sorts after, whatever the hash
    assert store_alert_id("al-0001", early) != a
