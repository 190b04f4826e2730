"""`EventStore` on OpenSearch or Elasticsearch: daily indices, bulk `create`s, its own retention.

Layout: one index per UTC day of the events' time, `<prefix>events-YYYY.MM.DD`, all made from
one index template (`mapping.index_template`) that the store installs when it opens. Index State
Management and ILM are not used (neither is available on every cluster; neither is on Maven
Central for the test servers): the store creates the day's index before its first write, and
retention (`_purge_before`) deletes whole days before the cutoff and, in the day holding the
cutoff, the events before it (found by search, deleted in bulk: the by-query APIs are a module
Elasticsearch may lack). At most `max_indices` indices are created: an event that would need
one more is refused (and dead-lettered), so hostile timestamps cannot create indices without
bound.

Idempotence: `_id` is `event.id` and writes are `create`s, so a replay is a conflict and the first
write wins within an event's day (a replay has the event's own time, hence the same index; an id
reused by an event of another day is stored twice, unlike SQLite).

Visibility: writes are durable when the bulk answers (translog fsynced per request) and visible
to searches after the next refresh (`refresh_interval`, 1 s). The store refreshes before reading
when it wrote since its last read, and once when it opens, so a caller reads its own writes as
with SQLite; other processes see them within the refresh interval.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Final

from datasoc.errors import EventValidationError
from datasoc.event import Event
from datasoc.store.base import EventStore, InsertResult, RejectedEvent
from datasoc.store.errors import (
    CorruptEventError,
    QueryError,
    RejectedEventsError,
    StorageError,
    StoreClosedError,
    StoreError,
)
from datasoc.store.query import (
    EPOCH,
    Bucket,
    FieldFilter,
    SearchPage,
    SearchQuery,
    check_buckets,
    check_time,
    encode_cursor,
    filters_of,
    to_micros,
)
from datasoc.store.search import queries
from datasoc.store.search.bulk import Action, RetryPolicy, run_bulk
from datasoc.store.search.clients import (
    Connection,
    ElasticsearchClient,
    OpenSearchClient,
    SearchClient,
    ServerError,
)
from datasoc.store.search.documents import (
    ReservedFieldError,
    day_start,
    encode,
    from_source,
    index_day,
    to_document,
)
from datasoc.store.search.mapping import Dialect, index_template

PREFIX_RE: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,40}")
_DAY_RE: Final = re.compile(r"\d{4}\.\d{2}\.\d{2}")
PURGE_PAGE: Final = 1000
_ONE_DAY: Final = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SearchStoreConfig:
    """Connection and index settings of a search-engine store."""

    connection: Connection = field(default_factory=Connection)
    #: Index names start with it (lower case; `datasoc-` gives `datasoc-events-2026.03.02`).
    index_prefix: str = "datasoc-"
    shards: int = 1
    replicas: int = 1
    #: The store never creates more indices than this (one per day of event time).
    max_indices: int = 1000
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    refresh_interval: str = "1s"

    def __post_init__(self) -> None:
        if PREFIX_RE.fullmatch(self.index_prefix) is None:
            raise StoreError(
                f"index_prefix {self.index_prefix!r} is not allowed",
                hint="lower-case letters, digits, '-' and '_', starting with a letter or digit",
            )
        if not (1 <= self.shards <= 64 and 0 <= self.replicas <= 8 and 1 <= self.max_indices <= 100_000):
            raise StoreError("shards must be 1-64, replicas 0-8, max_indices 1-100000")

    @property
    def pattern(self) -> str:
        """The wildcard naming every event index of this store."""
        return f"{self.index_prefix}events-*"

    def index(self, day: str) -> str:
        """The index of one UTC day (`2026.03.02`)."""
        return f"{self.index_prefix}events-{day}"


class SearchEventStore(EventStore):
    """The store over one cluster; `OpenSearchEventStore` and `ElasticsearchEventStore` pick the client."""

    dialect: ClassVar[Dialect]
    client_type: ClassVar[type[SearchClient]]

    def __init__(
        self,
        config: SearchStoreConfig | None = None,
        *,
        client: SearchClient | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config or SearchStoreConfig()
        self._client: SearchClient | None = client or self.client_type(self.config.connection)
        self._sleep = sleep
        self._lock = threading.RLock()
        self._indices: set[str] = set()
        self._dirty = False
        self.retries = 0
        try:
            self._install_template()
            self._load_indices()
            self._refresh(force=True)  # what was written before this store opened is visible now
        except BaseException:
            self.close()
            raise

    # -- plumbing -----------------------------------------------------------------------------

    @property
    def location(self) -> str:
        """The cluster URL and index pattern, for messages."""
        return f"{self.config.connection.location}/{self.config.pattern}"

    @contextmanager
    def _using(self) -> Iterator[SearchClient]:
        with self._lock:
            if self._client is None:
                raise StoreClosedError(f"{self.location}: store is closed")
            yield self._client

    def _install_template(self) -> None:
        body = index_template(
            self.dialect,
            self.config.pattern,
            shards=self.config.shards,
            replicas=self.config.replicas,
            refresh_interval=self.config.refresh_interval,
        )
        with self._using() as client:
            client.request("PUT", f"/_index_template/{self.config.index_prefix}events", body=body)

    def _load_indices(self) -> None:
        with self._using() as client:
            rows = client.request(
                "GET", f"/_cat/indices/{self.config.pattern}", params={"format": "json", "h": "index"}
            )
        self._indices = {row["index"] for row in rows}

    def _refresh(self, *, force: bool = False) -> None:
        with self._using() as client:
            if self._dirty or force:
                client.request(
                    "POST",
                    f"/{self.config.pattern}/_refresh",
                    params={"allow_no_indices": "true", "ignore_unavailable": "true"},
                )
                self._dirty = False

    def _ensure_index(self, client: SearchClient, index: str) -> None:
        if index in self._indices:
            return
        try:
            client.request("PUT", f"/{index}")
        except ServerError as exc:
            if exc.kind != "resource_already_exists_exception":
                raise
        self._indices.add(index)

    def _read(self, operation: str, path: str, body: dict[str, Any]) -> Any:
        self._refresh()
        with self._using() as client:
            return client.request(
                "POST",
                path,
                body=body,
                params={"allow_no_indices": "true", "ignore_unavailable": "true"},
            )

    def _load(self, source: dict[str, Any], doc_id: str) -> Event:
        try:
            return Event.from_dict(from_source(source), where=f"{self.location}: event {doc_id}")
        except (ValueError, EventValidationError) as exc:
            raise CorruptEventError(self.location, "read", str(exc)) from None

    # -- EventStore ---------------------------------------------------------------------------

    def insert_batch(self, events: Sequence[Event]) -> InsertResult:
        """Store `events` in bulk; refused events come back with the server's reason."""
        for position, event in enumerate(events):
            if not isinstance(event, Event):
                raise QueryError(f"events[{position}]", f"expected an Event, got {type(event).__name__}")
        seen: set[str] = set()
        actions: list[Action] = []
        owners: list[Event] = []
        rejected: list[RejectedEvent] = []
        with self._using() as client:
            for event in events:
                if event.event_id in seen:
                    continue  # repeated in the batch: the first one wins, as in SQLite
                seen.add(event.event_id)
                try:
                    document = to_document(event)
                except ReservedFieldError as exc:
                    rejected.append(RejectedEvent(event, str(exc)))
                    continue
                index = self.config.index(index_day(event))
                if index not in self._indices and len(self._indices) >= self.config.max_indices:
                    rejected.append(
                        RejectedEvent(
                            event,
                            f"the store holds {len(self._indices)} indices, its limit (store.max_indices);"
                            f" a new one for {index_day(event)} is refused",
                        )
                    )
                    continue
                self._ensure_index(client, index)
                actions.append(Action(index, event.event_id, encode(document)))
                owners.append(event)
            if not actions:
                return InsertResult(inserted=0, rejected=tuple(rejected))

            def send(body: str) -> Any:
                return client.request("POST", "/_bulk", body=body, ndjson=True)

            def forget_indices() -> None:  # an index was deleted behind our back: create it again
                self._indices.clear()
                for action in actions:
                    self._ensure_index(client, action.index)

            result = run_bulk(
                actions,
                send,
                policy=self.config.retry,
                on_missing_index=forget_indices,
                sleep=self._sleep,
                location=self.location,
            )
            self.retries += result.retries
            self._dirty = True
        rejected.extend(RejectedEvent(owners[p], reason) for p, reason in result.rejected)
        return InsertResult(inserted=len(result.created), rejected=tuple(rejected))

    def insert_many(self, events: Sequence[Event]) -> int:
        """Store `events`; return how many were new. Raises `RejectedEventsError` naming refused ones."""
        result = self.insert_batch(events)
        if result.rejected:
            raise RejectedEventsError(result.inserted, result.rejected)
        return result.inserted

    def get(self, event_id: str) -> Event | None:
        """The event with this `event.id` (the oldest, should another day hold the same id), or None."""
        if not isinstance(event_id, str):
            raise QueryError("event_id", f"expected a string, got {type(event_id).__name__}")
        body = {"query": {"term": {queries.ID: event_id}}, "size": 1, "sort": [{queries.TS: "asc"}]}
        hits = self._read("get", f"/{self.config.pattern}/_search", body)["hits"]["hits"]
        return self._load(hits[0]["_source"], event_id) if hits else None

    def search(self, query: SearchQuery) -> SearchPage:
        """One page of matching events, newest first, with a cursor to the next page."""
        if not isinstance(query, SearchQuery):
            raise QueryError("query", f"expected a SearchQuery, got {type(query).__name__}")
        answer = self._read("search", f"/{self.config.pattern}/_search", queries.search_body(query))
        hits = answer["hits"]["hits"]
        more = len(hits) > query.limit
        hits = hits[: query.limit]
        events = tuple(self._load(hit["_source"], hit["_id"]) for hit in hits)
        next_cursor = None
        if more:
            ts, doc_id = hits[-1]["sort"]
            next_cursor = encode_cursor(int(ts), str(doc_id))
        total = int(answer["hits"]["total"]["value"]) if query.with_total else None
        return SearchPage(events=events, next_cursor=next_cursor, total=total)

    def search_native(self, native: str, query: SearchQuery) -> SearchPage:
        """`search` with an engine query in Lucene syntax ANDed in (retro-hunt's pre-selection).

        The query runs on the natural fields (see `mapping`); a malformed one raises `ServerError`
        with status 400.
        """
        if not isinstance(native, str) or not native.strip():
            raise QueryError("native", "expected a non-empty Lucene query string")
        body = queries.search_body(query)
        body["query"]["bool"]["filter"].append({"query_string": {"query": native}})
        answer = self._read("search", f"/{self.config.pattern}/_search", body)
        hits = answer["hits"]["hits"]
        more = len(hits) > query.limit
        hits = hits[: query.limit]
        events = tuple(self._load(hit["_source"], hit["_id"]) for hit in hits)
        cursor = encode_cursor(int(hits[-1]["sort"][0]), str(hits[-1]["sort"][1])) if more else None
        return SearchPage(events=events, next_cursor=cursor)

    def count(self, query: SearchQuery) -> int:
        """How many events match `query` (its `limit` and `after` are ignored)."""
        if not isinstance(query, SearchQuery):
            raise QueryError("query", f"expected a SearchQuery, got {type(query).__name__}")
        return int(self._read("count", f"/{self.config.pattern}/_count", queries.count_body(query))["count"])

    def count_by(
        self,
        field: str,
        start: datetime,
        end: datetime,
        bucket: timedelta,
        *,
        filters: Sequence[FieldFilter] = (),
        origin: datetime = EPOCH,
    ) -> list[Bucket]:
        """Non-empty (time bucket, value) counts, by bucket start then value."""
        start_us, end_us, width, origin_us = check_buckets(field, start, end, bucket, origin)
        body = queries.count_by_body(field, start_us, end_us, width, origin_us, filters_of(filters))
        return queries.buckets_of(field, self._read("count_by", f"/{self.config.pattern}/_search", body))

    def sync(self) -> None:
        """Nothing to do: each bulk answers after its translog fsync. Only checks the store is open."""
        with self._using():
            return

    def _purge_before(self, cutoff: datetime) -> int:
        """Retention only (see `RetentionJob`): whole days before the cutoff, then the rest of its day."""
        cutoff_us = to_micros(check_time(cutoff, "cutoff"))
        self._load_indices()
        self._refresh(force=True)
        purged = 0
        for index in sorted(self._indices):
            day = index.removeprefix(f"{self.config.index_prefix}events-")
            if _DAY_RE.fullmatch(day) is None:
                continue
            start = to_micros(day_start(day))
            if start >= cutoff_us:
                continue
            with self._using() as client:
                if to_micros(day_start(day) + _ONE_DAY) <= cutoff_us:
                    purged += int(client.request("POST", f"/{index}/_count")["count"])
                    client.request("DELETE", f"/{index}")
                    self._indices.discard(index)
                else:
                    purged += self._purge_within(client, index, cutoff_us)
        return purged

    def _purge_within(self, client: SearchClient, index: str, cutoff_us: int) -> int:
        """Delete the events of `index` before `cutoff_us`, a page at a time."""
        purged = 0
        while True:
            body = {
                "query": {"range": {queries.TS: {"lt": cutoff_us}}},
                "size": PURGE_PAGE,
                "_source": False,
                "sort": [{queries.TS: "asc"}, {queries.ID: "asc"}],
            }
            hits = client.request("POST", f"/{index}/_search", body=body)["hits"]["hits"]
            if not hits:
                return purged
            lines = "".join(
                json.dumps({"delete": {"_index": index, "_id": hit["_id"]}}, ensure_ascii=False) + "\n"
                for hit in hits
            )
            answer = client.request("POST", "/_bulk", body=lines, ndjson=True, params={"refresh": "true"})
            for item in answer["items"]:
                status = int(item["delete"]["status"])
                if status == 200:
                    purged += 1
                elif status != 404:
                    raise StorageError(self.location, "purge", f"delete in {index} answered {item['delete']}")

    def close(self) -> None:
        """Close the client; later calls raise `StoreClosedError`. Closing twice is harmless."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


class OpenSearchEventStore(SearchEventStore):
    """`EventStore` on OpenSearch (2.x; `opensearch-py`)."""

    dialect = Dialect.OPENSEARCH
    client_type = OpenSearchClient


class ElasticsearchEventStore(SearchEventStore):
    """`EventStore` on Elasticsearch (9.x; the `elasticsearch` client)."""

    dialect = Dialect.ELASTICSEARCH
    client_type = ElasticsearchClient
