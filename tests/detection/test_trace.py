"""The grant trace: each condition of a grant, the cumulative cap, and the loop's lanes and alerts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from datasoc.grants import Grant, GrantBook, GrantTerms
from detection.bundle import RuleBundle
from detection.engine import LoadResult
from detection.loop import DetectionLoop, Detections, GrantTracer, Lane, build_alerts
from detection.trace import (
    ALLOWED,
    OPEN,
    VIOLATION,
    MemoryUsage,
    owner_lane,
    trace,
    trace_alert,
)

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
TERMS = GrantTerms(
    assets={"ds-hjqy": frozenset({"xm", "csrq"}), "ds-jsr": None},
    valid_from=T0 - timedelta(days=10),
    valid_to=T0 + timedelta(days=10),
    region="东湖区",
    record_cap=1000,
    export=False,
)
GRANT = Grant.issue("SQ-7", "wangwei", TERMS, purpose="统计", approvers=("owner1",))


def access(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "@timestamp": "2026-03-02T01:00:00.000000Z",
        "event.id": "ev-1",
        "event.action": "dataset.query",
        "event.outcome": "success",
        "datasoc.actor_role": "user",
        "datasoc.lifecycle": "use",
        "user.name": "wangwei",
        "data.asset.id": "ds-hjqy",
        "data.classification": "important",
        "data.records": 200,
        "data.fields": ["xm"],
        "source.geo.name": "东湖区",
        "approval.id": "SQ-7",
    }
    event.update(changes)
    return {k: v for k, v in event.items() if v is not None}


def judge(event: dict[str, Any], book: GrantBook | None = None) -> tuple[str, tuple[str, ...]]:
    result = trace(event, book or GrantBook.of([GRANT]), MemoryUsage())
    assert result is not None
    return result.verdict, result.violations


def test_an_access_within_every_term_is_allowed() -> None:
    assert judge(access()) == (ALLOWED, ())
    assert judge(access(**{"data.asset.id": "ds-jsr", "data.fields": ["any", "field"]})) == (ALLOWED, ())


@pytest.mark.parametrize(
    ("changes", "violations"),
    [
        ({"approval.id": None}, ("no_grant",)),
        ({"approval.id": None, "data.classification": "core"}, ("no_grant",)),
        ({"approval.id": "SQ-404"}, ("unknown_grant",)),
        ({"user.name": "lina"}, ("not_grantee",)),
        ({"data.asset.id": "ds-rkjc"}, ("asset_not_granted",)),
        ({"@timestamp": "2026-02-01T00:00:00.000000Z"}, ("not_yet_valid",)),
        ({"@timestamp": "2026-03-12T01:00:00.000000Z"}, ("expired",)),  # valid_to is excluded
        ({"source.geo.name": "西山区"}, ("outside_region",)),
        ({"source.geo.name": None, "source.geo.city_name": "上海市"}, ("outside_region",)),
        ({"data.fields": ["xm", "sfzh"]}, ("fields_not_granted",)),
        ({"data.fields": "xm,sfzh"}, ("fields_not_granted",)),
        ({"datasoc.lifecycle": "transmit", "event.action": "dataset.download"}, ("export_not_allowed",)),
        ({"data.records": 1001}, ("over_cap",)),
        ({"user.name": "lina", "source.geo.name": "西山区"}, ("not_grantee", "outside_region")),
    ],
)
def test_each_broken_term_is_a_violation(changes: dict[str, Any], violations: tuple[str, ...]) -> None:
    assert judge(access(**changes)) == (VIOLATION, violations)


def test_general_data_without_a_grant_is_open_and_other_events_are_not_traced() -> None:
    assert judge(access(**{"approval.id": None, "data.classification": "general"})) == (OPEN, ())
    assert judge(access(**{"approval.id": None, "data.classification": None})) == (OPEN, ())
    book = GrantBook.of([GRANT])
    for changes in (
        {"event.outcome": "failure"},
        {"datasoc.actor_role": "provider"},
        {"datasoc.lifecycle": "delete"},
        {"datasoc.lifecycle": None},
    ):
        assert trace(access(**changes), book, MemoryUsage()) is None


def test_the_cap_is_cumulative_over_the_grantees_accesses_only() -> None:
    book, usage = GrantBook.of([GRANT]), MemoryUsage()
    verdicts = [trace(access(**{"data.records": 400}), book, usage) for _ in range(3)]
    assert [r.verdict for r in verdicts if r] == [ALLOWED, ALLOWED, VIOLATION]
    assert [r.used for r in verdicts if r] == [400, 800, 1200]
    assert verdicts[2] is not None
    assert verdicts[2].violations == ("over_cap",)
    # Someone else presenting the grant does not use it up (and is a violation of its own).
    other = trace(access(**{"user.name": "lina", "data.records": 5000}), book, usage)
    assert other is not None
    assert other.violations == ("not_grantee",)
    assert other.used is None
    assert usage.get("SQ-7") == 1200


def test_revocation_and_narrowing_apply_from_their_time_by_event_time() -> None:
    revoked_at = T0 + timedelta(hours=1)
    narrowed = GRANT.narrow(
        GrantTerms(
            assets={"ds-jsr": None},
            valid_from=TERMS.valid_from,
            valid_to=TERMS.valid_to,
            region="东湖区",
            record_cap=100,
        ),
        T0 - timedelta(hours=1),
    ).revoke(revoked_at)
    book = GrantBook.of([narrowed])
    # Narrowed before the access: its asset is gone and its 200 records pass the new cap of 100.
    assert judge(access(), book) == (VIOLATION, ("asset_not_granted", "over_cap"))
    later = access(
        **{"@timestamp": "2026-03-02T02:00:00.000000Z", "data.asset.id": "ds-jsr", "data.records": 50}
    )
    assert judge(later, book) == (VIOLATION, ("revoked",))
    before = access(**{"@timestamp": "2026-03-02T00:30:00.000000Z", "data.asset.id": "ds-jsr"})
    assert judge(before, book) == (VIOLATION, ("over_cap",))  # 200 records under the cap of 100


def test_a_violation_alert_carries_the_grants_context() -> None:
    event = access(**{"source.geo.name": "西山区", "data.fields": ["xm", "sfzh"]})
    result = trace(event, GrantBook.of([GRANT]), MemoryUsage())
    assert result is not None
    alert = trace_alert(result, event)
    assert alert.rule_id == "datasoc-grant-outside-region"
    assert alert.rule_title.endswith("Access from outside the granted region")
    assert alert.warning_level == "orange"  # high rule on important data
    assert alert.context["violations"] == ["outside_region", "fields_not_granted"]
    assert alert.context["grant"]["id"] == "SQ-7"
    assert alert.context["grant"]["terms"]["region"] == "东湖区"
    assert alert.context["access"] == {
        "region": "西山区",
        "records": 200,
        "fields": ["xm", "sfzh"],
        "used": 200,
        "fields_not_granted": ["sfzh"],
    }
    assert alert.to_dict()["context"] == alert.context
    assert trace_alert(result, event).alert_id == alert.alert_id  # the same access, the same alert
    allowed = trace(access(), GrantBook.of([GRANT]), MemoryUsage())
    assert allowed is not None
    with pytest.raises(ValueError, match="no alert"):
        trace_alert(allowed, access())


def _bundle() -> RuleBundle:
    return RuleBundle.from_loaded(LoadResult(rules=[], correlations=[], errors=[]))


def _run(events: list[dict[str, Any]], lanes: int) -> list[tuple[str, tuple[str, ...]]]:
    book = GrantBook.of([GRANT, Grant.issue("SQ-8", "lina", TERMS)])
    found: list[tuple[str, tuple[str, ...]]] = []
    loops = [
        DetectionLoop(_bundle(), lane=Lane(i, lanes), tracer=GrantTracer(book, MemoryUsage()))
        for i in range(lanes)
    ]
    for position, event in enumerate(events):
        for loop in loops:
            out = Detections()
            loop.event(position, event, None, out)
            found += [(a.rule_id, a.event_ids) for a in build_alerts(out)]
    return sorted(found)


def test_lanes_trace_each_grant_in_one_lane_and_agree_with_one_lane() -> None:
    events = []
    for n in range(40):
        grant, user = ("SQ-7", "wangwei") if n % 3 else ("SQ-8", "lina")
        extra: dict[str, Any] = {"approval.id": grant, "user.name": user, "data.records": 60}
        if n % 7 == 0:
            extra = {"approval.id": None}
        events.append(access(**{"event.id": f"ev-{n}", **extra}))
    one = _run(events, 1)
    assert len([a for a in one if a[0] == "datasoc-grant-over-cap"]) > 5
    assert any(a[0] == "datasoc-grant-no-grant" for a in one)
    assert _run(events, 2) == one == _run(events, 3)
    assert {owner_lane(0, e, 4) for e in events if e.get("approval.id") == "SQ-7"} == {
        owner_lane(1, events[1], 4)
    }


def test_an_access_without_a_valid_time_is_a_problem_not_a_crash() -> None:
    loop = DetectionLoop(_bundle(), tracer=GrantTracer(GrantBook.of([GRANT]), MemoryUsage()))
    out = Detections()
    loop.event(0, access(**{"@timestamp": "not a time"}), None, out)
    assert [p.what for p in out.problems] == ["trace_error"]
    assert not out.traced
