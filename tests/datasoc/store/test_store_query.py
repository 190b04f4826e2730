"""The backend-neutral query models: validation, wire form, text parsing, cursors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from datasoc.store import CursorError, FieldFilter, QueryError, SearchQuery, TextQueryError
from datasoc.store.query import (
    EPOCH,
    MAX_LIMIT,
    decode_cursor,
    encode_cursor,
    from_micros,
    parse_text,
    to_micros,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_search_query_normalises_times_to_utc() -> None:
    query = SearchQuery(start="2026-03-02T17:00:00+08:00", end=T0 + timedelta(hours=1))  # type: ignore[arg-type]
    assert query.start == T0
    assert query.start.tzinfo is UTC
    assert query.terms == ()


@pytest.mark.parametrize(
    ("kwargs", "field", "problem"),
    [
        ({"start": datetime(2026, 3, 2)}, "start", "no offset"),  # noqa: DTZ001
        ({"end": T0 - timedelta(seconds=1)}, "end", "before start"),
        ({"limit": 0}, "limit", "1 to"),
        ({"limit": MAX_LIMIT + 1}, "limit", "1 to"),
        ({"limit": True}, "limit", "1 to"),
        ({"filters": ({"user.name": "x"},)}, "filters[0]", "FieldFilter"),
        ({"after": "garbage"}, "after", "not a cursor"),
        ({"after": "c1.!!!"}, "after", "damaged"),
        ({"text": 5}, "text", "must be a string"),
        ({"with_total": "false"}, "with_total", "true or false"),
    ],
)
def test_search_query_errors_name_the_part(kwargs: dict[str, object], field: str, problem: str) -> None:
    args: dict[str, object] = {"start": T0, "end": T0 + timedelta(days=1), **kwargs}
    with pytest.raises(QueryError) as caught:
        SearchQuery(**args)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert problem in caught.value.problem


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (lambda: FieldFilter("user.name", "like", ("x",)), "unknown operator"),  # type: ignore[arg-type]
        (lambda: FieldFilter.any_of("user.name", []), "1 to 1000"),
        (lambda: FieldFilter.any_of("user.name", [str(i) for i in range(1001)]), "1 to 1000"),
        (lambda: FieldFilter("user.name", "eq", ("a", "b")), "exactly one"),
        (lambda: FieldFilter.prefix("user.name", ""), "non-empty string"),
        (lambda: FieldFilter("user.name", "prefix", (5,)), "non-empty string"),
        (lambda: FieldFilter.eq("data.bytes", float("nan")), "finite"),
        (lambda: FieldFilter.eq("user.name", None), "string, number or boolean"),  # type: ignore[arg-type]
        (lambda: FieldFilter.eq("user.name", ["a"]), "string, number or boolean"),  # type: ignore[arg-type]
        (lambda: FieldFilter.eq("", "x"), "not a field name"),
        (lambda: FieldFilter.eq("a" * 257, "x"), "not a field name"),
        (lambda: FieldFilter.eq(5, "x"), "must be a string"),  # type: ignore[arg-type]
    ],
)
def test_field_filter_errors(make: object, problem: str) -> None:
    with pytest.raises(QueryError, match=problem):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    "name",
    [
        "@timestamp",
        "user.name",
        "Image",
        "data.asset.id",
        "winlog.event_data.Param1",
        "x-forwarded-for",
        "_id",
    ],
)
def test_field_names_accepted(name: str) -> None:
    assert FieldFilter.eq(name, "v").field == name


def test_from_dict_wire_form() -> None:
    query = SearchQuery.from_dict(
        {
            "start": "2026-03-02T09:00:00Z",
            "end": "2026-03-03T09:00:00Z",
            "where": {"user.name": "张三", "data.classification": ["core", "important"]},
            "prefix": {"Image": "C:\\Windows\\"},
            "text": '导出 "core data"',
            "limit": 20,
            "with_total": True,
        }
    )
    assert query.start == T0
    assert query.filters == (
        FieldFilter.eq("user.name", "张三"),
        FieldFilter.any_of("data.classification", ["core", "important"]),
        FieldFilter.prefix("Image", "C:\\Windows\\"),
    )
    assert query.terms == ("导出", "core data")
    assert query.limit == 20
    assert query.with_total is True


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"end": "2026-03-03T09:00:00Z"}, "start"),
        ({"start": "2026-03-02T09:00:00Z", "end": "2026-03-03T09:00:00Z", "sort": "asc"}, "sort"),
        ({"start": "2026-03-02T09:00:00Z", "end": "2026-03-03T09:00:00Z", "where": ["x"]}, "where"),
        ({"start": "yesterday", "end": "2026-03-03T09:00:00Z"}, "start"),
        ([], "<query>"),
    ],
)
def test_from_dict_errors(data: object, field: str) -> None:
    with pytest.raises(QueryError) as caught:
        SearchQuery.from_dict(data)  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("credit", ("credit",)),
        ("  a   b\tc ", ("a", "b", "c")),
        ('导出 "core data" x', ("导出", "core data", "x")),
        ('"a"b', ("a", "b")),
        ("NEAR(x) OR y*", ("NEAR(x)", "OR", "y*")),
    ],
)
def test_parse_text(text: str, terms: tuple[str, ...]) -> None:
    assert parse_text(text) == terms


def test_parse_text_too_many_terms() -> None:
    with pytest.raises(TextQueryError, match="more than 16"):
        parse_text(" ".join(["w"] * 17))


@given(ts=st.integers(min_value=-(2**62), max_value=2**62), event_id=st.text(min_size=1, max_size=128))
def test_cursor_round_trip(ts: int, event_id: str) -> None:
    assert decode_cursor(encode_cursor(ts, event_id)) == (ts, event_id)


@pytest.mark.parametrize(
    "cursor",
    ["", "c1.", "c2.WzEsImEiXQ", "c1.WzEsImEiLDJd", "c1.WyJhIiwiYiJd", "c1.WzEuNSwiYSJd", "c1.WzEsIiJd"],
)
def test_bad_cursors(cursor: str) -> None:
    with pytest.raises(CursorError):
        decode_cursor(cursor)


def test_micros_round_trip() -> None:
    assert to_micros(EPOCH) == 0
    assert to_micros(T0 + timedelta(microseconds=7)) % 1_000_000 == 7
    assert from_micros(to_micros(T0)) == T0
    assert from_micros(-1) == EPOCH - timedelta(microseconds=1)
