"""`datasoc bench stream --cluster`: the Kafka job on a standalone Flink cluster, beside the
MiniCluster's figures (`benchmarks.stream`).

The job (`detection.stream.kafka_job`) is submitted first; start-up ends when the alert of a
warm-up marker event is committed on the alerts topic. Then the events are produced to the events
topic in batches of 10,000 and the clock runs until the final marker's alert and every expected
alert are committed (transactions on checkpoints, every 500 ms): end to end, so it includes
producing the events to Kafka (acknowledged, one broker) and the last checkpoint.
"""

from __future__ import annotations

import json
import secrets
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.stream import MARKER_ID, MARKER_KEY, MARKER_RULE, StreamFigures, marker_event
from datasoc.transport import ALERTS, EVENTS, KafkaConfig, KafkaTransport
from detection.stream.kafka_job import KafkaJobConfig
from detection.stream.rules import RuleChange
from soc_api.stream.kafka_cluster import cancel_job, job_exceptions, job_state, submit_kafka_job

_CHUNK = 10_000


class AlertTail:
    """The committed alerts read so far (offsets skip the transactions' markers: kept apart)."""

    def __init__(self, kafka: KafkaTransport) -> None:
        self._kafka = kafka
        self._next = 0
        self.alerts: list[dict[str, Any]] = []

    def read(self) -> list[dict[str, Any]]:
        """Every committed alert so far."""
        while True:
            records = self._kafka.read(ALERTS, self._next, 50_000)
            if not records:
                return self.alerts
            self.alerts.extend(json.loads(r.payload) for r in records)
            self._next = records[-1].offset + 1


def _markers(alerts: Sequence[dict[str, Any]]) -> set[str]:
    return {e for a in alerts if a.get("rule.id") == MARKER_ID for e in a.get("event_ids", [])}


def run_cluster_job(
    label: str,
    texts: dict[str, str],
    lines: Sequence[bytes],
    expected_alerts: int,
    *,
    bootstrap: str,
    jobmanager: str,
    client_environment: dict[str, str],
    parallelism: int,
    allowed_lateness: timedelta,
    in_process_rate: float,
    timeout: float = 900.0,
) -> StreamFigures:
    """Submit the Kafka job, push `lines` through it, cancel it; its figures."""
    prefix = f"bs{secrets.token_hex(4)}."
    kafka = KafkaTransport(KafkaConfig(bootstrap=bootstrap, topic_prefix=prefix, group_prefix=prefix))
    with tempfile.TemporaryDirectory(prefix="datasoc-bench-cluster-") as tmp:
        rules = Path(tmp) / "rules.json"
        rules.write_text(
            RuleChange(version=1, put={**texts, MARKER_KEY: MARKER_RULE}).to_json(), encoding="utf-8"
        )
        config = KafkaJobConfig(
            bootstrap=bootstrap,
            rules_file=str(rules),
            topic_prefix=prefix,
            group=f"{prefix}flink",
            transactional_id_prefix=f"{prefix}detection",
            parallelism=parallelism,
            checkpoint_interval_ms=500,
            allowed_lateness_ms=int(allowed_lateness.total_seconds() * 1000),
            batch_records=512,
        )
        began = time.perf_counter()
        job = submit_kafka_job(config.to_json(), jobmanager, client_environment)
        tail = AlertTail(kafka)
        try:
            kafka.append(
                EVENTS, [marker_event("warm-0", datetime(2026, 10, 1, tzinfo=UTC))], now=datetime.now(UTC)
            )
            _until(lambda: "warm-0" in _markers(tail.read()), timeout, jobmanager, job)
            startup = time.perf_counter() - began
            t0 = time.perf_counter()
            for at in range(0, len(lines), _CHUNK):
                kafka.append(EVENTS, list(lines[at : at + _CHUNK]), now=datetime.now(UTC))
            final = marker_event("final-0", datetime(2027, 1, 1, tzinfo=UTC))
            kafka.append(EVENTS, [final], now=datetime.now(UTC))

            def done() -> bool:
                alerts = tail.read()
                return "final-0" in _markers(alerts) and len(alerts) - 2 >= expected_alerts

            _until(done, timeout, jobmanager, job)
            seconds = time.perf_counter() - t0
        finally:
            cancel_job(jobmanager, job)
            kafka.close()
    return StreamFigures(
        f"{label}@cl",
        parallelism,
        "thread",
        len(lines),
        len(tail.alerts) - 2,
        startup,
        seconds,
        in_process_rate,
        expected_alerts=expected_alerts,
    )


def _until(check: Any, timeout: float, jobmanager: str, job: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        state = job_state(jobmanager, job)
        if state == "FAILED":
            raise RuntimeError(f"the cluster job failed: {job_exceptions(jobmanager, job)}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the cluster job ({state}) did not produce the expected alerts in time")
        time.sleep(0.1)
