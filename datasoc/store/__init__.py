"""The event store: interface, query models, the SQLite backend and the retention job.

`BACKENDS` lists the implementations by the name configuration uses; the application picks one
once, at start-up. OpenSearch and Elasticsearch join it later, against the same contract tests.
"""

from __future__ import annotations

from typing import Final

from datasoc.store.base import EncodedEvent, EventStore
from datasoc.store.errors import (
    CorruptEventError,
    CursorError,
    QueryError,
    RetentionPolicyError,
    StorageError,
    StoreClosedError,
    StoreError,
    TextQueryError,
)
from datasoc.store.query import Bucket, FieldFilter, SearchPage, SearchQuery
from datasoc.store.retention import (
    DEFAULT_RETENTION_DAYS,
    MIN_RETENTION_DAYS,
    PurgeReport,
    RetentionJob,
)
from datasoc.store.sqlite import SQLiteEventStore

BACKENDS: Final[dict[str, type[EventStore]]] = {"sqlite": SQLiteEventStore}

__all__ = [
    "BACKENDS",
    "DEFAULT_RETENTION_DAYS",
    "MIN_RETENTION_DAYS",
    "Bucket",
    "CorruptEventError",
    "CursorError",
    "EncodedEvent",
    "EventStore",
    "FieldFilter",
    "PurgeReport",
    "QueryError",
    "RetentionJob",
    "RetentionPolicyError",
    "SQLiteEventStore",
    "SearchPage",
    "SearchQuery",
    "StorageError",
    "StoreClosedError",
    "StoreError",
    "TextQueryError",
]
