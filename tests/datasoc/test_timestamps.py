"""The one time form (datasoc.timestamps)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from datasoc.timestamps import format_timestamp, parse_timestamp


def test_format_timestamp_is_stable() -> None:
    cst = timezone(timedelta(hours=8))
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5, tzinfo=cst)) == "2026-01-01T19:04:05.000000Z"
    with pytest.raises(ValueError, match="no time zone"):
        format_timestamp(datetime(2026, 1, 2))  # noqa: DTZ001 - the point of the test


def test_format_timestamp_pads_early_years_and_keeps_microseconds() -> None:
    # RFC 3339 years have four digits (strftime's %Y wrote "5-01-01" on glibc).
    assert format_timestamp(datetime(5, 1, 1, tzinfo=UTC)) == "0005-01-01T00:00:00.000000Z"
    assert format_timestamp(datetime(2026, 12, 3, 1, 2, 3, 7, tzinfo=UTC)) == "2026-12-03T01:02:03.000007Z"


def test_parse_timestamp_round_trips_and_refuses_naive_times() -> None:
    when = datetime(2026, 12, 3, 1, 2, 3, 7, tzinfo=UTC)
    assert parse_timestamp(format_timestamp(when)) == when
    assert parse_timestamp("2026-12-03T09:02:03.000007+08:00") == when
    with pytest.raises(ValueError, match="no offset"):
        parse_timestamp("2026-12-03T01:02:03")
