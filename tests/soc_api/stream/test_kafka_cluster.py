"""The Kafka detection job on the standalone cluster at parallelism 2: events from the events
topic, alerts to the alerts topic in transactions, and exactly the alerts of the in-process
engine over the same events (single-event and correlation). No directory is shared with the
cluster: the rule change travels in the job graph."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from datasoc.transport import ALERTS, EVENTS, KafkaConfig, KafkaTransport
from detection.alerts import event_time
from detection.bundle import compile_bundle
from detection.loop import DetectionLoop, Detections, SequentialCorrelator
from detection.pipelines import resolve_pipeline
from detection.stream.kafka_job import KafkaJobConfig
from detection.stream.rules import RuleChange
from services import Server
from services.flink import Flink
from soc_api.stream.kafka_cluster import cancel_job, job_exceptions, job_state, submit_kafka_job
from soc_api.stream.rules import rule_texts
from tests.detection.stream.test_parallel import PACK, _demo_payloads, _in_process


def _single_alert_event(texts: dict[str, str], payloads: list[bytes]) -> dict[str, object]:
    """The first event that raises an alert on its own."""
    bundle = compile_bundle(texts, resolve_pipeline("default"))
    for payload in payloads:
        loop, found = (
            DetectionLoop(bundle, SequentialCorrelator(bundle.correlations, timedelta(0))),
            Detections(),
        )
        event = json.loads(payload)
        loop.event(0, event, event_time(event), found)
        if found.singles:
            return dict(event)
    raise AssertionError("no event of the demo raises a single-event alert")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_kafka_job_on_the_cluster_gives_the_in_process_engines_alerts_once(
    kafka_server: Server, flink_server: Server, tmp_path: Path
) -> None:
    assert isinstance(flink_server, Flink)
    texts = rule_texts([PACK])
    payloads = _demo_payloads(tmp_path)
    # One event a year ahead (a skewed clock) whose alert the broker must still take: the sink
    # once stamped records with event time, and Kafka refused one from the future.
    alerting = _single_alert_event(texts, payloads)
    future = {**alerting, "@timestamp": "2027-12-01T00:00:00.000000Z", "event.id": "from-the-future"}
    payloads.append(json.dumps(future).encode())
    expected = _in_process(texts, payloads, timedelta(seconds=5))
    assert len(set(expected.values())) >= 5  # single-event and correlation rules fire
    prefix = f"fk{secrets.token_hex(4)}."
    kafka = KafkaTransport(
        KafkaConfig(bootstrap=kafka_server.address, topic_prefix=prefix, group_prefix=prefix)
    )
    rules = tmp_path / "rules.json"
    rules.write_text(RuleChange(version=1, put=texts).to_json(), encoding="utf-8")
    config = KafkaJobConfig(
        bootstrap=kafka_server.address,
        rules_file=str(rules),
        topic_prefix=prefix,
        group=f"{prefix}flink",
        transactional_id_prefix=f"{prefix}detection",
        parallelism=2,
        checkpoint_interval_ms=1000,
        allowed_lateness_ms=5_000,
        batch_records=64,
    )
    try:
        kafka.append(EVENTS, payloads, now=datetime.now(UTC))
        job = submit_kafka_job(config.to_json(), flink_server.address, flink_server.client_environment())
        try:
            deadline = time.monotonic() + 300
            got: dict[str, str] = {}
            alerted: set[str] = set()
            while time.monotonic() < deadline:
                state = job_state(flink_server.address, job)
                assert state in ("CREATED", "INITIALIZING", "RUNNING", "RESTARTING"), (
                    f"{state}: {job_exceptions(flink_server.address, job)}"
                )
                records = kafka.read(ALERTS, 0, 100_000)
                alerts = [json.loads(r.payload) for r in records]
                got = {a["alert.id"]: a["rule.id"] for a in alerts}
                alerted = {e for a in alerts for e in a["event_ids"]}
                assert len(got) == len(alerts), "an alert is on the topic twice"
                if len(got) >= len(expected):
                    break
                time.sleep(1)
            time.sleep(5)  # a few more checkpoints: nothing more (no duplicate) may come
            final = [json.loads(r.payload)["alert.id"] for r in kafka.read(ALERTS, 0, 100_000)]
        finally:
            cancel_job(flink_server.address, job)
    finally:
        kafka.close()
    assert len(final) == len(set(final)), "an alert is on the topic twice"
    missing = sorted({expected[k] for k in expected.keys() - got.keys()})
    extra = sorted({got[k] for k in got.keys() - expected.keys()})
    assert got == expected, f"rules with missing alerts {missing}, with extra alerts {extra}"
    assert "from-the-future" in alerted  # its alert record was taken by the broker
