"""`store.backend` chooses the event store: OpenSearch and Elasticsearch from settings alone."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from datasoc.event import Event
from datasoc.settings import load_settings
from datasoc.store import SearchQuery
from datasoc.store.search import ElasticsearchEventStore, OpenSearchEventStore
from datasoc.transport import DEADLETTER, EVENTS
from services import Server
from soc_api.indexer import index_pending
from soc_api.platform import Platform

NOW = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
KINDS = {"opensearch": OpenSearchEventStore, "elasticsearch": ElasticsearchEventStore}


def event(n: int, **extra: object) -> bytes:
    return Event.from_dict(
        {
            "@timestamp": NOW - timedelta(minutes=n),
            "event.id": f"p-{n}",
            "event.ingested": NOW,
            "event.action": "dataset.query",
            "event.outcome": "success",
            "observer.collector": "gw",
            "log.original": f"line {n}",
            **extra,
        }
    ).canonical()


@pytest.mark.parametrize("kind", [pytest.param(k, marks=pytest.mark.services(k)) for k in KINDS])
def test_platform_indexes_into_the_configured_search_store(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    server: Server = request.getfixturevalue(f"{kind}_server")
    prefix = f"plat-{secrets.token_hex(3)}-"
    settings = load_settings(
        None,
        {
            "DATASOC_DATA_DIR": str(tmp_path),
            "DATASOC_DETECTION__ENGINE": "inprocess",
            "DATASOC_STORE__BACKEND": kind,
            "DATASOC_STORE__URLS": server.address,
            "DATASOC_STORE__INDEX_PREFIX": prefix,
            "DATASOC_STORE__REPLICAS": "0",
        },
    )
    platform = Platform.open(settings, now=NOW)
    try:
        assert isinstance(platform.store, KINDS[kind])
        platform.spool.append(EVENTS, [event(n) for n in range(20)], now=NOW)
        platform.spool.append(EVENTS, [event(99, **{"_datasoc": {"x": 1}})], now=NOW)  # refused by the store
        report = index_pending(platform.spool, platform.store, now=NOW)
        assert (report.stored, report.rejected) == (20, 1)
        assert (
            platform.store.count(SearchQuery(start=NOW - timedelta(days=1), end=NOW + timedelta(days=1)))
            == 20
        )
        (dead,) = platform.spool.read(DEADLETTER, 0, 10)
        assert b"reserved by the search store" in dead.payload
        purge, _ = platform.retention(NOW + timedelta(days=400))  # development mode: ledgered purge
        assert purge.purged == 20
    finally:
        platform.close()
