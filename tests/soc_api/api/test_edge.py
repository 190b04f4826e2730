"""The HTTP listener against hostile clients, on real sockets against the real server (uvicorn).

Each test starts `run_collector` in a thread of its own with small caps and short deadlines, and
talks to it with plain sockets, so what is measured is what a client on the network sees.
"""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from benchmarks.ingest import SCRAPE_HEADERS, SCRAPE_TOKEN
from collectors.inputs.guard import ConnectionLimits, ThrottleConfig
from collectors.inputs.http import HttpIngestConfig
from collectors.inputs.tokens import TokenGrant, TokenStore, hash_token
from collectors.security import SecurityEvents
from datasoc.transport import DEADLETTER, EVENTS, Spool
from soc_api.api.protocol import HttpDeadlines
from soc_api.api.server import CollectConfig, run_collector
from tests.collectors.inputs.conftest import event_dict, ndjson
from tests.soc_api.api.conftest import GW_TOKEN, NOW


@dataclass
class Server:
    port: int
    spool: Spool
    security: SecurityEvents

    def connect(self, source: str = "127.0.0.1", timeout: float = 10.0) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((source, 0))
        sock.settimeout(timeout)
        sock.connect(("127.0.0.1", self.port))
        return sock

    def post(
        self, body: bytes, *, token: str = GW_TOKEN, source: str = "127.0.0.1", **headers: str
    ) -> tuple[int, dict[str, str], Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30, source_address=(source, 0))
        try:
            sent = {
                "Authorization": f"Bearer {token}",
                **{k.replace("_", "-"): v for k, v in headers.items()},
            }
            conn.request("POST", "/api/v1/ingest", body=body, headers=sent)
            response = conn.getresponse()
            data = response.read()
            return response.status, dict(response.getheaders()), json.loads(data) if data else None
        finally:
            conn.close()


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (a reset counts as a failure of the test)."""
    parts = []
    while chunk := sock.recv(65536):
        parts.append(chunk)
    return b"".join(parts)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    config = CollectConfig(
        tokens=TokenStore.from_tokens({GW_TOKEN: TokenGrant("gw-1")}),
        http_port=0,
        http=HttpIngestConfig(max_body_bytes=256 * 1024, max_decoded_bytes=256 * 1024),
        http_limits=ConnectionLimits(max_connections=40, max_per_peer=8),
        http_deadlines=HttpDeadlines(header_timeout=0.5, body_timeout=0.8, linger=1.0),
        max_header_bytes=8 * 1024,
        throttle=ThrottleConfig(max_failures=3, window=timedelta(seconds=60), block=timedelta(seconds=30)),
        silence_check_seconds=0.2,
        scrape_token_digest=hash_token(SCRAPE_TOKEN),
    )
    spool = Spool.open(tmp_path / "spool")
    security = SecurityEvents()
    ready = threading.Event()
    addresses: dict[str, Any] = {}
    holder: dict[str, Any] = {}

    def serve() -> None:
        async def main() -> None:
            stop = asyncio.Event()
            holder["stop"] = stop
            holder["loop"] = asyncio.get_running_loop()

            def on_ready(found: dict[str, Any]) -> None:
                addresses.update(found)
                ready.set()

            await run_collector(
                spool,
                config,
                stop=stop,
                clock=lambda: NOW,
                new_id=lambda: "x",
                on_ready=on_ready,
                security=security,
            )

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(30), "the collector did not start"
    try:
        yield Server(addresses["http"][1], spool, security)
    finally:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)
        thread.join(30)
        spool.close()


def test_slowloris_headers_are_cut_off_with_408(server: Server) -> None:
    sock = server.connect()
    sock.sendall(b"POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\n")  # and never the rest
    answer = read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"application/problem+json" in answer


def test_a_slow_body_is_cut_off_with_408(server: Server) -> None:
    sock = server.connect()
    head = (
        f"POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {GW_TOKEN}\r\n"
        "Content-Length: 1000\r\n\r\n"
    )
    sock.sendall(head.encode() + b'{"a"')  # 4 of 1000 bytes
    answer = read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert server.spool.range(EVENTS).end == 0


def test_idle_connections_are_closed(server: Server) -> None:
    sock = server.connect()
    assert read_all(sock) == b""  # nothing sent, nothing answered: closed after the header deadline
    sock.close()


def test_a_huge_authorization_header_is_answered_431_not_reset(server: Server) -> None:
    # Before: a 1 MB Authorization header made the server close while the client was still
    # sending, and the client saw a connection reset instead of an answer.
    sock = server.connect()
    request = (
        b"POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + b"A" * (1 << 20) + b"\r\n\r\n"
    )
    sock.sendall(request)
    answer = read_all(sock)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 431 ")
    assert b'"status":431' in answer


def test_connections_past_a_peers_cap_are_refused_while_other_peers_are_served(server: Server) -> None:
    held = [server.connect() for _ in range(8)]
    refused = server.connect()
    assert read_all(refused).startswith(b"HTTP/1.1 503 ")  # refused at accept, with a 503
    refused.close()
    status, _, answer = server.post(ndjson(event_dict(1)), source="127.0.0.2")
    assert (status, answer["accepted"]) == (200, 1)
    for sock in held:
        sock.close()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30, source_address=("127.0.0.2", 0))
    conn.request("GET", "/metrics", headers=SCRAPE_HEADERS)
    metrics = conn.getresponse().read().decode()
    conn.close()
    assert 'datasoc_listener_refused_total{cap="peer",listener="http"} 1.0' in metrics


def test_repeated_bad_tokens_are_throttled_before_the_token_is_checked(server: Server) -> None:
    statuses = [server.post(ndjson(event_dict(1)), token=f"forged-token-{i:08d}")[0] for i in range(3)]
    status, headers, answer = server.post(ndjson(event_dict(1)))  # even the right token now
    assert statuses == [401, 401, 401]
    assert (status, headers["retry-after"], answer["type"]) == (
        429,
        "30",
        "urn:datasoc:problem:auth-throttled",
    )
    assert server.post(ndjson(event_dict(1)), source="127.0.0.2")[0] == 200  # another peer is not
    summaries = server.security.drain(NOW, final=True)
    assert sorted((s.kind, s.count) for s in summaries) == [("login.denied", 3), ("login.throttled", 1)]


def test_a_retried_request_with_an_idempotency_key_stores_its_events_once(server: Server) -> None:
    records = [event_dict(i, **{"event.id": None}) for i in range(5)]
    body = ndjson(*records)
    first = server.post(body, idempotency_key="batch-0001")
    retry = server.post(body, idempotency_key="batch-0001")
    other = server.post(body, idempotency_key="batch-0002")
    assert first[2]["accepted"] == retry[2]["accepted"] == 5
    assert (first[2]["duplicates"], retry[2]["duplicates"], other[2]["duplicates"]) == (0, 5, 0)
    assert server.spool.range(EVENTS).end == 10


def test_a_body_of_bad_lines_makes_bounded_dead_letters_and_gzip_cannot_inflate_past_the_body_limit(
    server: Server,
) -> None:
    status, _, answer = server.post(b"x\n" * 100_000)
    assert (status, answer["rejected"], len(answer["errors"])) == (200, 100_000, 20)
    assert server.spool.range(DEADLETTER).end == 101  # 100 kept whole and one summary
    bomb = gzip.compress(b"x\n" * (200 * 1024))  # 400 kB inflated, over the 256 kB body limit
    status, _, answer = server.post(bomb, content_encoding="gzip")
    assert (status, answer["status"]) == (413, 413)


def test_the_server_keeps_answering_during_a_flood_of_idle_connections(server: Server) -> None:
    flood = []
    for peer in range(2, 12):  # ten peers hold every slot of the listener (40) and more
        for _ in range(8):
            try:
                flood.append(server.connect(f"127.0.0.{peer}"))
            except OSError:
                break
    time.sleep(0.1)
    # Full now; the header deadline frees the slots and the listener serves again.
    deadline = time.monotonic() + 20
    while True:
        try:
            status, _, _ = server.post(ndjson(event_dict(2)), source="127.0.1.1")
        except (ConnectionError, http.client.HTTPException):
            status = 0
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for sock in flood:
        sock.close()
    assert status == 200
