"""The alerting API's public schemas read the store's records field by field (nothing else leaks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from soc_api.alerting.records import Member, NotificationRecord
from soc_api.webapi.alerting_schemas import MemberPublic, NotificationPublic

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def notification(status: str = "delivered") -> NotificationRecord:
    return NotificationRecord(
        id=7,
        key="a1:raised:ops",
        channel="ops",
        kind="raised",
        alert_id="a1",
        payload={"secret": "never served"},
        created_at=T0,
        status=status,
        batch="b1",
        attempts=2,
        next_attempt_at=T0 + timedelta(seconds=30),
        last_error=None,
        delivered_at=T0 + timedelta(seconds=31),
        acked_at=None,
    )


def test_a_notification_is_served_without_its_payload_or_batch() -> None:
    assert NotificationPublic.of(notification()).model_dump(mode="json") == {
        "id": 7,
        "key": "a1:raised:ops",
        "channel": "ops",
        "kind": "raised",
        "alert_id": "a1",
        "status": "delivered",
        "attempts": 2,
        "created_at": "2026-03-02T08:00:00Z",
        "next_attempt_at": "2026-03-02T08:00:30Z",
        "last_error": None,
        "delivered_at": "2026-03-02T08:00:31Z",
        "acked_at": None,
    }


def test_a_notification_status_outside_the_schema_is_refused() -> None:
    with pytest.raises(ValidationError, match="status"):
        NotificationPublic.of(notification(status="sending"))


def test_a_member_is_served_with_its_event_ids_as_a_list() -> None:
    member = Member("d1", "a1", T0, T0 + timedelta(minutes=1), 3, ("e1", "e2", "e3"), T0)
    assert MemberPublic.of(member).model_dump(mode="json") == {
        "detection_id": "d1",
        "first_seen": "2026-03-02T08:00:00Z",
        "last_seen": "2026-03-02T08:01:00Z",
        "events": 3,
        "event_ids": ["e1", "e2", "e3"],
    }
