"""`datasoc.local_hour` and `datasoc.workday`, added to every parsed event by the base parser."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from collectors.errors import ParseError
from collectors.parsers import ApiGatewayJsonParser, LinuxSyslogParser, WindowsEventParser
from collectors.parsers.base import local_time_fields

LINE = (
    '{"time":"%s","request_id":"r1","client_ip":"10.21.3.4","consumer":"wangwei",'
    '"method":"GET","uri":"/api/v1/datasets","status":200}'
)


@pytest.mark.parametrize(
    ("stamp", "hour", "workday"),
    [
        ("2026-03-02T09:13:22+08:00", 9, True),  # Monday morning
        ("2026-03-01T23:59:59Z", 7, True),  # Sunday in UTC, Monday 07:59 in Shanghai
        ("2026-03-06T16:00:00Z", 0, False),  # Friday in UTC, Saturday 00:00 in Shanghai
        ("2026-03-08T15:59:59Z", 23, False),  # Sunday 23:59:59 in Shanghai
        ("2026-03-06T15:59:59Z", 23, True),  # Friday 23:59:59 in Shanghai
    ],
)
def test_gateway_event_gets_its_shanghai_hour_and_weekday(
    stamp: str, hour: int, workday: bool, now: datetime, new_id: Callable[[], str]
) -> None:
    event = ApiGatewayJsonParser(collector="t").parse(LINE % stamp, source="s", now=now, new_id=new_id)
    assert event.get("datasoc.local_hour") == hour
    assert event.get("datasoc.workday") is workday


def test_zone_is_a_parameter(now: datetime, new_id: Callable[[], str]) -> None:
    line = LINE % "2026-03-02T09:13:22+08:00"
    utc = ApiGatewayJsonParser(collector="t", local_tz="UTC").parse(line, source="s", now=now, new_id=new_id)
    assert utc.get("datasoc.local_hour") == 1
    fixed = ApiGatewayJsonParser(collector="t", local_tz=timezone(timedelta(hours=-5)))
    assert fixed.parse(line, source="s", now=now, new_id=new_id).get("datasoc.local_hour") == 20
    assert fixed.parse(line, source="s", now=now, new_id=new_id).get("datasoc.workday") is False  # Sunday


def test_unknown_zone_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        ApiGatewayJsonParser(collector="t", local_tz="Mars/Olympus")


def test_public_holidays_are_not_applied() -> None:
    # 2026-10-01 (National Day, a Thursday) still counts as a working day: no holiday calendar yet.
    fields = local_time_fields(datetime(2026, 10, 1, 2, tzinfo=UTC), timezone(timedelta(hours=8)))
    assert fields == {"datasoc.local_hour": 10, "datasoc.workday": True}


def test_syslog_zone_reads_the_time_and_gives_the_hour(now: datetime, new_id: Callable[[], str]) -> None:
    line = "Mar  2 23:10:05 db01 sshd[811]: Accepted password for root from 10.10.1.5 port 50122 ssh2"
    event = LinuxSyslogParser(collector="t").parse(line, source="auth.log", now=now, new_id=new_id)
    assert event.get("@timestamp") == "2026-03-02T15:10:05.000000Z"
    assert event.get("datasoc.local_hour") == 23
    assert event.get("datasoc.workday") is True


def test_windows_events_get_local_time_too(now: datetime, new_id: Callable[[], str]) -> None:
    record = {
        "Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing"}},
                "EventID": 4625,
                "TimeCreated": {"#attributes": {"SystemTime": "2026-03-07T02:00:00.000Z"}},
                "EventRecordID": 7,
                "Channel": "Security",
                "Computer": "dc01",
            },
            "EventData": {"TargetUserName": "bob"},
        }
    }
    parser = WindowsEventParser(collector="t")
    event = parser.parse(json.dumps(record), source="sec.jsonl", now=now, new_id=new_id)
    assert event.get("datasoc.local_hour") == 10
    assert event.get("datasoc.workday") is False  # Saturday in Shanghai


def test_naive_times_stay_rejected(now: datetime, new_id: Callable[[], str]) -> None:
    with pytest.raises(ParseError, match="no offset"):
        ApiGatewayJsonParser(collector="t").parse(
            LINE % "2026-03-02T09:13:22", source="s", now=now, new_id=new_id
        )


def test_local_time_of_an_aware_moment_is_pure() -> None:
    moment = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    assert local_time_fields(moment, timezone(timedelta(hours=8))) == local_time_fields(
        moment.astimezone(timezone(timedelta(hours=3))), timezone(timedelta(hours=8))
    )
