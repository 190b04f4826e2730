"""Retention through RetentionJob (contract: runs against every backend)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from datasoc.event import Event
from datasoc.store import (
    MIN_RETENTION_DAYS,
    EventStore,
    PurgeReport,
    RetentionJob,
    RetentionPolicyError,
    SearchQuery,
)
from datasoc.store.retention import check_retention_days, retention_cutoff

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
MakeEvent = Callable[..., Event]


def all_ids(store: EventStore) -> set[str]:
    query = SearchQuery(
        start=datetime(2000, 1, 1, tzinfo=UTC), end=datetime(2100, 1, 1, tzinfo=UTC), limit=1000
    )
    return {event.event_id for event in store.search(query).events}


def test_purge_deletes_older_keeps_cutoff_and_newer(store: EventStore, make_event: MakeEvent) -> None:
    cutoff = NOW - timedelta(days=184)
    micro = timedelta(microseconds=1)
    store.insert_many(
        [
            make_event("old", cutoff - timedelta(days=30), {"log.original": "old 导出 record"}),
            make_event("just-before", cutoff - micro),
            make_event("at-cutoff", cutoff),
            make_event("newer", cutoff + micro),
            make_event("today", NOW - timedelta(hours=1)),
        ]
    )
    reports: list[PurgeReport] = []
    report = RetentionJob(store, 184, on_purge=reports.append).run(NOW)
    assert report == PurgeReport(ran_at=NOW, cutoff=cutoff, retention_days=184, purged=2)
    assert reports == [report]
    assert all_ids(store) == {"at-cutoff", "newer", "today"}
    assert store.get("old") is None
    # The full-text index forgot the purged events too.
    assert store.count(SearchQuery(start=cutoff - timedelta(days=60), end=NOW, text="导出")) == 0
    assert store.count(SearchQuery(start=cutoff - timedelta(days=60), end=NOW, text="record")) == 0


def test_second_run_purges_nothing_and_still_reports(store: EventStore, make_event: MakeEvent) -> None:
    store.insert_many([make_event("old", NOW - timedelta(days=400))])
    reports: list[PurgeReport] = []
    job = RetentionJob(store, on_purge=reports.append)
    assert job.retention_days == 184  # the default
    assert job.run(NOW).purged == 1
    assert job.run(NOW).purged == 0
    assert [r.purged for r in reports] == [1, 0]
    assert reports[1].to_dict() == {
        "ran_at": "2026-11-28T03:00:00.000000Z",
        "cutoff": "2026-05-28T03:00:00.000000Z",
        "retention_days": 184,
        "purged": 0,
    }


def test_purge_larger_than_one_batch(store: EventStore, make_event: MakeEvent) -> None:
    old = NOW - timedelta(days=300)
    store.insert_many([make_event(f"o{i:05d}", old + timedelta(seconds=i)) for i in range(10_050)])
    store.insert_many([make_event("keep", NOW)])
    assert RetentionJob(store).run(NOW).purged == 10_050
    assert all_ids(store) == {"keep"}


@pytest.mark.parametrize("days", [1, 30, 180, 183])
def test_short_retention_is_refused_with_the_reason(store: EventStore, days: int) -> None:
    with pytest.raises(RetentionPolicyError) as caught:
        RetentionJob(store, days)
    message = str(caught.value)
    assert f"retention_days={days}" in message
    assert "MLPS 2.0 level 3" in message
    assert "at least 6 months" in message
    assert "allow_short_retention" in message


def test_short_retention_allowed_with_override(store: EventStore, make_event: MakeEvent) -> None:
    store.insert_many([make_event("two-days", NOW - timedelta(days=2)), make_event("today", NOW)])
    report = RetentionJob(store, 1, allow_short_retention=True).run(NOW)
    assert report.purged == 1
    assert report.cutoff == NOW - timedelta(days=1)
    assert all_ids(store) == {"today"}


@pytest.mark.parametrize("days", [0, -5, 184.0, "184", True, None])
def test_retention_days_must_be_a_positive_int(days: object) -> None:
    with pytest.raises(RetentionPolicyError, match="positive whole number"):
        check_retention_days(days, allow_short_retention=True)


def test_minimum_is_six_months() -> None:
    assert MIN_RETENTION_DAYS == 184  # the longest six calendar months: July to December
    assert check_retention_days(184) == 184
    assert retention_cutoff(NOW, 184) == datetime(2026, 5, 28, 3, 0, tzinfo=UTC)


def test_run_needs_an_aware_now(store: EventStore) -> None:
    with pytest.raises(RetentionPolicyError, match=r"now: .*no offset"):
        RetentionJob(store).run(datetime(2026, 11, 28))  # noqa: DTZ001


def test_on_purge_error_propagates_after_the_purge(store: EventStore, make_event: MakeEvent) -> None:
    store.insert_many([make_event("old", NOW - timedelta(days=400))])

    def failing_ledger(report: PurgeReport) -> None:
        raise RuntimeError("ledger unavailable")

    with pytest.raises(RuntimeError, match="ledger unavailable"):
        RetentionJob(store, on_purge=failing_ledger).run(NOW)
    assert store.get("old") is None  # documented: the report comes after the committed delete
