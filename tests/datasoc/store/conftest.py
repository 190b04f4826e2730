"""Fixtures of the event-store contract suite.

`STORE_BACKENDS` maps a backend name to a function that opens a store at a location derived from
the test (its temporary directory; for the search engines an index prefix made from it, on the
session's real server); opening twice gives the same data (the reopen test relies on it). Every
test runs against SQLite, OpenSearch and Elasticsearch; the search engines' indices and template
of a test are deleted after it.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from datasoc.event import Event
from datasoc.store import EventStore, SQLiteEventStore
from datasoc.store.search import (
    Connection,
    ElasticsearchEventStore,
    OpenSearchEventStore,
    SearchEventStore,
    SearchStoreConfig,
)

SEARCH_STORES: dict[str, type[SearchEventStore]] = {
    "opensearch": OpenSearchEventStore,
    "elasticsearch": ElasticsearchEventStore,
}


def index_prefix(tmp: Path) -> str:
    """A per-test index prefix (index names are lower case and short)."""
    return "t" + hashlib.sha256(str(tmp).encode()).hexdigest()[:12] + "-"


def open_search_store(kind: str, address: str, prefix: str) -> SearchEventStore:
    """A store of `kind` on the server at `address` with one replica-less shard per day."""
    config = SearchStoreConfig(connection=Connection((address,)), index_prefix=prefix, replicas=0)
    return SEARCH_STORES[kind](config)


def drop_indices(address: str, prefix: str) -> None:
    """Delete the indices and template of `prefix` by name (wildcard deletes are refused by default)."""

    def call(method: str, path: str) -> Any:
        request = urllib.request.Request(address + path, method=method)
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read() or b"null")

    for row in call("GET", f"/_cat/indices/{prefix}*?format=json&h=index"):
        call("DELETE", "/" + row["index"])
    call("DELETE", f"/_index_template/{prefix}events")


STORE_BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], EventStore]] = {
    "sqlite": lambda request, tmp: SQLiteEventStore(tmp / "events.db"),
    **{
        kind: (
            lambda request, tmp, kind=kind: open_search_store(
                kind, request.getfixturevalue(f"{kind}_server").address, index_prefix(tmp)
            )
        )
        for kind in SEARCH_STORES
    },
}

INGESTED = datetime(2026, 9, 1, tzinfo=UTC)

OpenStore = Callable[[], EventStore]
MakeEvent = Callable[..., Event]


@pytest.fixture(
    params=[
        pytest.param(name, marks=pytest.mark.services(name)) if name in SEARCH_STORES else name
        for name in sorted(STORE_BACKENDS)
    ]
)
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Open (or reopen) this test's store; every store opened is closed at the end."""
    opened: list[EventStore] = []

    def _open() -> EventStore:
        store = STORE_BACKENDS[request.param](request, tmp_path)
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()
    if request.param in SEARCH_STORES:
        drop_indices(request.getfixturevalue(f"{request.param}_server").address, index_prefix(tmp_path))


@pytest.fixture
def store(open_store: OpenStore) -> EventStore:
    return open_store()


def _event(event_id: str, at: datetime, fields: Mapping[str, Any] | None = None) -> Event:
    """A valid event with an explicit time and id; `fields` (wire names) override the defaults."""
    data: dict[str, Any] = {
        "@timestamp": at,
        "event.id": event_id,
        "event.ingested": INGESTED,
        "event.action": "data.query",
        "event.outcome": "success",
        "observer.collector": "api-gateway",
        "log.original": f"GET /api/v1/datasets by {event_id}",
    }
    data.update(fields or {})
    return Event.from_dict(data)


@pytest.fixture
def make_event() -> MakeEvent:
    """`make_event(event_id, at, {"user.name": ...})` builds a valid event (never the clock)."""
    return _event


OpenSearchStore = Callable[..., SearchEventStore]


@pytest.fixture(params=[pytest.param(kind, marks=pytest.mark.services(kind)) for kind in SEARCH_STORES])
def open_search(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenSearchStore]:
    """`open_search(**config)`: a search store of each engine for this test (indices dropped after)."""
    kind = str(request.param)
    address = request.getfixturevalue(f"{kind}_server").address
    prefix = index_prefix(tmp_path)
    opened: list[SearchEventStore] = []

    def _open(**overrides: Any) -> SearchEventStore:
        config = SearchStoreConfig(
            connection=Connection((address,)), index_prefix=prefix, **{"replicas": 0, **overrides}
        )
        store = SEARCH_STORES[kind](config)
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()
    drop_indices(address, prefix)
