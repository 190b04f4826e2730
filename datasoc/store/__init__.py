"""The event store: interface, query models, the SQLite backend and the retention job.

`BACKENDS` lists the implementations by the name configuration uses (`store.backend`); the
application picks one once, at start-up (`soc_api.platform.open_store`). The OpenSearch and
Elasticsearch stores (`datasoc.store.search`) pass the same contract tests as SQLite.
"""

from __future__ import annotations

from typing import Final

from datasoc.store.base import EncodedEvent, EventStore, InsertResult, RejectedEvent
from datasoc.store.errors import (
    CorruptEventError,
    CursorError,
    QueryError,
    RejectedEventsError,
    RetentionPolicyError,
    StorageError,
    StoreClosedError,
    StoreError,
    StoreUnavailableError,
    TextQueryError,
)
from datasoc.store.query import Bucket, FieldFilter, SearchPage, SearchQuery
from datasoc.store.retention import (
    DEFAULT_RETENTION_DAYS,
    MIN_RETENTION_DAYS,
    PurgeReport,
    RetentionJob,
)
from datasoc.store.search import ElasticsearchEventStore, OpenSearchEventStore
from datasoc.store.sqlite import SQLiteEventStore

BACKENDS: Final[dict[str, type[EventStore]]] = {
    "sqlite": SQLiteEventStore,
    "opensearch": OpenSearchEventStore,
    "elasticsearch": ElasticsearchEventStore,
}

__all__ = [
    "BACKENDS",
    "DEFAULT_RETENTION_DAYS",
    "MIN_RETENTION_DAYS",
    "Bucket",
    "CorruptEventError",
    "CursorError",
    "ElasticsearchEventStore",
    "EncodedEvent",
    "EventStore",
    "FieldFilter",
    "InsertResult",
    "OpenSearchEventStore",
    "PurgeReport",
    "QueryError",
    "RejectedEvent",
    "RejectedEventsError",
    "RetentionJob",
    "RetentionPolicyError",
    "SQLiteEventStore",
    "SearchPage",
    "SearchQuery",
    "StorageError",
    "StoreClosedError",
    "StoreError",
    "StoreUnavailableError",
    "TextQueryError",
]
