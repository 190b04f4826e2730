"""The kill test: SIGKILL the collector under load; every acknowledged event is on the spool once.

Each event is sent exactly once (a request that failed is never retried), so an event id present
twice would be a duplicate made by the collector; a request cut by the kill may or may not have
landed, but an acknowledged one must have.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from pathlib import Path

import orjson
import pytest

from benchmarks.ingest import SCRAPE_HEADERS, CollectorProcess, make_event, post_ndjson, write_tokens
from datasoc.transport import EVENTS, Spool

TOKEN = "kill-test-token-0123456789"
CLIENTS = 4
PER_REQUEST = 200


class Load:
    """Client threads posting fresh events to whatever port is current; never resending."""

    def __init__(self) -> None:
        self.port = 0
        self.acked: set[str] = set()
        self.sent: set[str] = set()
        self.errors = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._work, args=(i,)) for i in range(CLIENTS)]

    def _work(self, client: int) -> None:
        sequence = 0
        conn: http.client.HTTPConnection | None = None
        while not self.stop.is_set():
            ids = [f"c{client}-{sequence + i:07d}" for i in range(PER_REQUEST)]
            sequence += PER_REQUEST
            lines = [make_event(0, 500, prefix="x").replace(b"x-000000000000", i.encode()) for i in ids]
            with self.lock:
                self.sent.update(ids)
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                status, answer = post_ndjson(conn, b"\n".join(lines), TOKEN)
            except (OSError, http.client.HTTPException):
                with self.lock:
                    self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.05)
                continue
            if status == 200 and answer["accepted"] == PER_REQUEST:
                with self.lock:
                    self.acked.update(ids)
        if conn is not None:
            conn.close()

    def acked_count(self) -> int:
        with self.lock:
            return len(self.acked)


def _wait(condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "load made no progress"
        time.sleep(0.02)


@pytest.mark.slow
def test_sigkill_loses_no_acknowledged_event_and_duplicates_none(tmp_path: Path) -> None:
    tokens = write_tokens(tmp_path / "tokens.json", {TOKEN: {"source": "load", "parser": None}})
    data = tmp_path / "data"
    load = Load()
    with CollectorProcess(data, tokens, "--lag-consumer", "") as first:
        first.wait_ready()
        load.port = first.http_port
        for thread in load.threads:
            thread.start()
        try:
            _wait(lambda: load.acked_count() >= 4000)
            first.kill()  # mid-stream: the clients are still posting
            acked_at_kill = load.acked_count()
            with CollectorProcess(data, tokens, "--lag-consumer", "") as second:
                second.wait_ready()
                load.port = second.http_port
                _wait(lambda: load.acked_count() >= acked_at_kill + 4000)
                load.stop.set()
                for thread in load.threads:
                    thread.join(timeout=30)
        finally:
            load.stop.set()
    assert load.errors >= 1, "the kill should have cut at least one request"
    with Spool.open(data / "spool") as spool:
        end = spool.range(EVENTS).end
        ids = [orjson.loads(r.payload)["event.id"] for r in spool.read(EVENTS, 0, end)]
    present = set(ids)
    assert len(ids) == len(present), "an event id is on the spool twice"
    assert load.acked <= present, f"{len(load.acked - present)} acknowledged events are missing"
    assert present <= load.sent


@pytest.mark.slow
def test_collect_with_index_consumes_what_it_acknowledged(tmp_path: Path) -> None:
    tokens = write_tokens(tmp_path / "tokens.json", {TOKEN: {"source": "load", "parser": None}})
    data = tmp_path / "data"
    with CollectorProcess(data, tokens, "--index") as collector:
        collector.wait_ready()
        conn = http.client.HTTPConnection("127.0.0.1", collector.http_port, timeout=30)
        body = b"\n".join(make_event(i, 500) for i in range(300))
        status, answer = post_ndjson(conn, body, TOKEN)
        conn.close()
        assert (status, answer["accepted"]) == (200, 300)
        _wait(lambda: _committed(data) == 300)


def _committed(data: Path) -> int:
    path = data / "spool" / EVENTS / "consumers" / "indexer.offset"
    return int(orjson.loads(path.read_bytes())["offset"]) if path.exists() else 0


@pytest.mark.slow
def test_sigkill_during_tcp_syslog_leaves_each_connection_a_gapless_prefix(tmp_path: Path) -> None:
    # Syslog has no acknowledgement, so the property is order: what a connection sent before the
    # kill is on the spool as a prefix of its stream, with no hole and no repeat.
    tokens = write_tokens(tmp_path / "tokens.json", {})
    data = tmp_path / "data"
    sent = [0] * 3
    with CollectorProcess(data, tokens, "--syslog-tcp-port", "0", "--lag-consumer", "") as collector:
        collector.wait_ready()
        port = int(collector.addresses["tcp"][1])

        def stream(conn_no: int) -> None:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                try:
                    while True:
                        seq = sent[conn_no]
                        line = f"<13>Nov 28 10:00:00 host{conn_no} load[{seq}]: 连接 {conn_no} 序号 {seq}\n"
                        sock.sendall(line.encode())
                        sent[conn_no] = seq + 1
                except OSError:
                    return

        threads = [threading.Thread(target=stream, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        _wait(lambda: _syslog_accepted(collector.http_port) >= 3000)
        collector.kill()
        for thread in threads:
            thread.join(timeout=30)
    with Spool.open(data / "spool") as spool:
        events = [orjson.loads(r.payload) for r in spool.read(EVENTS, 0, spool.range(EVENTS).end)]
    by_connection: dict[str, list[int]] = {}
    for event in events:
        by_connection.setdefault(event["host.name"], []).append(event["process.pid"])
    assert len(events) >= 3000, {h: len(s) for h, s in by_connection.items()}
    for host, seqs in by_connection.items():
        assert seqs == list(range(len(seqs))), f"{host}: not a gapless prefix"
        assert len(seqs) <= sent[int(host[-1])]


def _syslog_accepted(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/api/v1/sources", headers=SCRAPE_HEADERS)
        sources = orjson.loads(conn.getresponse().read())
    finally:
        conn.close()
    return sum(int(item["accepted_total"]) for item in sources if item["name"] == "syslog")
