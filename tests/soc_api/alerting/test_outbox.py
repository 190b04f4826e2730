"""Outbox keys (soc_api.alerting.outbox)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from soc_api.alerting.intake import store_alert_id
from soc_api.alerting.outbox import notification_key


def test_notification_keys_are_stable_distinct_and_follow_their_alerts_time() -> None:
    early = store_alert_id("al-b", datetime(2026, 12, 3, 8, tzinfo=UTC))
    later = store_alert_id("al-a", datetime(2026, 12, 3, 8, tzinfo=UTC) + timedelta(milliseconds=1))
    key = notification_key(early, "hook", "alert", "red")
    assert key == notification_key(early, "hook", "alert", "red")  # a replay writes the same key
    assert re.fullmatch(r"ntf-[0-9a-f]{32}", key)
    assert key[4:15] == early[4:15]
    assert notification_key(later, "hook", "alert", "red") > key
    variants = (("mail", "alert", "red"), ("hook", "level_raised", "red"))
    others = {notification_key(early, *p) for p in variants}
    assert key not in others
    assert len(others) == 2
    bulletin = notification_key("bul-1", "hook", "bulletin")
    assert re.fullmatch(r"ntf-[0-9a-f]{32}", bulletin)
