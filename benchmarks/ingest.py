"""HTTP ingest benchmark, and the collector subprocess harness it shares with the kill test.

`bench_ingest` starts `datasoc collect` as a subprocess on a loopback port over a fresh spool,
posts NDJSON batches of normalized events from `clients` keep-alive connections (threads; the
socket I/O releases the GIL), and counts events acknowledged with 200 (durable). In the same run
it appends the same payloads straight to a fresh spool from as many threads: the ratio says what
HTTP, JSON and event validation cost on top of the durable append.
"""

from __future__ import annotations

import gzip as gzip_module
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import orjson

from collectors.inputs.tokens import hash_token
from datasoc.transport import EVENTS, Spool

BENCH_TOKEN = "bench-token-0123456789abcdef"  # noqa: S105 - a loopback-only benchmark credential
_BENCH_TIME = datetime(2026, 1, 1, tzinfo=UTC)


def make_event(index: int, size: int, *, prefix: str = "bench") -> bytes:
    """One normalized event of about `size` bytes as an NDJSON line (no newline)."""
    base = {
        "@timestamp": "2026-11-28T10:00:00.000000Z",
        "event.id": f"{prefix}-{index:012d}",
        "event.action": "api.query",
        "event.outcome": "success",
        "observer.collector": "bench",
        "user.name": f"user{index % 97}",
        "data.asset.id": f"ds-{index % 13:03d}",
        "datasoc.actor_role": "user",
        "datasoc.lifecycle": "use",
        "source.ip": "10.1.2.3",
        "log.original": "",
    }
    pad = max(0, size - len(orjson.dumps(base)))
    base["log.original"] = "GET /api/v1/datasets?q=" + "x" * max(0, pad - 23)
    return orjson.dumps(base)


def write_tokens(path: Path, tokens: dict[str, dict[str, Any]]) -> Path:
    """A tokens file (digests only) for `datasoc collect --tokens`."""
    path.write_text(
        json.dumps({hash_token(token): grant for token, grant in tokens.items()}), encoding="utf-8"
    )
    return path


#: The scrape token a `CollectorProcess` is started with: alone it may read `/metrics` and
#: `/api/v1/sources` of a collector without the API for people (`api.scrape_token`).
SCRAPE_TOKEN = "bench-scrape-token-0123456789"  # noqa: S105 - a loopback test credential
SCRAPE_HEADERS = {"Authorization": f"Bearer {SCRAPE_TOKEN}"}


class CollectorProcess:
    """`datasoc collect` in a subprocess on loopback; a context manager that always reaps it."""

    def __init__(
        self, data_dir: Path, tokens_file: Path, *args: str, env: dict[str, str] | None = None
    ) -> None:
        command = [
            sys.executable,
            "-m",
            "soc_api.commands.collect",
            "--data-dir",
            str(data_dir),
            "--tokens",
            str(tokens_file),
            "--http-port",
            "0",
            *args,
        ]
        full_env = {
            **os.environ,
            "DATASOC_LOG__LEVEL": "warning",
            "DATASOC_API__SCRAPE_TOKEN": SCRAPE_TOKEN,
            **(env or {}),
        }
        # stderr goes to a file: a pipe nobody drains could fill up and stall the collector.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop(), the process outlives a with
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed arguments
            command, stdout=subprocess.PIPE, stderr=self._stderr, env=full_env, cwd=Path.cwd()
        )
        self.addresses: dict[str, list[Any]] = {}
        self.last_stderr = ""

    def wait_ready(self, timeout: float = 30.0) -> dict[str, list[Any]]:
        """Block until the ready line; raises with the child's stderr if it exits first."""
        assert self.process.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and "ready" in message:
                self.addresses = message["ready"]
                return self.addresses
        self.stop()
        raise RuntimeError(f"collector did not become ready: {self.last_stderr[-2000:]}")

    def stderr(self) -> str:
        """What the collector wrote to stderr so far."""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    @property
    def http_port(self) -> int:
        """The bound HTTP port."""
        return int(self.addresses["http"][1])

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (the durability test's crash)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM and wait; SIGKILL if it does not exit in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.process.stdout is not None:
            self.process.stdout.close()
        if not self._stderr.closed:
            self.last_stderr = self.stderr()
            self._stderr.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def post_ndjson(
    conn: http.client.HTTPConnection, body: bytes, token: str, *, gzip: bool = False
) -> tuple[int, dict[str, Any]]:
    """POST one NDJSON body to /api/v1/ingest on a keep-alive connection; (status, JSON answer)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    if gzip:
        headers["Content-Encoding"] = "gzip"
    conn.request("POST", "/api/v1/ingest", body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    try:
        answer = json.loads(data) if data else {}
    except ValueError:
        answer = {"raw": data.decode(errors="replace")}
    return response.status, answer if isinstance(answer, dict) else {"answer": answer}


def _post_all(
    port: int, bodies: Sequence[bytes], clients: int, *, gzip: bool = False
) -> tuple[float, int, int]:
    accepted = [0] * clients
    failures = [0] * clients

    def work(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for body in bodies[index::clients]:
                status, answer = post_ndjson(conn, body, BENCH_TOKEN, gzip=gzip)
                if status == 200:
                    accepted[index] += int(answer["accepted"])
                else:
                    failures[index] += 1
        finally:
            conn.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, sum(accepted), sum(failures)


def _spool_direct(directory: Path, batches: Sequence[list[bytes]], threads: int) -> float:
    with Spool.open(directory) as spool:

        def work(index: int) -> None:
            for batch in batches[index::threads]:
                spool.append(EVENTS, batch, now=_BENCH_TIME)

        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return time.perf_counter() - start


def bench_ingest(
    where: Path, *, events: int, batch: int, clients: int, event_size: int, gzip: bool = False
) -> dict[str, float | int]:
    """Run both measurements in `where` (see module docstring); returns the figures.

    With `gzip`, request bodies are gzip-compressed (level 1) before the clock starts.
    """
    lines = [make_event(i, event_size) for i in range(events)]
    batches = [lines[i : i + batch] for i in range(0, events, batch)]
    bodies = [b"\n".join(chunk) + b"\n" for chunk in batches]
    if gzip:
        bodies = [gzip_module.compress(body, compresslevel=1) for body in bodies]
    tokens = write_tokens(where / "tokens.json", {BENCH_TOKEN: {"source": "bench", "parser": None}})
    with CollectorProcess(where / "collector", tokens, "--lag-consumer", "") as collector:
        collector.wait_ready()
        # One warm-up request so connection set-up and first-use imports are not timed.
        warm = http.client.HTTPConnection("127.0.0.1", collector.http_port, timeout=60)
        post_ndjson(warm, bodies[0], BENCH_TOKEN, gzip=gzip)
        warm.close()
        http_s, accepted, failures = _post_all(collector.http_port, bodies, clients, gzip=gzip)
    spool_s = _spool_direct(where / "spool-direct", batches, clients)
    http_rate = accepted / http_s
    spool_rate = events / spool_s
    return {
        "events": events,
        "event_size": len(lines[0]),
        "batch": batch,
        "clients": clients,
        "gzip": int(gzip),
        "http_accepted": accepted,
        "http_failed_requests": failures,
        "http_seconds": round(http_s, 3),
        "http_events_per_s": round(http_rate),
        "http_mb_per_s": round(accepted * len(lines[0]) / http_s / 1e6, 1),
        "spool_seconds": round(spool_s, 3),
        "spool_events_per_s": round(spool_rate),
        "ratio_http_to_spool": round(http_rate / spool_rate, 3),
    }


def format_report(figures: dict[str, float | int]) -> str:
    """The plain-text lines `datasoc bench ingest` prints."""
    f = figures
    return "\n".join(
        [
            f"ingest bench: {f['events']} events x {f['event_size']} B, {f['batch']} per request, "
            f"{f['clients']} client connection(s), loopback{', gzip bodies' if f.get('gzip') else ''}",
            f"{'path':<40}{'events/s':>12}{'seconds':>10}",
            f"{'HTTP bulk ingest, durable 200':<40}{f['http_events_per_s']:>12,}{f['http_seconds']:>10}",
            f"{'spool append, same payloads':<40}{f['spool_events_per_s']:>12,}{f['spool_seconds']:>10}",
            f"ratio HTTP / spool: {f['ratio_http_to_spool']:.3f}   "
            f"accepted {f['http_accepted']}, failed requests {f['http_failed_requests']}",
        ]
    )
