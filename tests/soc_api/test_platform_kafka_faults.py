"""The platform on Kafka under faults: `datasoc run` SIGKILLed mid-ingest and restarted, and the
broker stopped during HTTP ingest. Either way every acknowledged event is in the store once, and
the broker's events topic holds no event twice (clients never resend, so a repeat would be the
platform's)."""

from __future__ import annotations

import itertools
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson
import pytest

from benchmarks.ingest import make_event, write_tokens
from datasoc.settings import load_settings
from datasoc.store import SearchQuery, SQLiteEventStore
from datasoc.transport import EVENTS, KafkaConfig, KafkaTransport
from services import Server
from soc_api.daemon import Daemon, Roles, ServingThread
from tests.soc_api.api.test_durability import TOKEN, Load
from tests.soc_api.datasoc_run import spawn_run
from tests.soc_api.test_platform_kafka import kafka_env

#: How long the broker stays away in the outage test.
OUTAGE_S = 60.0
EVERYTHING = SearchQuery(
    start=datetime(2026, 1, 1, tzinfo=UTC), end=datetime(2027, 1, 1, tzinfo=UTC), limit=1
)


def _wait(condition: Callable[[], bool], what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.1)


def _topic_ids(kafka: Server, prefix: str) -> list[str]:
    config = KafkaConfig(bootstrap=kafka.address, topic_prefix=prefix, group_prefix=prefix)
    with KafkaTransport(config) as transport:
        end = transport.range(EVENTS).end
        ids: list[str] = []
        while len(ids) < end:
            records = transport.read(EVENTS, len(ids), 5000)
            ids.extend(orjson.loads(r.payload)["event.id"] for r in records)
        return ids


def _indexed(kafka: Server, prefix: str) -> bool:
    config = KafkaConfig(bootstrap=kafka.address, topic_prefix=prefix, group_prefix=prefix)
    with KafkaTransport(config) as transport:
        return transport.consumer_offsets(EVENTS).get("indexer") == transport.range(EVENTS).end


def _stored(store_path: Path, ids: set[str]) -> tuple[int, set[str]]:
    with SQLiteEventStore(store_path) as store:
        return store.count(EVERYTHING), {i for i in ids if store.get(i) is None}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sigkill_of_the_platform_mid_ingest_loses_and_duplicates_nothing_acknowledged(
    kafka_server: Server, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    write_tokens(data / "tokens.json", {TOKEN: {"source": "load", "parser": None}})
    env = kafka_env(data, kafka_server, DATASOC_LOG__LEVEL="warning", PATH="/usr/bin:/bin")
    prefix = env["DATASOC_TRANSPORT__TOPIC_PREFIX"]
    load = Load()
    first, url = spawn_run(data, env, interval=0.1)
    try:
        load.port = int(url.split(":")[2].split("/")[0])
        for thread in load.threads:
            thread.start()
        _wait(lambda: load.acked_count() >= 3000, "3000 events acknowledged")
        first.send_signal(signal.SIGKILL)  # mid-stream: the clients are still posting
        first.communicate(timeout=30)
        acked_at_kill = load.acked_count()
        second, url = spawn_run(data, env, interval=0.1)
        try:
            load.port = int(url.split(":")[2].split("/")[0])
            _wait(lambda: load.acked_count() >= acked_at_kill + 3000, "3000 more after the restart")
            load.stop.set()
            for thread in load.threads:
                thread.join(timeout=30)
            _wait(lambda: _indexed(kafka_server, prefix), "the indexer caught up", timeout=300)
        finally:
            second.send_signal(signal.SIGTERM)
            _out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err.decode()[-3000:]
    finally:
        load.stop.set()
        if first.poll() is None:
            first.kill()
            first.communicate(timeout=30)
    assert load.errors >= 1, "the kill should have cut at least one request"
    ids = _topic_ids(kafka_server, prefix)
    present = set(ids)
    assert len(ids) == len(present), f"{len(ids) - len(present)} events are on the broker twice"
    assert load.acked <= present, f"{len(load.acked - present)} acknowledged events are not on the broker"
    assert present <= load.sent
    count, missing = _stored(data / "events.sqlite3", present)
    assert not missing, f"{len(missing)} events on the broker are not in the store"
    assert count == len(present)  # and none twice


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_broker_stopped_under_http_ingest_answers_back_pressure_and_loses_nothing(
    own_kafka: Server, tmp_path: Path
) -> None:
    token = "outage-token-0123456789abcdef"
    write_tokens(tmp_path / "tokens.json", {token: {"source": "load", "parser": None}})
    env = kafka_env(
        tmp_path,
        own_kafka,
        DATASOC_TRANSPORT__DELIVERY_TIMEOUT_SECONDS="3",
        DATASOC_TRANSPORT__REQUEST_TIMEOUT_SECONDS="3",
    )
    prefix = env["DATASOC_TRANSPORT__TOPIC_PREFIX"]
    counter = itertools.count()
    daemon = Daemon.open(
        load_settings(None, env),
        roles=Roles(),
        clock=lambda: datetime.now(UTC),
        new_id=lambda: f"id-{next(counter)}",
    )
    serving = ServingThread(daemon)
    answers: dict[str, list[tuple[int, str | None]]] = {"before": [], "outage": [], "after": []}
    acked: set[str] = set()
    phase = ["before"]
    stop = threading.Event()

    def client() -> None:  # one request at a time, never resending: fresh ids each time
        with httpx.Client(timeout=60) as http:
            for batch in itertools.count():
                if stop.is_set():
                    return
                ids = [f"o-{batch:05d}-{k:03d}" for k in range(100)]
                body = b"\n".join(
                    make_event(0, 400, prefix="x").replace(b"x-000000000000", i.encode()) for i in ids
                )
                at = phase[0]
                try:
                    answer = http.post(url, content=body, headers={"Authorization": f"Bearer {token}"})
                except httpx.HTTPError:
                    answers[at].append((0, None))
                    continue
                answers[at].append((answer.status_code, answer.headers.get("retry-after")))
                if answer.status_code == 200:
                    assert answer.json()["accepted"] == len(ids)
                    acked.update(ids)
                else:
                    time.sleep(0.2)

    try:
        daemon.start()
        port = int(serving.start()["http"][1])
        url = f"http://127.0.0.1:{port}/api/v1/ingest"
        writer = threading.Thread(target=client)
        writer.start()
        _wait(lambda: len(acked) >= 2000, "2000 events acknowledged before the outage")
        phase[0] = "outage"
        own_kafka.kill()
        time.sleep(OUTAGE_S)
        phase[0] = "after"
        own_kafka.start()
        own_kafka.wait_ready()
        settled = len(answers["after"])
        _wait(
            lambda: sum(s == 200 for s, _ in answers["after"][settled:]) >= 20, "acknowledgements again", 300
        )
        stop.set()
        writer.join(120)
        _wait(lambda: _indexed(own_kafka, prefix), "the indexer caught up", timeout=300)
    finally:
        stop.set()
        serving.stop()
        daemon.close()
    refused = [(status, retry) for status, retry in answers["outage"] if status != 200]
    assert len(refused) >= 5, answers["outage"][:20]
    assert {status for status, _ in refused} <= {429, 503}, refused[:20]
    assert all(retry is not None and int(retry) >= 1 for _, retry in refused)
    # At most the requests in flight when the broker went away were still acknowledged by it.
    assert sum(status == 200 for status, _ in answers["outage"]) <= 1
    ids = _topic_ids(own_kafka, prefix)
    present = set(ids)
    assert len(ids) == len(present), f"{len(ids) - len(present)} events are on the broker twice"
    assert acked <= present, f"{len(acked - present)} acknowledged events are not on the broker"
    count, missing = _stored(tmp_path / "events.sqlite3", present)
    assert not missing, f"{len(missing)} events on the broker are not in the store"
    assert count == len(present)
