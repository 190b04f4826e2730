"""Event stores on OpenSearch and Elasticsearch (the scale-out backends of `EventStore`).

`documents` (event <-> indexed document), `mapping` (the index template from the event schema),
`queries` (query DSL) and `bulk` (outcomes and retries) are pure; `clients` is the REST seam over
`opensearch-py` and `elasticsearch`; `store` puts them together.
"""

from __future__ import annotations

from datasoc.store.search.bulk import RetryPolicy
from datasoc.store.search.clients import Connection, ServerError
from datasoc.store.search.store import (
    ElasticsearchEventStore,
    OpenSearchEventStore,
    SearchEventStore,
    SearchStoreConfig,
)

__all__ = [
    "Connection",
    "ElasticsearchEventStore",
    "OpenSearchEventStore",
    "RetryPolicy",
    "SearchEventStore",
    "SearchStoreConfig",
    "ServerError",
]
