"""The pure policies: levels and classes, suppression, lifecycle, SLA, routing, notices, schedule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from datasoc.settings_alerting import BulletinSettings
from soc_api.alerting.bulletins import due_periods
from soc_api.alerting.config import RetryPolicy, default_config
from soc_api.alerting.errors import InvalidAlertingRequest, TransitionRefused
from soc_api.alerting.facts import in_window
from soc_api.alerting.levels import ClassRules
from soc_api.alerting.lifecycle import check_note, next_status
from soc_api.alerting.notices import (
    WECOM_LIMIT,
    AlertSummary,
    Notice,
    digest_markdown,
    markdown,
    truncate_utf8,
)
from soc_api.alerting.routing import Route, RouteQuery, channels_for
from soc_api.alerting.sla import evaluate
from soc_api.alerting.suppression import Condition, Suppression

T = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_level_table_and_event_classes() -> None:
    levels = default_config().grouping.levels
    assert [levels.level("high", g) for g in (None, "general", "important", "core")] == [
        "orange",
        "orange",
        "orange",
        "red",
    ]
    assert levels.level("low", "core") == "orange"
    assert levels.level("medium", "important") == "yellow"
    rules = ClassRules.with_configured([("attack.t1078", "abnormal_behavior")])
    assert rules.classify(["attack.t1078", "attack.initial_access"]) == "abnormal_behavior"
    assert rules.classify(["attack.defense_evasion", "mlps.8.1.4.3"]) == "violation"
    assert rules.classify(["gbt.43697.core"]) == "data_security"
    assert rules.classify(["mlps.8.1.4.3"]) == "security_hazard"
    assert rules.classify([]) == "other"


def test_window_is_a_session_gap() -> None:
    hour = 3600
    assert in_window(T, T, T + timedelta(minutes=59), T + timedelta(minutes=59), hour)
    assert not in_window(T, T, T + timedelta(minutes=61), T + timedelta(minutes=61), hour)
    assert in_window(
        T, T + timedelta(hours=5), T + timedelta(hours=5, minutes=30), T + timedelta(hours=6), hour
    )
    assert in_window(T, T, T - timedelta(minutes=30), T - timedelta(minutes=30), hour)  # late arrival


def test_suppression_conditions_owner_and_expiry() -> None:
    s = Suppression(
        "sup-1",
        "rule-a",
        (Condition("user.name", "eq", ("svc_backup",)), Condition("source.ip", "cidr", ("10.10.0.0/16",))),
        owner="张三",
        reason="nightly backup",
        expires_at=T + timedelta(days=7),
        created_by="user:sec",
        created_at=T,
    )
    facts = {"user.name": "svc_backup", "source.ip": "10.10.3.4"}
    assert s.covers("rule-a", facts, T + timedelta(days=1))
    assert not s.covers("rule-b", facts, T)
    assert not s.covers("rule-a", {**facts, "source.ip": "10.11.0.1"}, T)
    assert not s.covers("rule-a", {"source.ip": "10.10.3.4"}, T)  # a missing fact never matches
    assert not s.covers("rule-a", facts, T + timedelta(days=8))
    assert not replace(s, revoked_at=T).covers("rule-a", facts, T)
    with pytest.raises(InvalidAlertingRequest, match="owner and a reason"):
        replace(s, reason=" ")
    with pytest.raises(InvalidAlertingRequest, match="every rule needs"):
        replace(s, rule_id="*", conditions=())
    with pytest.raises(InvalidAlertingRequest, match="not a network"):
        Condition("source.ip", "cidr", ("10.0.0.300/8",))


def test_lifecycle() -> None:
    assert next_status("new", "notify") == "notified"
    assert next_status("in_progress", "notify") == "in_progress"
    assert next_status("notified", "start") == "in_progress"
    assert next_status("closed", "reopen") == "in_progress"
    with pytest.raises(TransitionRefused, match="allowed: \\['reopen'\\]"):
        next_status("closed", "close")
    with pytest.raises(InvalidAlertingRequest, match="disposition note"):
        check_note("  ", required=True)


def test_sla_escalates_along_the_chain_then_reminds_the_last() -> None:
    config = default_config()
    sla = replace(
        config.sla, levels={**config.sla.levels, "red": replace(config.sla.of("red"), escalation=("a", "b"))}
    )
    stage, due, first = sla.start("red", T)
    assert (stage, due, first) == ("respond", T + timedelta(minutes=15), "a")
    assert (
        evaluate(
            sla, level="red", stage="respond", due=due, step=0, assignee="a", now=due - timedelta(seconds=1)
        )
        is None
    )
    step = evaluate(
        sla, level="red", stage="respond", due=due, step=0, assignee="a", now=due + timedelta(minutes=1)
    )
    assert step is not None
    assert (step.assignee, step.previous, step.step, step.overdue) == ("b", "a", 1, timedelta(minutes=1))
    assert step.due == due + timedelta(minutes=16)
    again = evaluate(sla, level="red", stage="respond", due=step.due, step=1, assignee="b", now=step.due)
    assert again is not None
    assert (again.assignee, again.step) == ("b", 1)
    assert evaluate(sla, level="red", stage="done", due=None, step=0, assignee="a", now=T) is None
    assert sla.on_status("red", "in_progress", T, T + timedelta(hours=1)) == (
        "resolve",
        T + timedelta(hours=4),
    )
    assert sla.on_status("red", "in_progress", T, T + timedelta(hours=9), reopened=True) == (
        "resolve",
        T + timedelta(hours=13),
    )


def test_routes_match_level_grade_tags_source_and_time_of_day() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    night = Route("r1", "night", ("dingtalk",), levels=("red",), hours="22:00-06:00")
    core = Route("r2", "core", ("cascade",), grades=("core",), tags=("gbt.",))
    bulletins = Route("r3", "bulletins", ("mail",), kinds=("bulletin",))
    routes = [night, core, bulletins]
    query = RouteQuery("alert", "red", "core", ("gbt.43697.core",), ("http:apigw",))
    at_night = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    by_day = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)  # 11:00
    assert channels_for(routes, query, at_night, zone) == ["dingtalk", "cascade"]
    assert channels_for(routes, query, by_day, zone) == ["cascade"]
    assert channels_for(routes, RouteQuery("bulletin"), by_day, zone) == ["mail"]
    assert night.in_hours(time(5, 59))
    assert not night.in_hours(time(6, 0))
    assert Route("x", "sources", ("w",), sources=("http:other",)).matches(query, time(1)) is False
    with pytest.raises(InvalidAlertingRequest, match="unknown levels"):
        Route("x", "bad", ("w",), levels=("purple",))


def _notice(n: int, title: str = "核心数据批量导出") -> Notice:
    alert = AlertSummary(
        f"alr-{n}", "rule", title, "red", "core", "data_security", 12, 12, "2026-03-02T00:00:00.000000Z",
        "2026-03-02T01:00:00.000000Z", (("user.name", "luowen"),), ("http:apigw",), "new", None, "https://x/alr",
    )  # fmt: skip
    return Notice(f"ntf-{n}", "alert", "wecom", "2026-03-02T01:00:00.000000Z", alert=alert)


def test_wecom_limit_and_digests() -> None:
    long = _notice(0, "很长的标题" * 2000)
    assert len(truncate_utf8(markdown(long), WECOM_LIMIT).encode()) <= WECOM_LIMIT
    burst = [_notice(n) for n in range(500)]
    digest = digest_markdown(burst, limit_bytes=WECOM_LIMIT)
    assert len(digest.encode()) <= WECOM_LIMIT
    assert "500 条通知" in digest
    assert "and " in digest
    assert Notice.from_dict(burst[3].to_dict()) == burst[3]
    assert "\\[" in markdown(_notice(1, "[点我](http://evil)"))  # robots render markdown: links escaped


def test_retry_backoff_is_exponential_with_jitter_and_capped() -> None:
    policy = RetryPolicy(max_attempts=5, base=timedelta(seconds=2), maximum=timedelta(seconds=60))
    assert [policy.delay(n, 1.0).total_seconds() for n in (1, 2, 3, 7)] == [2, 4, 8, 60]
    assert policy.delay(3, 0.0).total_seconds() == 4


def test_bulletin_schedule_in_local_days() -> None:
    config = default_config()
    schedule = BulletinSettings(daily_at="08:00", weekly_on=1)
    monday_7 = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)  # Monday 07:00 in Shanghai
    assert due_periods(monday_7, config, schedule) == []
    monday_9 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00
    kinds = {p.kind: p for p in due_periods(monday_9, config, schedule)}
    assert kinds["daily"].start == datetime(2026, 2, 28, 16, 0, tzinfo=UTC)  # Sunday 00:00 local
    assert kinds["daily"].end - kinds["daily"].start == timedelta(days=1)
    assert kinds["weekly"].end == datetime(2026, 3, 1, 16, 0, tzinfo=UTC)
    assert kinds["weekly"].end - kinds["weekly"].start == timedelta(days=7)
