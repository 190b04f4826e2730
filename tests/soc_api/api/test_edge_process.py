"""The collector as a process: a retry after `kill -9` stores once; a spool that cannot take
writes is answered 503 with Retry-After and logged once, not a 500 with a traceback per request."""

from __future__ import annotations

import http.client
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson

from benchmarks.ingest import CollectorProcess, make_event, write_tokens
from datasoc.transport import EVENTS, Spool

TOKEN = "edge-test-token-0123456789"


def without_ids(count: int) -> bytes:
    lines = []
    for i in range(count):
        value = orjson.loads(make_event(i, 400, prefix="retry"))
        del value["event.id"]
        lines.append(orjson.dumps(value))
    return b"\n".join(lines)


def post(port: int, body: bytes, **headers: str) -> tuple[int, dict[str, str], dict[str, object]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        sent = {"Authorization": f"Bearer {TOKEN}", **headers}
        conn.request("POST", "/api/v1/ingest", body=body, headers=sent)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read() or b"{}")
    finally:
        conn.close()


def test_a_retry_after_kill_9_stores_its_events_once(tmp_path: Path) -> None:
    # Before: the server assigned random event ids, so a sender that retried a request whose
    # answer it never saw (here: the collector was killed) stored every event twice.
    tokens = write_tokens(tmp_path / "tokens.json", {TOKEN: {"source": "gw", "parser": None}})
    body = without_ids(300)
    with CollectorProcess(tmp_path / "data", tokens) as first:
        first.wait_ready()
        status, _, answer = post(first.http_port, body, **{"Idempotency-Key": "gw-batch-42"})
        assert (status, answer["accepted"], answer["duplicates"]) == (200, 300, 0)
        first.kill()
    with CollectorProcess(tmp_path / "data", tokens) as second:
        second.wait_ready()
        status, _, answer = post(second.http_port, body, **{"Idempotency-Key": "gw-batch-42"})
        assert (status, answer["accepted"], answer["duplicates"]) == (200, 300, 300)
    with Spool.open(tmp_path / "data" / "spool") as spool:
        assert spool.range(EVENTS).end == 300


def _small_disk() -> None:
    # A file size limit makes the spool's writes fail (EFBIG) as a full disk would (ENOSPC);
    # SIGXFSZ is ignored so the write returns the error instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2 * 1024 * 1024, 2 * 1024 * 1024))


def test_a_spool_that_cannot_take_writes_answers_503_with_retry_after_and_logs_once(tmp_path: Path) -> None:
    tokens = write_tokens(tmp_path / "tokens.json", {TOKEN: {"source": "gw", "parser": None}})
    stderr = (tmp_path / "stderr.log").open("wb")
    command = [
        sys.executable, "-m", "soc_api.commands.collect", "--data-dir", str(tmp_path / "data"),
        "--tokens", str(tokens), "--http-port", "0", "--lag-consumer", "",
    ]  # fmt: skip
    env = {**os.environ, "DATASOC_LOG__LEVEL": "info", "DATASOC_LOG__FORMAT": "json"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, env=env, preexec_fn=_small_disk)
    try:
        assert proc.stdout is not None
        port = int(json.loads(proc.stdout.readline())["ready"]["http"][1])
        statuses: list[int] = []
        answers = []
        for batch in range(12):  # 12 x 300 kB: past the 2 MiB the process may write
            lines = [make_event(batch * 1000 + i, 500) for i in range(600)]
            status, headers, answer = post(port, b"\n".join(lines))
            statuses.append(status)
            if status != 200:
                answers.append((headers, answer))
        time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        stderr.close()
    assert statuses[0] == 200
    assert 503 in statuses
    assert set(statuses) == {200, 503}
    headers, answer = answers[-1]
    assert headers["retry-after"] == "5"
    assert headers["content-type"] == "application/problem+json"
    assert answer["type"] == "urn:datasoc:problem:storage-unavailable"
    log = (tmp_path / "stderr.log").read_text()
    assert log.count("spool_unwritable") == 1  # once per state change, not per request
    assert "Traceback" not in log
    with Spool.open(tmp_path / "data" / "spool") as spool:
        assert spool.range(EVENTS).end == 600 * statuses.count(200)  # every acknowledged event
