"""The demo replayed through every parser: its fields are known, approvals and local time are joined."""

from __future__ import annotations

from typing import Any

from collectors.errors import ParseError
from datasoc.event import Event, parse_timestamp
from datasoc.fields import is_known_field
from soc_api.demo.records import SOURCES

CHINA_OFFSET_HOURS = 8


def test_every_replayed_field_is_known(events: dict[tuple[str, int], Event]) -> None:
    """`datasoc.fields` is the one list of fields; a parser adding one must add it there."""
    unknown: dict[str, str] = {}
    for (name, _), event in events.items():
        for key in event.to_dict():
            if not is_known_field(key):
                unknown.setdefault(key, name)
    assert unknown == {}
    assert {name for name, _ in events} == set(SOURCES)  # every demo parser took part


def test_replay_joins_the_approval_register(
    events: dict[tuple[str, int], Event], approvals: dict[str, dict[str, Any]]
) -> None:
    claimed = [e for e in events.values() if e.get("approval.id")]
    assert len(claimed) > 20
    for event in claimed:
        approval = approvals.get(event.get("approval.id"))
        if approval is None:
            assert event.get("approval.status") == "unknown"
            continue
        assert event.get("approval.region") == approval["allowed_region"]
        assert event.get("approval.user") == approval["user"]
        assert event.get("approval.dataset") == approval["dataset"]
        start, end = parse_timestamp(approval["valid_from"]), parse_timestamp(approval["valid_to"])
        expected = "approved" if start <= parse_timestamp(event.get("@timestamp")) < end else "expired"
        assert event.get("approval.status") == expected


def test_replay_adds_shanghai_local_time(
    replayed: list[tuple[str, int, Event | ParseError]],
) -> None:
    parsed = [r for _, _, r in replayed if isinstance(r, Event)]
    assert parsed
    for event in parsed:
        moment = parse_timestamp(event.get("@timestamp"))
        assert event.get("datasoc.local_hour") == (moment.hour + CHINA_OFFSET_HOURS) % 24
        local_day = (moment.toordinal() + (moment.hour + CHINA_OFFSET_HOURS) // 24 - 1) % 7  # 0 = Monday
        assert event.get("datasoc.workday") is (local_day < 5)
