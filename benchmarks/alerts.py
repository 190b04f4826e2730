"""`datasoc bench alerts`: alert intake and notification throughput with the outbox durable.

1. Intake: detection alerts into the alert store in batches of 1,000 (one state-store transaction
   per batch, `synchronous=FULL`, with grouping, suppression lookup, routing, the outbox rows and
   the batch's ledger entries), next to the raw SQLite insert of the same alert documents with the
   same durability (what a store without grouping, outbox or ledger would cost).
2. Paced: alerts appended to the spool's `alerts` topic at a constant rate while the platform's
   two steps (`alert_store` and `notifier`, supervised threads as in `datasoc run`) take them in
   and deliver them to a local HTTPS webhook receiver that verifies each HMAC signature; latency is
   from the append to the receiver's processing of each notification (target: none later than 5 s at
   2,000 alerts/s). Next to it, the same alerts POSTed by the producer straight to the same
   receiver (a plain webhook: no store, no outbox, nothing durable) at the same rate.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import ssl
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from audit.ledger import Ledger
from crypto.primitives.sm2_keys import ScryptParams
from crypto.recipes import KeyStore
from datasoc.alert import Alert
from datasoc.event import format_timestamp
from datasoc.gcpolicy import service_gc
from datasoc.settings import Settings
from datasoc.state import StateStore
from datasoc.transport import ALERTS, Spool
from soc_api.alerting import MIGRATIONS
from soc_api.alerting.channels import build_senders
from soc_api.alerting.channels.http import webhook_signature
from soc_api.alerting.config import AlertingConfig, default_config
from soc_api.alerting.delivery import Deliverer
from soc_api.alerting.intake import AlertIntake, LedgerRecorder, take_in
from soc_api.alerting.receivers import LocalReceivers
from soc_api.alerting.routing import Route
from soc_api.alerting.steps import DeliveryStep, IntakeStep
from soc_api.detector import encode_alert
from soc_api.identity import MIGRATIONS as IDENTITY_MIGRATIONS
from soc_api.platform import checkpoint_policy
from soc_api.supervisor import Supervisor

TARGET_SECONDS = 5.0
#: Alerts the bench plans to encode a second before its paced clock starts (a floor, measured ~40,000).
ENCODE_BUDGET_PER_S = 15_000


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (ceil(q*n))."""
    if not samples:
        return 0.0
    ordered = sorted(samples)
    rank = max(1, -(-int(q * len(ordered) * 1000) // 1000))
    return ordered[min(rank, len(ordered)) - 1]


def bench_alert(n: int, at: datetime, *, run: str) -> Alert:
    """A detection alert of its own group (worst case: every one opens an alert and notifies)."""
    event_id = "ev-" + hashlib.sha256(f"{run}{n}".encode()).hexdigest()[:32]
    stamp = format_timestamp(at)
    event = {
        "@timestamp": stamp,
        "event.id": event_id,
        "event.action": "dataset.download",
        "user.name": f"u{n}",
        "source.ip": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}",
        "data.asset.id": "ds-core-1",
        "data.classification": "core",
        "observer.collector": "http:bench",
    }
    return Alert.from_dict(
        {
            "alert.id": "al-" + hashlib.sha256(f"{run}:{event_id}".encode()).hexdigest()[:32],
            "rule.id": "bench-rule",
            "rule.title": "基准 / bench",
            "rule.level": "high",
            "rule.tags": ["attack.exfiltration"],
            "warning_level": "red",
            "group": {},
            "event_ids": [event_id],
            "events": [event],
            "first_seen": stamp,
            "last_seen": stamp,
            "count": 1,
        }
    )


def _open(directory: Path) -> tuple[StateStore, Ledger]:
    keys = KeyStore.create(
        directory / "keys",
        b"bench-passphrase",
        now=datetime.now(UTC),
        scrypt_params=ScryptParams(n=2**10, r=8, p=1),
    )
    ledger = Ledger.open(
        directory / "ledger",
        keys.signing_key,
        origin="datasoc.bench/alerts",
        policy=checkpoint_policy(Settings()),
    )
    state = StateStore.open(directory / "state.sqlite3")
    state.migrate((*IDENTITY_MIGRATIONS, *MIGRATIONS), now=lambda: datetime.now(UTC))
    return state, ledger


def _config(channels: tuple[str, ...]) -> AlertingConfig:
    route = Route(id="settings:all", name="all", channels=channels, origin="settings")
    return replace(default_config(), channels=channels, routes=(route,) if channels else ())


def run_intake(directory: Path, *, alerts: int, batch: int = 1000) -> dict[str, float]:
    """Intake rate (alerts/s, with one notification each) and the raw SQLite reference."""
    state, ledger = _open(directory / "intake")
    config = _config(("hook",))
    recorder = LedgerRecorder(ledger, lambda: datetime.now(UTC))
    now = datetime.now(UTC)
    made = [bench_alert(n, now, run="intake") for n in range(alerts)]
    with service_gc():  # as `datasoc run` runs once started (datasoc.gcpolicy)
        started = time.perf_counter()
        for i in range(0, alerts, batch):
            take_in(state, recorder, config, made[i : i + batch], now=datetime.now(UTC))
        intake = time.perf_counter() - started
    ledger.close()
    state.close()
    raw_path = directory / "raw.sqlite3"
    conn = sqlite3.connect(raw_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE alerts (id TEXT PRIMARY KEY, doc TEXT NOT NULL) STRICT")
    docs = [(a.alert_id, json.dumps(a.to_dict(), ensure_ascii=False)) for a in made]
    started = time.perf_counter()
    for i in range(0, alerts, batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT OR IGNORE INTO alerts VALUES (?, ?)", docs[i : i + batch])
        conn.execute("COMMIT")
    raw = time.perf_counter() - started
    conn.close()
    return {"alerts": alerts, "intake_per_s": alerts / intake, "raw_sqlite_per_s": alerts / raw}


def _produce(spool: Spool, payloads: list[bytes], rate: int, start: float) -> None:
    """Append the pre-encoded `payloads` at `rate` a second from wall time `start` (every 10 ms; each
    alert's time is its scheduled append time)."""
    sent = 0
    while sent < len(payloads):
        due = min(len(payloads), int((time.time() - start) * rate) + 1)
        if due > sent:
            spool.append(ALERTS, payloads[sent:due], now=datetime.now(UTC))
            sent = due
        time.sleep(0.01)


def _serve_receivers(directory: str, record: str, pipe: Any) -> None:
    """The receiver process: serves until told to stop; sends back its webhook channel settings."""
    receivers = LocalReceivers.start(Path(directory), now=datetime.now(UTC), record=Path(record))
    pipe.send((receivers.channels(timeout=5.0)[0].model_dump(mode="python"), str(receivers.pki.ca)))
    pipe.recv()
    receivers.stop()


def _received(record: Path) -> dict[str, float]:
    found: dict[str, float] = {}
    if record.exists():
        for line in record.read_text(encoding="utf-8").splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue  # a line being written
            found[item["key"]] = item["received_at"]
    return found


def run_paced(directory: Path, *, rate: int, seconds: float, channel_batch: int = 1) -> dict[str, Any]:
    """Alerts at `rate`/s through intake and delivery to a local webhook receiver in a process of its
    own (as a real receiver is); latencies from the scheduled append to the receiver's processing."""
    import multiprocessing

    from datasoc.settings_alerting import WebhookChannel

    record = directory / "received.jsonl"
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    server = context.Process(
        target=_serve_receivers, args=(str(directory / "receivers"), str(record), child), daemon=True
    )
    server.start()
    try:
        settings, _ca = parent.recv()
        hook = WebhookChannel(**{**settings, "concurrency": 8, "max_batch": channel_batch})
        state, ledger = _open(directory / "paced")
        spool = Spool.open(directory / "paced" / "spool")
        config = _config((hook.name,))
        recorder = LedgerRecorder(ledger, lambda: datetime.now(UTC))
        deliverer = Deliverer(
            state,
            build_senders([hook], push_signer=None),
            config,
            recorder,
            clock=lambda: datetime.now(UTC),
            jitter=lambda: 0.5,
        )
        # Wired as the daemon wires them: intake and finished sends wake the notifier.
        intake = AlertIntake(spool, state, recorder, config, on_change=lambda: supervisor.wake("notifier"))
        deliverer.wake = lambda: supervisor.wake("notifier")
        interval = Settings().platform.step_interval_seconds  # as `datasoc run` steps them
        supervisor = Supervisor(
            [IntakeStep(intake, interval=interval), DeliveryStep(deliverer, interval=interval)],
            clock=lambda: datetime.now(UTC),
        )
        total = int(rate * seconds)
        # Encoded before the clock starts: the producer stands for detection, not for this cost. The
        # start leaves time for it (about 40,000 a second here): a start that passed during encoding
        # would append the overdue alerts in one burst, late before the platform saw them.
        start = time.time() + 2.0 + total / ENCODE_BUDGET_PER_S
        payloads = [
            encode_alert(bench_alert(n, datetime.fromtimestamp(start + n / rate, UTC), run="paced"))
            for n in range(total)
        ]
        if time.time() > start:
            raise RuntimeError(
                f"encoding {total:,} alerts took past the planned start; lower --seconds or --rate"
            )
        with service_gc():  # as `datasoc run` runs once started (datasoc.gcpolicy)
            supervisor.start()
            time.sleep(max(0.0, start - time.time()))
            cpu_before = time.process_time()
            _produce(spool, payloads, rate, start)
            produced_for = time.time() - start
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline:
                with state.read() as conn:
                    pending = conn.execute(
                        "SELECT count(*) FROM notifications WHERE status = 'pending'"
                    ).fetchone()[0]
                if intake.committed >= total and not pending:
                    break
                time.sleep(0.1)
            drained_for = time.time() - start
            # The platform's own cost (the receiver is another process): noisy neighbours stretch the
            # latencies above, much less this.
            cpu_seconds = time.process_time() - cpu_before
            supervisor.stop(30)
        deliverer.close()
        with state.read() as conn:
            created = {
                r[0]: r[1]
                for r in conn.execute(
                    "SELECT n.key, a.first_seen FROM notifications n JOIN alerts a ON a.id = n.alert_id"
                )
            }
        spool.close()
        ledger.close()
        state.close()
        time.sleep(0.5)
        received = _received(record)
        latencies = [
            received[key] - datetime.fromisoformat(first.replace("Z", "+00:00")).timestamp()
            for key, first in created.items()
            if key in received
        ]
        plain = _plain_webhook(hook, _ca, rate=rate, seconds=min(seconds, 10.0))
    finally:
        parent.send("stop")
        server.join(30)
    return {
        "rate": rate,
        "seconds": seconds,
        "channel_batch": channel_batch,
        "alerts": total,
        "delivered": len(latencies),
        "produce_seconds": produced_for,
        "drain_seconds": drained_for,
        "p50_s": percentile(latencies, 0.5),
        "p95_s": percentile(latencies, 0.95),
        "p99_s": percentile(latencies, 0.99),
        "max_s": max(latencies, default=0.0),
        "over_5s": sum(1 for x in latencies if x > TARGET_SECONDS),
        "cpu_ms_per_alert": cpu_seconds * 1000 / max(total, 1),
        **plain,
    }


def _plain_webhook(hook: Any, ca: str, *, rate: int, seconds: float) -> dict[str, float]:
    """The reference: the producer POSTs each alert to the receiver itself (8 connections)."""
    secret = hook.secret.get_secret_value().encode()
    total = int(rate * seconds)
    done = [0]
    lock = threading.Lock()
    started = time.monotonic()

    def worker(offset: int) -> None:
        with httpx.Client(verify=ssl.create_default_context(cafile=ca), timeout=5.0) as client:
            for n in range(offset, total, 8):
                due = started + n / rate
                time.sleep(max(0.0, due - time.monotonic()))
                key = f"plain-{n}"
                body = json.dumps({"key": key, "kind": "alert", "alert": {"id": key}}).encode()
                headers = {
                    "X-Datasoc-Signature": webhook_signature(secret, int(time.time()), body),
                    "Idempotency-Key": key,
                }
                client.post(hook.url, content=body, headers={"Content-Type": "application/json", **headers})
                with lock:
                    done[0] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return {"plain_webhook_per_s": done[0] / elapsed, "plain_webhook_sent": done[0]}


def format_report(intake: dict[str, float], paced: dict[str, Any]) -> str:
    """The plain-text report."""
    p = paced
    lines = [
        f"alert intake: {intake['alerts']:,} alerts in batches of 1,000 (each its own alert and one "
        "notification; state store synchronous=FULL, ledger group commit)",
        f"  alert store intake (grouping, outbox, ledger)   {intake['intake_per_s']:>10,.0f} alerts/s",
        f"  raw SQLite insert, same durability (reference)  {intake['raw_sqlite_per_s']:>10,.0f} alerts/s",
        f"paced: {p['rate']:,} alerts/s for {p['seconds']:.0f} s through alert_store + notifier to a local "
        f"HTTPS webhook in its own process (HMAC verified), {p['channel_batch']} notification(s) per request",
        f"  delivered {p['delivered']:,} of {p['alerts']:,}; drained {p['drain_seconds']:.1f} s after start "
        f"(production took {p['produce_seconds']:.1f} s)",
        f"  append → receiver: p50 {p['p50_s']:.2f} s  p95 {p['p95_s']:.2f} s  p99 {p['p99_s']:.2f} s  "
        f"max {p['max_s']:.2f} s  later than {TARGET_SECONDS:.0f} s: {p['over_5s']:,}",
        f"  platform process CPU (all its threads): {p['cpu_ms_per_alert']:.3f} ms per alert",
        "  plain webhook, producer → receiver, nothing durable (reference): "
        f"{p['plain_webhook_per_s']:,.0f} requests/s",
    ]
    return "\n".join(lines)
