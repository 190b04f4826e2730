"""The EventStore contract: every backend in conftest.STORE_BACKENDS must pass these tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from datasoc.event import Event
from datasoc.store import (
    Bucket,
    EventStore,
    FieldFilter,
    QueryError,
    SearchQuery,
    StoreClosedError,
    TextQueryError,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
UTC8 = timezone(timedelta(hours=8))  # Asia/Shanghai has no DST
DAY = timedelta(days=1)
MakeEvent = Callable[..., Event]


def ids(events: Any) -> list[str]:
    return [event.event_id for event in events]


def search_ids(store: EventStore, **query: Any) -> list[str]:
    query.setdefault("start", T0 - DAY)
    query.setdefault("end", T0 + DAY)
    return ids(store.search(SearchQuery(**query)).events)


# -- insert, get, idempotence ------------------------------------------------------------------


def test_insert_returns_new_count_and_get_round_trips(store: EventStore, make_event: MakeEvent) -> None:
    events = [
        make_event("e1", T0, {"user.name": "张三", "Image": r"C:\Windows\System32\cmd.exe", "n": 5}),
        make_event("e2", T0 + timedelta(seconds=1)),
    ]
    assert store.insert_many(events) == 2
    got = store.get("e1")
    assert got is not None
    assert got.to_dict() == events[0].to_dict()
    assert store.get("missing") is None


def test_stored_event_gives_back_the_ledger_bytes(store: EventStore, make_event: MakeEvent) -> None:
    original = make_event(
        "e1",
        T0 + timedelta(microseconds=123456),
        {
            "user.roles": ["审计员", "admin"],
            "data.bytes": 2**53 - 1,
            "ratio": 0.1,
            "big": 1e21,
            "nested": {"b": [1, "x", None, True], "a": '\u2028 "quoted" \\'},
            "log.original": "line with \t tab and emoji 🙂",
        },
    )
    store.insert_many([original])
    loaded = store.get("e1")
    assert loaded is not None
    assert loaded.canonical() == original.canonical()
    assert loaded.timestamp == original.timestamp


def test_replay_is_idempotent_first_write_wins(store: EventStore, make_event: MakeEvent) -> None:
    first = make_event("e1", T0, {"user.name": "alice"})
    assert store.insert_many([first, make_event("e2", T0)]) == 2
    replay = [make_event("e1", T0, {"user.name": "mallory"}), make_event("e3", T0), make_event("e3", T0)]
    assert store.insert_many(replay) == 1
    assert store.insert_many([]) == 0
    got = store.get("e1")
    assert got is not None
    assert got.get("user.name") == "alice"
    assert store.count(SearchQuery(start=T0 - DAY, end=T0 + DAY)) == 3


def test_insert_refuses_non_events(store: EventStore, make_event: MakeEvent) -> None:
    with pytest.raises(QueryError, match=r"events\[1\]"):
        store.insert_many([make_event("e1", T0), {"event.id": "x"}])  # type: ignore[list-item]
    assert store.get("e1") is None  # the batch is refused as a whole


def test_reopened_store_keeps_data(open_store: Callable[[], EventStore], make_event: MakeEvent) -> None:
    store = open_store()
    store.insert_many([make_event("e1", T0, {"data.classification": "core"})])
    store.sync()
    store.close()
    reopened = open_store()
    got = reopened.get("e1")
    assert got is not None
    assert got.get("data.classification") == "core"
    assert search_ids(reopened, text="datasets") == ["e1"]


def test_closed_store_refuses_calls(store: EventStore) -> None:
    store.close()
    store.close()  # twice is harmless
    with pytest.raises(StoreClosedError):
        store.get("e1")


# -- time range --------------------------------------------------------------------------------


def test_time_range_start_inclusive_end_exclusive(store: EventStore, make_event: MakeEvent) -> None:
    micro = timedelta(microseconds=1)
    store.insert_many(
        [
            make_event("before", T0 - micro),
            make_event("at-start", T0),
            make_event("inside", T0 + timedelta(minutes=30)),
            make_event("just-before-end", T0 + timedelta(hours=1) - micro),
            make_event("at-end", T0 + timedelta(hours=1)),
        ]
    )
    got = search_ids(store, start=T0, end=T0 + timedelta(hours=1))
    assert got == ["just-before-end", "inside", "at-start"]
    assert search_ids(store, start=T0, end=T0) == []


def test_time_range_accepts_other_offsets(store: EventStore, make_event: MakeEvent) -> None:
    store.insert_many([make_event("e1", T0)])
    shanghai = T0.astimezone(UTC8)
    assert shanghai.hour == 17
    assert search_ids(store, start=shanghai, end=shanghai + timedelta(seconds=1)) == ["e1"]


# -- field filters -----------------------------------------------------------------------------


@pytest.fixture
def platform_events(store: EventStore, make_event: MakeEvent) -> EventStore:
    store.insert_many(
        [
            make_event(
                "exp-1",
                T0 + timedelta(minutes=1),
                {
                    "event.action": "data.export",
                    "user.name": "张三",
                    "user.roles": ["analyst", "exporter"],
                    "data.asset.id": "ds-0001",
                    "data.asset.name": "人口基础信息库",
                    "data.classification": "core",
                    "data.records": 50000,
                    "datasoc.lifecycle": "provide",
                    "log.original": "2026-03-02 张三 导出 人口基础信息库 50000 rows",
                },
            ),
            make_event(
                "qry-1",
                T0 + timedelta(minutes=2),
                {
                    "event.action": "data.query",
                    "user.name": "李四",
                    "user.roles": ["analyst"],
                    "data.asset.id": "ds-0002",
                    "data.asset.name": "企业信用信息",
                    "data.classification": "important",
                    "data.records": 5,
                    "log.original": "GET /api/v1/datasets/ds-0002?q=credit",
                },
            ),
            make_event(
                "win-1",
                T0 + timedelta(minutes=3),
                {
                    "event.action": "process_creation",
                    "observer.collector": "winlog",
                    "event.dataset": "windows.sysmon",
                    "Image": r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
                    "CommandLine": "powershell -enc SQBFAFgA",
                    "EventID": 1,
                    "Elevated": True,
                    "log.original": "<Event><EventID>1</EventID>...</Event>",
                },
            ),
            make_event(
                "gen-1",
                T0 + timedelta(minutes=4),
                {
                    "data.classification": "general",
                    "data.asset.id": "ds-0003",
                    "Elevated": False,
                    "log.original": "GET /api/v1/datasets/ds-0003 Mozilla/5.0",
                },
            ),
        ]
    )
    return store


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([FieldFilter.eq("user.name", "张三")], ["exp-1"]),
        ([FieldFilter.eq("data.asset.name", "企业信用信息")], ["qry-1"]),
        ([FieldFilter.eq("data.classification", "core")], ["exp-1"]),
        ([FieldFilter.any_of("data.classification", ["core", "important"])], ["qry-1", "exp-1"]),
        ([FieldFilter.eq("Image", r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe")], ["win-1"]),
        ([FieldFilter.prefix("Image", "C:\\Windows\\")], ["win-1"]),
        ([FieldFilter.prefix("data.asset.id", "ds-000")], ["gen-1", "qry-1", "exp-1"]),
        ([FieldFilter.prefix("data.asset.name", "人口")], ["exp-1"]),
        ([FieldFilter.eq("event.dataset", "windows.sysmon"), FieldFilter.eq("EventID", 1)], ["win-1"]),
        ([FieldFilter.eq("data.records", 50000)], ["exp-1"]),
        ([FieldFilter.eq("user.roles", "exporter")], ["exp-1"]),  # any element of an array
        ([FieldFilter.eq("user.roles", "analyst")], ["qry-1", "exp-1"]),
        ([FieldFilter.eq("Elevated", True)], ["win-1"]),
        ([FieldFilter.eq("Elevated", False)], ["gen-1"]),
        ([FieldFilter.eq("event.id", "qry-1")], ["qry-1"]),
        ([FieldFilter.eq("user.name", "张三"), FieldFilter.eq("data.classification", "general")], []),
        ([FieldFilter.eq("no.such.field", "x")], []),
    ],
)
def test_field_filters(platform_events: EventStore, filters: list[FieldFilter], expected: list[str]) -> None:
    assert search_ids(platform_events, filters=tuple(filters)) == expected


def test_equality_is_typed(platform_events: EventStore) -> None:
    # The number 1 does not match the string "1" nor the boolean true, and vice versa.
    assert search_ids(platform_events, filters=(FieldFilter.eq("EventID", "1"),)) == []
    assert search_ids(platform_events, filters=(FieldFilter.eq("Elevated", 1),)) == []
    assert search_ids(platform_events, filters=(FieldFilter.eq("data.records", True),)) == []
    assert search_ids(platform_events, filters=(FieldFilter.prefix("data.records", "5"),)) == []


def test_injection_in_field_name_is_refused(platform_events: EventStore) -> None:
    for bad in [
        'user.name") OR 1=1 --',
        "user.name' OR '1'='1",
        "x; DROP TABLE events",
        "$.a",
        'a"b',
        "a..b",
    ]:
        with pytest.raises(QueryError, match="not a field name"):
            FieldFilter.eq(bad, "x")
    with pytest.raises(QueryError, match="not a field name"):
        platform_events.count_by("x) FROM events; --", T0, T0 + DAY, timedelta(hours=1))


def test_injection_in_values_is_harmless(platform_events: EventStore) -> None:
    for value in ["' OR '1'='1", '" OR 1=1 --', "x'); DROP TABLE events; --", "%", "_", "*"]:
        assert search_ids(platform_events, filters=(FieldFilter.eq("user.name", value),)) == []
        assert search_ids(platform_events, filters=(FieldFilter.eq("CommandLine", value),)) == []
        assert search_ids(platform_events, filters=(FieldFilter.prefix("data.asset.id", value),)) == []
    assert len(search_ids(platform_events)) == 4  # nothing was dropped or altered


# -- full text ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("credit", ["qry-1"]),
        ("CREDIT", ["qry-1"]),  # case-insensitive
        ("powershell -enc", ["win-1"]),  # all terms must occur
        ('"powershell -enc"', ["win-1"]),  # phrase
        ('"-enc powershell"', []),
        ("datasets", ["gen-1", "qry-1"]),
        ("mozilla datasets", ["gen-1"]),
        ("人口基础", ["exp-1"]),  # Chinese substring, >= 3 characters: trigram index
        ("导出", ["exp-1"]),  # Chinese word of 2 characters: short-term scan
        ("信用", ["qry-1"]),  # only in data.asset.name, not in log.original
        ("张", ["exp-1"]),
        ("ds 0002", ["qry-1"]),  # a 2-character term ANDed with a 4-character term
        ("企业信用信息 credit", ["qry-1"]),
        ("nothing-like-this", []),
        ("exporter", []),  # only inside the user.roles array: not searched
    ],
)
def test_full_text(platform_events: EventStore, text: str, expected: list[str]) -> None:
    assert search_ids(platform_events, text=text) == expected


def test_full_text_with_filter_and_range(platform_events: EventStore) -> None:
    core = (FieldFilter.eq("data.classification", "core"),)
    assert search_ids(platform_events, text="导出", filters=core) == ["exp-1"]
    assert search_ids(platform_events, text="credit", filters=core) == []
    assert search_ids(platform_events, text="导出", start=T0 + timedelta(minutes=2)) == []


@pytest.mark.parametrize(
    "text",
    [
        "credit OR zzzz",
        "NEAR(credit datasets)",
        "log.original:credit",
        "cred*",
        "^GET",
        "(credit",
        "AND",
        "NOT x",
    ],
)
def test_full_text_operators_are_literal(platform_events: EventStore, text: str) -> None:
    # FTS5 syntax in user text is never interpreted: no error, and no match for these strings.
    assert search_ids(platform_events, text=text) == []


@pytest.mark.parametrize(
    ("text", "position"), [('credit "unclosed', 7), ('cre"dit', 3), ('""', 0), ("   ", 0)]
)
def test_full_text_syntax_error_is_a_store_error(store: EventStore, text: str, position: int) -> None:
    with pytest.raises(TextQueryError) as caught:
        SearchQuery(start=T0, end=T0 + DAY, text=text)
    assert caught.value.position == position
    assert f"at character {position}" in str(caught.value)


# -- paging ------------------------------------------------------------------------------------


def test_paging_has_no_duplicates_and_no_gaps(store: EventStore, make_event: MakeEvent) -> None:
    # 3 events share each timestamp, so the event.id tie-break is exercised across page edges.
    events = [make_event(f"p{i:03d}", T0 + timedelta(seconds=i // 3)) for i in range(47)]
    store.insert_many(events)
    expected = [e.event_id for e in sorted(events, key=lambda e: (e.timestamp, e.event_id), reverse=True)]
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = store.search(SearchQuery(start=T0, end=T0 + DAY, limit=5, after=after, with_total=True))
        assert page.total == 47
        seen.extend(ids(page.events))
        pages += 1
        if page.next_cursor is None:
            break
        after = page.next_cursor
    assert seen == expected
    assert pages == 10


def test_paging_is_stable_when_newer_events_arrive(store: EventStore, make_event: MakeEvent) -> None:
    store.insert_many([make_event(f"e{i}", T0 + timedelta(minutes=i)) for i in range(6)])
    first = store.search(SearchQuery(start=T0, end=T0 + DAY, limit=3))
    assert ids(first.events) == ["e5", "e4", "e3"]
    store.insert_many([make_event("newer", T0 + timedelta(hours=1))])
    second = store.search(SearchQuery(start=T0, end=T0 + DAY, limit=3, after=first.next_cursor))
    assert ids(second.events) == ["e2", "e1", "e0"]
    assert second.next_cursor is None


def test_exact_page_size_has_no_next_cursor(store: EventStore, make_event: MakeEvent) -> None:
    store.insert_many([make_event(f"e{i}", T0 + timedelta(minutes=i)) for i in range(3)])
    page = store.search(SearchQuery(start=T0, end=T0 + DAY, limit=3))
    assert len(page.events) == 3
    assert page.next_cursor is None
    assert page.total is None  # only computed on request


def test_count_ignores_limit(platform_events: EventStore) -> None:
    query = SearchQuery(start=T0, end=T0 + DAY, limit=1, filters=(FieldFilter.eq("user.roles", "analyst"),))
    assert platform_events.count(query) == 2
    assert platform_events.count(SearchQuery(start=T0, end=T0 + DAY, text="导出")) == 1


# -- count_by ----------------------------------------------------------------------------------


def test_count_by_hot_field_per_hour(store: EventStore, make_event: MakeEvent) -> None:
    grades = ["core", "core", "important", "general", "core"]
    hour = timedelta(hours=1)
    store.insert_many(
        [
            make_event(f"a{i}", T0 + timedelta(minutes=10 * i), {"data.classification": g})
            for i, g in enumerate(grades)
        ]
        + [
            make_event("b0", T0 + hour, {"data.classification": "core"}),  # exactly on a bucket edge
            make_event("b1", T0 + 3 * hour + timedelta(minutes=59), {"data.classification": "general"}),
            make_event("none", T0 + timedelta(minutes=5)),  # no classification: not counted
            make_event("late", T0 + 4 * hour),  # at `end`: excluded
        ]
    )
    buckets = store.count_by("data.classification", T0, T0 + 4 * hour, hour)
    assert buckets == [
        Bucket(T0, "core", 3),
        Bucket(T0, "general", 1),
        Bucket(T0, "important", 1),
        Bucket(T0 + hour, "core", 1),
        # hour 2 is empty: omitted
        Bucket(T0 + 3 * hour, "general", 1),
    ]


def test_count_by_generic_field_array_and_filters(platform_events: EventStore) -> None:
    day = platform_events.count_by("user.roles", T0 - DAY, T0 + DAY, DAY)
    assert [(b.start, b.value, b.count) for b in day] == [
        (T0.replace(hour=0), "analyst", 2),
        (T0.replace(hour=0), "exporter", 1),
    ]
    elevated = platform_events.count_by("Elevated", T0, T0 + DAY, DAY)
    assert {b.value: b.count for b in elevated} == {False: 1, True: 1}
    assert all(isinstance(b.value, bool) for b in elevated)
    records = platform_events.count_by(
        "data.records", T0, T0 + DAY, DAY, filters=(FieldFilter.eq("data.classification", "core"),)
    )
    assert [(b.value, b.count) for b in records] == [(50000, 1)]


def test_count_by_origin_and_partial_first_bucket(store: EventStore, make_event: MakeEvent) -> None:
    # Shanghai days start at 16:00 UTC; an origin in UTC+8 aligns buckets on them.
    origin = datetime(1970, 1, 1, tzinfo=UTC8)
    store.insert_many(
        [
            make_event("x1", datetime(2026, 3, 2, 15, 59, tzinfo=UTC), {"event.action": "login"}),
            make_event("x2", datetime(2026, 3, 2, 16, 0, tzinfo=UTC), {"event.action": "login"}),
            make_event("x3", datetime(2026, 3, 2, 10, 0, tzinfo=UTC), {"event.action": "login"}),
        ]
    )
    start = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # inside a bucket: x3 is before start
    buckets = store.count_by("event.action", start, start + DAY, DAY, origin=origin)
    assert buckets == [
        Bucket(datetime(2026, 3, 1, 16, 0, tzinfo=UTC), "login", 1),
        Bucket(datetime(2026, 3, 2, 16, 0, tzinfo=UTC), "login", 1),
    ]


def test_count_by_refuses_bad_buckets(store: EventStore) -> None:
    with pytest.raises(QueryError, match="bucket"):
        store.count_by("event.action", T0, T0 + DAY, timedelta(0))
    with pytest.raises(QueryError, match="more than"):
        store.count_by("event.action", T0, T0 + 30 * DAY, timedelta(seconds=1))
    with pytest.raises(QueryError, match="before start"):
        store.count_by("event.action", T0, T0 - DAY, timedelta(hours=1))
