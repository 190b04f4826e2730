"""Benchmark of an event store: bulk insert rate, search and aggregation latency, purge rate.

Not a test: it measures wall-clock time. Events are generated from a seed and a fixed base time
(never the clock), about 500 bytes of canonical JSON each, spread evenly over `days` days. The
same measurements run on any `EventStore` (`measure`): SQLite (`bench_store`) and the search
engines (`bench_search_store`, on a fresh index prefix that is dropped afterwards).

    python -c "from benchmarks.store import bench_store; print(bench_store('/tmp/b.db', 100_000))"
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from datasoc.event import Event
from datasoc.store.base import EventStore
from datasoc.store.query import FieldFilter, SearchQuery
from datasoc.store.retention import RetentionJob
from datasoc.store.sqlite import SQLiteEventStore

BASE = datetime(2026, 3, 1, tzinfo=UTC)
_GRADES = ("general", "general", "general", "important", "important", "core")
_ACTIONS = (
    "data.query",
    "data.query",
    "data.query",
    "data.download",
    "data.export",
    "login",
    "approval.request",
)
_CITIES = ("杭州", "宁波", "温州", "嘉兴", "湖州", "绍兴", "金华", "衢州", "舟山", "台州", "丽水")
_DATASETS = tuple(
    (f"ds-{i:04d}", name)
    for i, name in enumerate(
        (
            "人口基础信息",
            "法人单位信息",
            "企业信用信息",
            "不动产登记",
            "社保缴纳记录",
            "公积金缴存",
            "医保结算明细",
            "交通违法记录",
            "公共资源交易",
            "气象观测数据",
            "道路交通流量",
            "空气质量监测",
        )
    )
)


def make_bench_events(n: int, *, days: int = 7, seed: int = 0) -> list[Event]:
    """`n` deterministic events of about 500 bytes, evenly over `days` days from `BASE`."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    step = timedelta(days=days) / max(n, 1)
    events = []
    for i in range(n):
        at = BASE + step * i
        user = f"user{rng.randrange(200):03d}"
        asset_id, asset_name = rng.choice(_DATASETS)
        action = rng.choice(_ACTIONS)
        grade = rng.choice(_GRADES)
        city = rng.choice(_CITIES)
        records = rng.randrange(1, 50_000)
        ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        # An API-gateway access line, as the collector would keep it in `log.original`.
        original = f'{ip} {user} "GET /api/v1/datasets/{asset_id}/rows?limit={records}" 200 {city}'
        events.append(
            Event.from_dict(
                {
                    "@timestamp": at,
                    "event.id": f"{seed:02d}-{i:09d}",
                    "event.ingested": at + timedelta(seconds=2),
                    "event.action": action,
                    "event.outcome": "success",
                    "event.dataset": "apigw.access",
                    "observer.collector": "api-gateway",
                    "log.original": original,
                    "source.ip": ip,
                    "source.geo.city_name": city,
                    "user.name": user,
                    "data.asset.id": asset_id,
                    "data.asset.name": asset_name,
                    "data.classification": grade,
                    "data.records": records,
                }
            )
        )
    return events


def _median_ms(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 2)


def bench_store(
    path: str | os.PathLike[str], n: int = 100_000, *, batch: int = 1000, repeat: int = 20
) -> dict[str, Any]:
    """Fill a new SQLite store at `path` (which must not exist) with `n` events; time the main operations."""
    target = Path(path)
    if target.exists():  # never benchmark over (and then purge) somebody's real store
        raise FileExistsError(f"{target} exists; bench_store needs a fresh path")
    with SQLiteEventStore(target) as store:
        figures = measure(store, n, batch=batch, repeat=repeat)
        figures["file_mb"] = round(
            sum(p.stat().st_size for p in target.parent.glob(target.name + "*")) / 1e6, 1
        )
    return figures


def bench_search_store(
    kind: str, url: str, n: int = 100_000, *, batch: int = 1000, repeat: int = 20
) -> dict[str, Any]:
    """The same figures on OpenSearch or Elasticsearch at `url`, in indices of a fresh prefix
    (one replica-less shard per day: a one-node cluster), dropped afterwards."""
    import secrets

    from datasoc.store.search import (
        Connection,
        ElasticsearchEventStore,
        OpenSearchEventStore,
        SearchStoreConfig,
    )

    prefix = f"bench-{secrets.token_hex(4)}-"
    config = SearchStoreConfig(connection=Connection((url,)), index_prefix=prefix, replicas=0)
    store = OpenSearchEventStore(config) if kind == "opensearch" else ElasticsearchEventStore(config)
    try:
        figures = measure(store, n, batch=batch, repeat=repeat)
        figures["bulk_retries"] = store.retries
        return figures
    finally:
        # Retention far in the future empties the store the benchmark's own way, day by day.
        RetentionJob(store, 184).run(BASE + timedelta(days=3650))
        store.close()


def measure(store: EventStore, n: int, *, batch: int = 1000, repeat: int = 20) -> dict[str, Any]:
    """Fill an empty `store` with `n` events and time the main operations on it."""
    started = time.perf_counter()
    events = make_bench_events(n)
    build_s = time.perf_counter() - started
    doc_bytes = sum(len(event.canonical()) for event in events)
    results: dict[str, Any] = {
        "events": n,
        "avg_event_bytes": round(doc_bytes / max(n, 1)),
        "build_s": round(build_s, 2),
    }

    started, cpu_started = time.perf_counter(), time.process_time()
    for offset in range(0, n, batch):
        store.insert_many(events[offset : offset + batch])
    insert_s = time.perf_counter() - started
    # CPU time too: on a shared machine wall time also counts waiting for a core.
    insert_cpu_s = time.process_time() - cpu_started
    started = time.perf_counter()
    store.sync()
    results |= {
        "insert_s": round(insert_s, 2),
        "insert_events_per_s": round(n / insert_s),
        "insert_mb_per_s": round(doc_bytes / insert_s / 1e6, 2),
        "insert_cpu_s": round(insert_cpu_s, 2),
        "insert_events_per_cpu_s": round(n / insert_cpu_s),
        "sync_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    # The first read after the writes: search engines refresh here (what becomes visible when).
    started = time.perf_counter()
    store.count(SearchQuery(start=BASE, end=BASE + timedelta(days=365)))
    results["first_count_ms"] = round((time.perf_counter() - started) * 1000, 1)
    started = time.perf_counter()
    replayed = store.insert_many(events[:batch])
    results["replay_batch_ms"] = round((time.perf_counter() - started) * 1000, 1)
    assert replayed == 0

    day = (BASE + timedelta(days=3), BASE + timedelta(days=4))
    core = (FieldFilter.eq("data.classification", "core"),)
    queries: dict[str, SearchQuery] = {
        "search_1d_hot_filter_ms": SearchQuery(start=day[0], end=day[1], filters=core),
        "search_1d_two_filters_ms": SearchQuery(
            start=day[0], end=day[1], filters=(*core, FieldFilter.eq("source.geo.city_name", "舟山"))
        ),
        "search_1d_json_filter_ms": SearchQuery(
            start=day[0], end=day[1], filters=(FieldFilter.eq("source.geo.city_name", "舟山"),)
        ),
        "search_1d_text_rare_ms": SearchQuery(start=day[0], end=day[1], text="10.7.7."),
        "search_1d_text_common_ms": SearchQuery(start=day[0], end=day[1], text="rows?limit"),
        "search_1d_text_chinese2_ms": SearchQuery(start=day[0], end=day[1], text="舟山", filters=core),
    }
    for name, query in queries.items():
        results[name] = _median_ms(partial(store.search, query), repeat)
    results["count_1d_hot_filter_ms"] = _median_ms(
        lambda: store.count(queries["search_1d_hot_filter_ms"]), repeat
    )
    results["count_by_1d_hourly_grade_ms"] = _median_ms(
        lambda: store.count_by("data.classification", day[0], day[1], timedelta(hours=1)), repeat
    )
    results["count_by_1d_hourly_city_ms"] = _median_ms(
        lambda: store.count_by("source.geo.city_name", day[0], day[1], timedelta(hours=1)), repeat
    )
    page = store.search(SearchQuery(start=day[0], end=day[1], filters=core, limit=100))
    for _ in range(9):
        page = store.search(
            SearchQuery(start=day[0], end=day[1], filters=core, limit=100, after=page.next_cursor)
        )
    results["tenth_page_ms"] = _median_ms(
        lambda: store.search(
            SearchQuery(start=day[0], end=day[1], filters=core, limit=100, after=page.next_cursor)
        ),
        repeat,
    )

    # Purge the first of the days: retention at "now" = BASE + 1 day + retention.
    job = RetentionJob(store, 184)
    started = time.perf_counter()
    report = job.run(BASE + timedelta(days=185))
    purge_s = time.perf_counter() - started
    results |= {
        "purged": report.purged,
        "purge_events_per_s": round(report.purged / purge_s) if purge_s else None,
    }
    return results


if __name__ == "__main__":  # pragma: no cover
    import json
    import sys

    count = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    print(json.dumps(bench_store(sys.argv[1] if len(sys.argv) > 1 else "bench-events.db", count), indent=2))
