"""`datasoc bench platform`: the whole `datasoc run` process under a constant load.

A `datasoc run` subprocess (HTTP ingest -> spool -> store, trail -> ledger, detection -> alerts,
the Flink job unless told otherwise) is fed NDJSON batches at a constant rate for `seconds` per
step of a rising series of rates. Every batch carries one *probe*: a core-data bulk download, an
access (so it is ledgered) that the pack's bulk-export rule alerts on. For each probe the bench
notes when its batch was acknowledged (200, durable) and when it became searchable (the store's
file, read-only), ledgered (`entries.log`, read-only) and alerted (the spool's `alerts` segments,
read-only): p50/p95/p99 of each. A rate is *sustained* when the load generator kept the rate and
every consumer's lag (from `/readyz`) stayed under `rate × lag_seconds` through the second half of
the window. The platform is drained between rates. The load generator runs in this process, on
the same machine: its CPU is taken from the platform's, so the figures are conservative.
"""

from __future__ import annotations

import http.client
import json
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from benchmarks.ingest import BENCH_TOKEN, make_event, write_tokens
from datasoc.transport.segment import HEADER_SIZE, decode_frames, decode_header


def probe(index: int) -> bytes:
    """The probe event of batch `index` (an access the bulk-export rule alerts on)."""
    return orjson.dumps(
        {
            "@timestamp": "2026-11-28T10:00:00.000000Z",
            "event.id": f"probe-{index:09d}",
            "event.action": "dataset.download",
            "event.outcome": "success",
            "event.dataset": "apigw_json",
            "observer.collector": "bench",
            "user.name": "bench-probe",
            "data.asset.id": "ds-probe",
            "data.classification": "core",
            "data.records": 50_000,
            "datasoc.actor_role": "user",
            "datasoc.lifecycle": "transmit",
            "log.original": f"GET /api/v1/datasets/ds-probe/download #{index}",
        }
    )


@dataclass
class Probes:
    """When each probe was acknowledged, and seen searchable, ledgered and alerted (monotonic s)."""

    acked: dict[str, float] = field(default_factory=dict)
    searchable: dict[str, float] = field(default_factory=dict)
    ledgered: dict[str, float] = field(default_factory=dict)
    alerted: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def latencies(self, seen: dict[str, float]) -> list[float]:
        with self.lock:
            return sorted(seen[k] - self.acked[k] for k in seen if k in self.acked)


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50/p95/p99 in milliseconds (None without values)."""
    if not values:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [values[0]] * 99
    return {"p50_ms": cuts[49] * 1000, "p95_ms": cuts[94] * 1000, "p99_ms": cuts[98] * 1000}


class Watcher(threading.Thread):
    """Polls the store, the ledger and the alerts topic (read-only) for probes not yet seen."""

    def __init__(self, data: Path, probes: Probes, kafka: Any = None) -> None:
        super().__init__(daemon=True)
        self.data = data
        self.probes = probes
        #: The platform's transport when it is Kafka (a `KafkaTransport` reading its alerts topic).
        self.kafka = kafka
        self._kafka_at = 0
        self.stop = threading.Event()
        self._ledger_at = 0
        self._alert_files: dict[Path, tuple[int, int]] = {}

    def run(self) -> None:
        while not self.stop.wait(0.05):
            now = time.monotonic()
            self._store(now)
            self._ledger(now)
            self._alerts(now)

    def _pending(self, seen: dict[str, float]) -> list[str]:
        with self.probes.lock:
            return [k for k in self.probes.acked if k not in seen]

    def _store(self, now: float) -> None:
        pending = self._pending(self.probes.searchable)
        path = self.data / "events.sqlite3"
        if not pending or not path.exists():
            return
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as conn:
                marks = ",".join("?" * len(pending))
                rows = conn.execute(f"SELECT id FROM events WHERE id IN ({marks})", pending).fetchall()  # noqa: S608
        except sqlite3.Error:
            return
        with self.probes.lock:
            for (event_id,) in rows:
                self.probes.searchable.setdefault(event_id, now)

    def _ledger(self, now: float) -> None:
        path = self.data / "ledger" / "entries.log"
        if not path.exists():
            return
        with path.open("rb") as handle:
            handle.seek(self._ledger_at)
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._ledger_at += len(complete)
        found = [line for line in complete.split(b"\n") if b'"probe-' in line]
        with self.probes.lock:
            for line in found:
                event_id = json.loads(line)["payload"].get("event.id", "")
                self.probes.ledgered.setdefault(event_id, now)

    def _alerts(self, now: float) -> None:
        if self.kafka is not None:
            self._kafka_alerts(now)
            return
        for path in sorted((self.data / "spool" / "alerts").glob("*.seg")):
            data = path.read_bytes()
            if len(data) < HEADER_SIZE:
                continue
            position, offset = self._alert_files.get(path, (HEADER_SIZE, decode_header(data)))
            frames, used = decode_frames(
                memoryview(data)[position:],
                expected_offset=offset,
                max_records=1 << 30,
                max_record_bytes=1 << 26,
            )
            self._alert_files[path] = (position + used, offset + len(frames))
            with self.probes.lock:
                for frame in frames:
                    for event_id in json.loads(frame.payload).get("event_ids", []):
                        if event_id.startswith("probe-"):
                            self.probes.alerted.setdefault(event_id, now)

    def _kafka_alerts(self, now: float) -> None:
        records = self.kafka.read("alerts", self._kafka_at, 10_000)
        if records:
            self._kafka_at = records[-1].offset + 1
        with self.probes.lock:
            for record in records:
                for event_id in json.loads(record.payload).get("event_ids", []):
                    if event_id.startswith("probe-"):
                        self.probes.alerted.setdefault(event_id, now)


def _readyz(base: str) -> dict[str, Any]:
    connection = http.client.HTTPConnection(base.split("//")[1], timeout=10)
    try:
        connection.request("GET", "/readyz")
        return dict(json.loads(connection.getresponse().read()))
    finally:
        connection.close()


def _lags(base: str) -> dict[str, int]:
    steps = _readyz(base)["steps"]
    return {s["name"]: int(s["lag"]) for s in steps if s["lag"] is not None}


@dataclass
class RateResult:
    """What one rate step measured."""

    target: int
    achieved: float
    sustained: bool
    max_lag: dict[str, int]
    searchable: dict[str, float | None]
    ledgered: dict[str, float | None]
    alerted: dict[str, float | None]
    probes: int


def _feed(
    base: str, rate: int, seconds: float, batch: int, first_probe: int, probes: Probes, base_body: bytes
) -> tuple[int, float]:
    """POST `rate` events/s for `seconds` from one connection; returns (events sent, elapsed)."""
    host = base.split("//")[1]
    connection = http.client.HTTPConnection(host, timeout=60)
    interval = batch / rate
    start = time.monotonic()
    sent = 0
    index = first_probe
    try:
        while (now := time.monotonic()) - start < seconds:
            due = start + (sent // batch) * interval
            if now < due:
                time.sleep(due - now)
            body = base_body + probe(index) + b"\n"
            connection.request(
                "POST", "/api/v1/ingest", body=body, headers={"Authorization": f"Bearer {BENCH_TOKEN}"}
            )
            answer = connection.getresponse()
            answer.read()
            if answer.status == 200:
                with probes.lock:
                    probes.acked[f"probe-{index:09d}"] = time.monotonic()
                sent += batch
                index += 1
            else:
                time.sleep(0.05)  # back-pressure (429) or a refusal: the rate is not kept
    finally:
        connection.close()
    return sent, time.monotonic() - start


def run_rates(
    work: Path,
    rates: Sequence[int],
    *,
    seconds: float,
    batch: int = 1000,
    lag_seconds: float = 5.0,
    engine: str = "flink",
    clients: int = 2,
    kafka: str | None = None,
) -> list[RateResult]:
    """Start `datasoc run` over `work` and measure each rate in turn (see module docstring); with
    `kafka` (a bootstrap `host:port`) its transport is Kafka, under a topic prefix of its own."""
    data = work / "var"
    data.mkdir(parents=True)
    write_tokens(data / "tokens.json", {BENCH_TOKEN: {"source": "bench", "parser": None}})
    env = {
        "DATASOC_DATA_DIR": str(data),
        "DATASOC_COLLECT__HTTP_PORT": "0",
        # A free port: another platform on this machine may hold the default 8600.
        "DATASOC_API__PORT": "0",
        "DATASOC_COLLECT__TOKENS_FILE": "tokens.json",
        "DATASOC_LOG__LEVEL": "warning",
        "DATASOC_DETECTION__ENGINE": engine,
        "DATASOC_COLLECT__LAG_LIMIT": "5000000",
        "PATH": "/usr/bin:/bin",
    }
    reader = None
    if kafka is not None:
        from datasoc.transport import KafkaConfig, KafkaTransport

        prefix = f"bench{time.time_ns() % 10**9}."
        env.update(
            {
                "DATASOC_TRANSPORT__BACKEND": "kafka",
                "DATASOC_TRANSPORT__BOOTSTRAP": kafka,
                "DATASOC_TRANSPORT__TOPIC_PREFIX": prefix,
                "DATASOC_TRANSPORT__GROUP_PREFIX": prefix,
            }
        )
        reader = KafkaTransport(KafkaConfig(bootstrap=kafka, topic_prefix=prefix, group_prefix=prefix))
    datasoc = Path(sys.executable).with_name("datasoc")
    proc = subprocess.Popen(  # noqa: S603 - this interpreter's own datasoc
        [str(datasoc), "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"datasoc run did not start: {proc.communicate(timeout=60)[1].decode()[-2000:]}")
    host, port = json.loads(line)["ready"]["http"]
    base = f"http://{host}:{port}"
    base_body = b"\n".join(make_event(i, 500, prefix="bg") for i in range(batch - 1)) + b"\n"
    try:
        return [
            _measure(
                base,
                data,
                rate,
                seconds,
                batch,
                lag_seconds,
                clients,
                base_body,
                first=k * 100_000_000,
                kafka=reader,
            )
            for k, rate in enumerate(rates)
        ]
    finally:
        proc.terminate()
        proc.communicate(timeout=120)
        if reader is not None:
            reader.close()


def _measure(
    base: str,
    data: Path,
    rate: int,
    seconds: float,
    batch: int,
    lag_seconds: float,
    clients: int,
    base_body: bytes,
    *,
    first: int,
    kafka: Any = None,
) -> RateResult:
    probes = Probes()
    watcher = Watcher(data, probes, kafka)
    watcher.start()
    lags: list[tuple[float, dict[str, int]]] = []
    done = threading.Event()
    started = time.monotonic()

    def sample() -> None:
        while not done.wait(1.0):
            lags.append((time.monotonic() - started, _lags(base)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    outcomes: list[tuple[int, float]] = []

    def client(k: int) -> None:
        outcomes.append(
            _feed(base, rate // clients, seconds, batch, first + k * 10_000_000, probes, base_body)
        )

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    sampler.join()
    sent = sum(n for n, _ in outcomes)
    elapsed = max(e for _, e in outcomes)
    late = [lag for at, lag in lags if at >= seconds / 2]
    names = sorted({name for _at, lag in lags for name in lag})
    max_lag = {name: max((lag.get(name, 0) for lag in late), default=0) for name in names}
    achieved = sent / elapsed
    sustained = achieved >= 0.95 * rate and all(v <= rate * lag_seconds for v in max_lag.values())
    # Drain: every probe of this rate seen everywhere (or two minutes pass).
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (
        len(probes.alerted) < len(probes.acked) or len(probes.ledgered) < len(probes.acked)
    ):
        time.sleep(0.2)
    watcher.stop.set()
    watcher.join()
    return RateResult(
        target=rate,
        achieved=achieved,
        sustained=sustained,
        max_lag=max_lag,
        searchable=percentiles(probes.latencies(probes.searchable)),
        ledgered=percentiles(probes.latencies(probes.ledgered)),
        alerted=percentiles(probes.latencies(probes.alerted)),
        probes=len(probes.acked),
    )


def format_results(results: Sequence[RateResult], engine: str, transport: str = "spool") -> str:
    """The table `datasoc bench platform` prints."""

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f}"

    head = f"{'target/s':>9} {'achieved/s':>11} {'sustained':>9}  "
    head += f"{'searchable':>18}  {'ledgered':>18}  {'alerted':>18}  max lag"
    lines = [
        f"datasoc run ({engine} detection, {transport} transport), constant load; "
        "ms from acknowledgement (p50/p95/p99)",
        head,
    ]
    for r in results:
        cols = []
        for figures in (r.searchable, r.ledgered, r.alerted):
            cols.append(f"{ms(figures['p50_ms'])}/{ms(figures['p95_ms'])}/{ms(figures['p99_ms'])}")
        lags = ", ".join(f"{k} {v:,}" for k, v in r.max_lag.items() if v)
        lines.append(
            f"{r.target:>9,} {r.achieved:>11,.0f} {'yes' if r.sustained else 'no':>9}  "
            f"{cols[0]:>18}  {cols[1]:>18}  {cols[2]:>18}  {lags or '0'}"
        )
    sustained = [r.target for r in results if r.sustained]
    lines.append(f"highest sustained rate: {max(sustained):,} events/s" if sustained else "no rate sustained")
    return "\n".join(lines)
