"""Event <-> indexed document, typed tokens, text chunks and the query DSL: the pure parts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from datasoc.event import Event
from datasoc.store import Bucket, FieldFilter, QueryError, SearchQuery
from datasoc.store.search.documents import (
    INTERNAL,
    LONG_VALUE,
    MAX_TEXT_TERM,
    TEXT_CHUNK,
    ReservedFieldError,
    from_source,
    index_day,
    number_text,
    parse_token,
    text_chunks,
    to_document,
    value_tokens,
)
from datasoc.store.search.queries import buckets_of, count_by_body, search_body

T0 = datetime(2026, 3, 2, 23, 59, 59, 999999, tzinfo=UTC)


def event(**extra: object) -> Event:
    return Event.from_dict(
        {
            "@timestamp": T0,
            "event.id": "e1",
            "event.ingested": T0,
            "event.action": "data.export",
            "event.outcome": "success",
            "observer.collector": "gw",
            "log.original": "张三 导出",
            **extra,
        }
    )


def test_tokens_are_typed_and_cover_array_elements_and_object_members() -> None:
    assert value_tokens("n", 5) == ["n:n=5"]
    assert value_tokens("n", 5.0) == ["n:n=5"]  # equal numbers, equal tokens (SQLite: 5 = 5.0)
    assert value_tokens("n", 0.1) == ["n:n=0.1"]
    assert value_tokens("b", True) == ["b:b=true"]  # never the number 1
    assert value_tokens("s", "1") == ["s:s=1"]  # never the number 1
    assert value_tokens("r", ["a", 2, None, False, ["x"], {"y": 1}]) == ["s:r=a", "n:r=2", "b:r=false"]
    assert value_tokens("o", {"k": "v", "n": 3}) == ["s:o=v", "n:o=3"]
    assert value_tokens("z", None) == []
    assert number_text(2**60 * 1.0) == repr(2**60 * 1.0)  # beyond 2^53 a float stays a float


def test_long_strings_become_a_hash_and_a_prefix_token() -> None:
    long = "x" * (LONG_VALUE + 5)
    kinds = [token.split(":", 1)[0] for token in value_tokens("f", long)]
    assert kinds == ["h", "t"]
    assert value_tokens("f", long)[1] == "t:f=" + "x" * LONG_VALUE
    assert parse_token(value_tokens("f", long)[0]) is None


def test_text_chunks_keep_every_short_substring_whole() -> None:
    value = "".join(chr(0x4E00 + i % 500) for i in range(3 * TEXT_CHUNK + 17))
    chunks = list(text_chunks(value))
    assert len(chunks) > 1
    for start in range(0, len(value) - MAX_TEXT_TERM, 97):
        term = value[start : start + MAX_TEXT_TERM]
        assert any(term in chunk for chunk in chunks), start
    assert list(text_chunks("short")) == ["short"]


def test_document_round_trip_and_internal_object() -> None:
    original = event(**{"user.roles": ["a", "b"], "n": 1e21})
    document = to_document(original)
    internal = document[INTERNAL]
    assert internal["ts"] == 1_772_495_999_999_999
    assert internal["id"] == "e1"
    assert "s:user.roles=b" in internal["f"]
    assert "张三 导出" in internal["text"]
    assert index_day(original) == "2026.03.02"  # the last microsecond of the day stays in it
    assert Event.from_dict(from_source(document)).canonical() == original.canonical()


def test_reserved_field_names_are_refused() -> None:
    for key in ("_datasoc", "_datasoc.ts"):
        with pytest.raises(ReservedFieldError, match="reserved"):
            to_document(event(**{key: 1}))
    assert from_source(to_document(event(_datasocx=1)))["_datasocx"] == 1  # only the exact name is taken


def test_search_body_uses_tokens_text_and_cursor() -> None:
    query = SearchQuery(
        start=T0,
        end=T0,
        filters=(
            FieldFilter.eq("EventID", 1),
            FieldFilter.any_of("x", ["a", True]),
            FieldFilter.prefix("p", "a*"),
        ),
        text='cmd "a?b\\c"',
        limit=10,
    )
    body = search_body(query)
    clauses = body["query"]["bool"]["filter"]
    assert clauses[1] == {"term": {"_datasoc.f": "n:EventID=1"}}
    assert clauses[2] == {"terms": {"_datasoc.f": ["s:x=a", "b:x=true"]}}
    assert clauses[3]["bool"]["should"][0] == {"prefix": {"_datasoc.f": "s:p=a*"}}  # no wildcard in prefix
    assert clauses[5] == {"wildcard": {"_datasoc.text": {"value": "*a\\?b\\\\c*", "case_insensitive": True}}}
    assert body["size"] == 11
    with pytest.raises(QueryError, match="longer than"):
        search_body(SearchQuery(start=T0, end=T0, text="y" * (MAX_TEXT_TERM + 1)))


def test_count_by_include_pattern_escapes_the_field_and_buckets_parse_back() -> None:
    body = count_by_body("source.geo-x", 0, 10, 5, 7, ())
    terms = body["aggs"]["time"]["aggs"]["values"]["terms"]
    assert terms["include"] == "[snb]:source\\.geo\\-x=.*"
    assert body["aggs"]["time"]["histogram"]["offset"] == 2
    answer = {
        "aggregations": {
            "time": {
                "buckets": [
                    {
                        "key": 1.772496e15,
                        "values": {
                            "sum_other_doc_count": 0,
                            "buckets": [
                                {"key": "s:f=b", "doc_count": 1},
                                {"key": "b:f=true", "doc_count": 2},
                                {"key": "n:f=2.5", "doc_count": 3},
                            ],
                        },
                    }
                ]
            }
        }
    }
    start = datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    assert buckets_of("f", answer) == [Bucket(start, True, 2), Bucket(start, 2.5, 3), Bucket(start, "b", 1)]
    answer["aggregations"]["time"]["buckets"][0]["values"]["sum_other_doc_count"] = 4
    with pytest.raises(QueryError, match="distinct values"):
        buckets_of("f", answer)
