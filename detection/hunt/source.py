"""A `HuntSource` over any `EventStore`: time windows read newest first, handed out oldest first.

The store's pages are newest first (its contract); a hunt wants event time order, for the
correlations. So the range is cut into windows, each read whole and reversed: memory holds one
window's events, never the range's. A scan reads every event (windows of an hour); an engine
query selects few (windows of a day: one request per day and rule, not per hour).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from datasoc.event import Event
from datasoc.store import EventStore, SearchPage, SearchQuery
from datasoc.store.query import MAX_LIMIT
from datasoc.store.search import SearchEventStore, ServerError
from detection.hunt.run import NativeQueryError


class StoreSource:
    """Events of an `EventStore` for `detection.hunt.run.hunt`."""

    def __init__(
        self,
        store: EventStore,
        *,
        window: timedelta = timedelta(hours=1),
        query_window: timedelta = timedelta(days=1),
    ) -> None:
        self.store = store
        self.window = window
        self.query_window = query_window

    @property
    def dialect(self) -> str | None:
        """The search engine's name when the store is one (queries available), else None."""
        return self.store.dialect.value if isinstance(self.store, SearchEventStore) else None

    def _ascending(
        self, start: datetime, end: datetime, width: timedelta, page: Callable[[SearchQuery], SearchPage]
    ) -> Iterator[dict[str, Any]]:
        windows = []
        at = start
        while at < end:
            windows.append((at, min(at + width, end)))
            at += width
        for low, high in windows:
            events: list[Event] = []
            after: str | None = None
            while True:
                result = page(SearchQuery(start=low, end=high, limit=MAX_LIMIT, after=after))
                events.extend(result.events)
                if result.next_cursor is None:
                    break
                after = result.next_cursor
            for event in reversed(events):
                yield event.to_dict()

    def scan(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """Every event of `[start, end)`, oldest first."""
        return self._ascending(start, end, self.window, self.store.search)

    def query(self, native: str, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """The events of `[start, end)` the engine query selects, oldest first."""
        store = self.store
        if not isinstance(store, SearchEventStore):
            raise NativeQueryError(f"{type(store).__name__} has no engine queries")

        def page(query: SearchQuery) -> SearchPage:
            try:
                return store.search_native(native, query)
            except ServerError as exc:
                if exc.status == 400:
                    raise NativeQueryError(str(exc)) from None
                raise

        return self._ascending(start, end, self.query_window, page)
