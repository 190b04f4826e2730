"""What is particular to the OpenSearch and Elasticsearch stores, on the real servers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from datasoc.event import Event
from datasoc.store import RejectedEventsError, SearchQuery
from datasoc.store.search import SearchEventStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OpenSearch = Callable[..., SearchEventStore]
MakeEvent = Callable[..., Event]


def raw(store: SearchEventStore, path: str, body: dict[str, Any] | None = None) -> Any:
    """A request of the test's own on the store's connection (to look at what the engine holds)."""
    client = store._client
    assert client is not None
    return client.request("POST" if body is not None else "GET", path, body=body)


def test_refused_events_come_back_with_the_reason_and_the_rest_is_stored(
    open_search: OpenSearch, make_event: MakeEvent
) -> None:
    store = open_search()
    store.insert_many([make_event("first", T0, {"geo": "somewhere"})])  # `geo` is a keyword now
    batch = [
        make_event("ok-1", T0, {"user.name": "alice"}),
        make_event("clash", T0, {"geo.city": "宁波"}),  # `geo` as an object: the engine refuses it
        make_event("reserved", T0, {"_datasoc.ts": 1}),
        make_event("ok-2", T0 + timedelta(days=1)),
    ]
    result = store.insert_batch(batch)
    assert result.inserted == 2
    reasons = {r.event.event_id: r.reason for r in result.rejected}
    assert set(reasons) == {"clash", "reserved"}
    assert "geo" in reasons["clash"]
    assert "reserved" in reasons["reserved"]
    assert store.get("ok-1") is not None
    assert store.get("ok-2") is not None
    assert store.get("clash") is None
    with pytest.raises(RejectedEventsError, match="clash") as caught:
        store.insert_many([make_event("ok-3", T0), make_event("clash", T0, {"geo.city": "x"})])
    assert caught.value.inserted == 1


def test_no_more_indices_than_the_limit(open_search: OpenSearch, make_event: MakeEvent) -> None:
    store = open_search(max_indices=2)
    days = [make_event(f"d{n}", T0 + timedelta(days=n)) for n in range(4)]
    result = store.insert_batch(days)
    assert result.inserted == 2
    assert sorted(r.event.event_id for r in result.rejected) == ["d2", "d3"]
    assert "store.max_indices" in result.rejected[0].reason
    assert store.insert_batch([make_event("d0-again", T0)]).inserted == 1  # existing days still take events


def test_template_maps_the_schema_and_natural_fields_serve_sigma_and_chinese(
    open_search: OpenSearch, make_event: MakeEvent
) -> None:
    store = open_search()
    store.insert_many(
        [
            make_event(
                "e1",
                T0,
                {
                    "user.name": "ZhangSan",
                    "source.ip": "10.1.2.3",
                    "data.records": 50000,
                    "EventID": 4688,
                    "log.original": "2026-03-02 张三 导出 人口基础信息库 50000 rows",
                },
            )
        ]
    )
    assert store.get("e1") is not None  # a read of the store's own refreshes what it wrote
    index = f"{store.config.index_prefix}events-2026.03.02"
    mapping = raw(store, f"/{index}/_mapping")[index]["mappings"]["properties"]
    assert mapping["@timestamp"]["type"] == "date"
    assert mapping["source"]["properties"]["ip"]["type"] == "ip"
    assert mapping["data"]["properties"]["records"]["type"] == "long"
    assert mapping["user"]["properties"]["name"]["normalizer"] == "lowercase"
    assert mapping["EventID"]["type"] == "keyword"  # native numbers too: mixed types never refuse events

    def hits(query: dict[str, Any]) -> list[str]:
        answer = raw(store, f"/{store.config.pattern}/_search", {"query": query})
        return [h["_id"] for h in answer["hits"]["hits"]]

    # Sigma compares case-insensitively; pySigma's Lucene queries are plain terms and wildcards.
    assert hits({"query_string": {"query": "user.name:zhangsan AND EventID:4688"}}) == ["e1"]
    assert hits({"query_string": {"query": "user.name:*SAN"}}) == ["e1"]
    assert hits({"query_string": {"query": "source.ip:10.0.0.0\\/8"}}) == ["e1"]
    # Chinese words without a dictionary: the standard analyzer's single characters, as a phrase.
    assert hits({"match_phrase": {"log.original.text": "人口基础"}}) == ["e1"]
    assert hits({"match_phrase": {"log.original.text": "口人"}}) == []


def test_exact_filters_stay_case_sensitive_while_sigma_fields_fold_case(
    open_search: OpenSearch, make_event: MakeEvent
) -> None:
    from datasoc.store import FieldFilter

    store = open_search()
    store.insert_many([make_event("e1", T0, {"user.name": "Alice"})])
    query = SearchQuery(
        start=T0, end=T0 + timedelta(hours=1), filters=(FieldFilter.eq("user.name", "alice"),)
    )
    assert store.count(query) == 0
    assert (
        store.count(SearchQuery(start=T0, end=T0 + timedelta(hours=1), text="ALICE")) == 1
    )  # text folds case
    exact = SearchQuery(
        start=T0, end=T0 + timedelta(hours=1), filters=(FieldFilter.eq("user.name", "Alice"),)
    )
    assert store.count(exact) == 1
