"""Fixtures of the event-store contract suite.

`STORE_BACKENDS` maps a backend name to a function that opens a store at a location derived from
the test's temporary directory; opening twice gives the same data (the reopen test relies on it).
The OpenSearch and Elasticsearch backends will add entries here (skipping when no server is
configured) and then run the very same tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from datasoc.event import Event
from datasoc.store import EventStore, SQLiteEventStore

STORE_BACKENDS: dict[str, Callable[[Path], EventStore]] = {
    "sqlite": lambda tmp: SQLiteEventStore(tmp / "events.db"),
}

INGESTED = datetime(2026, 9, 1, tzinfo=UTC)

OpenStore = Callable[[], EventStore]
MakeEvent = Callable[..., Event]


@pytest.fixture(params=sorted(STORE_BACKENDS))
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Open (or reopen) this test's store; every store opened is closed at the end."""
    opened: list[EventStore] = []

    def _open() -> EventStore:
        store = STORE_BACKENDS[request.param](tmp_path)
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()


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
