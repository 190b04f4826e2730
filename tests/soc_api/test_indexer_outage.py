"""The search store down for a minute during ingest: events wait in the transport, then all are indexed."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from datasoc.event import Event
from datasoc.store import SearchQuery, StoreUnavailableError
from datasoc.store.search import Connection, OpenSearchEventStore, RetryPolicy, SearchStoreConfig
from datasoc.transport import EVENTS, Spool
from services import Server
from soc_api.indexer import Indexer, index_pending

#: How long the store stays down (the issue's scenario: a minute).
OUTAGE_S = 60.0
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def payload(n: int) -> bytes:
    event = Event.from_dict(
        {
            "@timestamp": T0 + timedelta(seconds=n),
            "event.id": f"o-{n:06d}",
            "event.ingested": T0,
            "event.action": "dataset.query",
            "event.outcome": "success",
            "observer.collector": "gw",
            "log.original": f"GET /api/v1/datasets/ds-{n % 7} 张三",
        }
    )
    return event.canonical()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_store_down_for_a_minute_loses_nothing(own_opensearch: Server, tmp_path: Path) -> None:
    config = SearchStoreConfig(
        connection=Connection((own_opensearch.address,)),
        replicas=0,
        retry=RetryPolicy(attempts=3, base_s=0.2, max_s=1.0),
    )
    store = OpenSearchEventStore(config)
    with Spool.open(tmp_path / "spool") as spool:
        spool.append(EVENTS, [payload(n) for n in range(500)], now=T0)
        assert index_pending(spool, store, now=T0).committed_offset == 500
        # Counted in the store rather than from `stored`: a bulk whose answer was lost to a timeout
        # on a loaded machine is retried, and its events then answer "already there".
        assert store.count(SearchQuery(start=T0, end=T0 + timedelta(days=2), limit=1)) == 500

        appended = [500]
        stop = threading.Event()

        def collector() -> None:  # keeps accepting events: the transport is up
            while not stop.is_set():
                spool.append(EVENTS, [payload(appended[0] + k) for k in range(50)], now=T0)
                appended[0] += 50
                time.sleep(0.2)

        writer = threading.Thread(target=collector)
        writer.start()
        own_opensearch.kill()
        outage_ends = time.monotonic() + OUTAGE_S
        failed_passes = 0
        committed_during = []
        try:
            indexer = Indexer(spool, store)
            while time.monotonic() < outage_ends:
                with pytest.raises(StoreUnavailableError):  # refused, not pretended
                    indexer.run(now=T0)
                failed_passes += 1
                committed_during.append(spool.consumer_offsets(EVENTS)["indexer"])
                time.sleep(2)
        finally:
            own_opensearch.start()
        own_opensearch.wait_ready()
        stop.set()
        writer.join(30)
        assert failed_passes >= 5
        assert set(committed_during) == {500}  # nothing committed while the store was away
        report = index_pending(spool, store, now=T0)
        assert report.committed_offset == appended[0] == spool.range(EVENTS).end
        everything = SearchQuery(start=T0, end=T0 + timedelta(days=2), limit=1)
        assert store.count(everything) == appended[0]
        assert store.get(f"o-{appended[0] - 1:06d}") is not None
    store.close()
