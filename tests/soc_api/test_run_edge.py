"""`datasoc run` under a connection flood and forged tokens: still serving, still processing.

Fault test of issue 12 on the real process: idle, slowloris and half-open syslog connections past
every cap, forged tokens from one peer; meanwhile another peer's events are acknowledged, indexed
and traced (the background pass lives), the process's descriptors stay bounded, and the ledger
holds one aggregated entry per denying peer, not one per request.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import time
from pathlib import Path
from typing import Any

from audit.storage import LedgerStore
from collectors.inputs.tokens import hash_token, new_token
from datasoc.store import SQLiteEventStore
from tests.soc_api.datasoc_run import spawn_run_listening

LIMITS = {
    "DATASOC_COLLECT__LIMITS__HTTP_MAX_CONNECTIONS": "60",
    "DATASOC_COLLECT__LIMITS__HTTP_MAX_CONNECTIONS_PER_PEER": "10",
    "DATASOC_COLLECT__LIMITS__HTTP_HEADER_TIMEOUT_SECONDS": "2",
    "DATASOC_COLLECT__LIMITS__HTTP_BODY_TIMEOUT_SECONDS": "2",
    "DATASOC_COLLECT__LIMITS__SYSLOG_MAX_CONNECTIONS": "20",
    "DATASOC_COLLECT__LIMITS__SYSLOG_MAX_CONNECTIONS_PER_PEER": "5",
    "DATASOC_COLLECT__LIMITS__SYSLOG_FRAME_TIMEOUT_SECONDS": "2",
    "DATASOC_COLLECT__LIMITS__AUTH_MAX_FAILURES": "5",
}


def event(i: int) -> dict[str, object]:
    return {
        "@timestamp": "2026-11-28T02:13:00Z",
        "event.id": f"edge-{i}",
        "event.action": "dataset.download",
        "event.outcome": "success",
        "observer.collector": "gateway",
        "log.original": f"GET /api/v1/datasets/ds-1/download #{i}",
        "datasoc.lifecycle": "transmit",
        "user.name": "zhangsan",
        "data.asset.id": "ds-1",
    }


def post(port: int, body: bytes, token: str, source: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    try:
        conn.request("POST", "/api/v1/ingest", body=body, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def connect(port: int, source: str) -> socket.socket | None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.settimeout(10)
    try:
        sock.connect(("127.0.0.1", port))
    except OSError:
        sock.close()
        return None
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    """True once the server hung up (after a 503 or 408, or nothing); False if it kept it open."""
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_run_keeps_serving_and_processing_past_every_cap(tmp_path: Path) -> None:
    token = new_token()
    (tmp_path / "tokens.json").write_text(
        json.dumps({hash_token(token): {"source": "gateway", "parser": None}}), encoding="utf-8"
    )
    env = {
        "DATASOC_LOG__LEVEL": "warning",
        "DATASOC_DETECTION__ENGINE": "inprocess",
        "DATASOC_COLLECT__SYSLOG_TCP_PORT": "0",
        "PATH": "/usr/bin:/bin",
        **LIMITS,
    }
    proc, addresses = spawn_run_listening(tmp_path, env, interval=0.2)
    http_port, tcp_port = int(addresses["http"][1]), int(addresses["tcp"][1])  # type: ignore[call-overload]
    flood: list[socket.socket] = []
    try:
        baseline = open_fds(proc.pid)
        # 1. One peer opens 100 idle and slowloris HTTP connections and 50 half-open syslog frames.
        for i in range(100):
            sock = connect(http_port, "127.0.0.1")
            if sock is not None:
                if i % 2:
                    sock.sendall(b"POST /api/v1/ingest HTTP/1.1\r\nHost: x\r\n")  # never finished
                flood.append(sock)
        for _ in range(50):
            sock = connect(tcp_port, "127.0.0.1")
            if sock is not None:
                sock.sendall(b"900 <13>1 2026-11-28T10:00:00Z host app - - - half")
                flood.append(sock)
        # 2. Forged tokens from another peer: denied, then throttled.
        forged = [post(http_port, b"{}", f"forged-{i:020d}", "127.0.0.4") for i in range(12)]
        # 3. Meanwhile a third peer's events are acknowledged.
        body = "\n".join(json.dumps(event(i)) for i in range(50)).encode()
        assert post(http_port, body, token, "127.0.0.2") == 200
        peak = open_fds(proc.pid)
        # 4. The pass still runs: the events are indexed.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with SQLiteEventStore(tmp_path / "events.sqlite3") as store:
                if store.get("edge-49") is not None:
                    break
            time.sleep(0.2)
        else:
            raise AssertionError("events were not indexed within 60 s under the flood")
        # 5. The deadlines closed the slow connections on the server's side.
        closed = sum(closed_by_server(sock) for sock in flood)
        time.sleep(0.5)  # one more pass: the trace follows the indexer
    finally:
        for sock in flood:
            sock.close()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    stderr = err.decode()
    assert proc.returncode == 0, stderr[-2000:]
    assert forged[:5] == [401] * 5
    assert set(forged[5:]) == {429}
    assert closed == len(flood)
    # Caps: at most 10 HTTP and 5 syslog connections of the flooding peer were ever held.
    assert peak - baseline <= 10 + 5 + 10, (baseline, peak)
    assert stderr.count("http_connection_refused") <= 3  # rate-limited, not one line per refusal
    store = LedgerStore.open(tmp_path / "ledger")
    try:
        entries = list(store.entries())
    finally:
        store.close()
    denials: dict[str, Any] = {e.kind: e for e in entries if e.kind.startswith("login.")}
    assert sorted(e.kind for e in entries if e.kind.startswith("login.")) == [
        "login.denied",
        "login.throttled",
    ]
    assert denials["login.denied"].actor == "peer:127.0.0.4"
    assert denials["login.denied"].payload["count"] == 5
    assert denials["login.throttled"].payload["count"] == 7
    assert [e.kind for e in entries].count("access") == 50


def test_a_forged_token_never_waits_for_the_ledger(tmp_path: Path) -> None:
    # Before: the `login.denied` ledger append ran on the event loop and waited for the pass
    # lock, so one forged-token request froze every request for the length of a pass. Here the
    # ledger is held busy (a long commit) while a forged and a valid request are answered.
    import itertools
    from datetime import UTC, datetime

    from datasoc.settings import load_settings
    from soc_api.daemon import Daemon, Roles, ServingThread

    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    token = new_token()
    (tmp_path / "tokens.json").write_text(
        json.dumps({hash_token(token): {"source": "gateway", "parser": None}}), encoding="utf-8"
    )
    settings = load_settings(
        None,
        {
            "DATASOC_DATA_DIR": str(tmp_path),
            "DATASOC_DETECTION__ENGINE": "inprocess",
            "DATASOC_COLLECT__HTTP_PORT": "0",
            "DATASOC_API__PORT": "0",  # free ports: the machine may run another platform
            "DATASOC_COLLECT__TOKENS_FILE": "tokens.json",
        },
    )
    counter = itertools.count()
    daemon = Daemon.open(settings, roles=Roles(), clock=lambda: now, new_id=lambda: f"id-{next(counter)}")
    serving = ServingThread(daemon)
    try:
        port = int(serving.start()["http"][1])
        with daemon.platform.ledger.store._cv:  # a commit holds the ledger for as long as this lasts
            forged = post(port, b"{}", "forged-token-000000000000", "127.0.0.1")
            valid = post(port, json.dumps(event(1)).encode(), token, "127.0.0.1")
        assert (forged, valid) == (401, 200)
        assert daemon._ledger_security_events(now, final=True) == 1  # ledgered by the platform, later
    finally:
        serving.stop()
        daemon.close()
