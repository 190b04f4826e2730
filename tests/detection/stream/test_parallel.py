"""Parallelism 2: two lanes evaluate every batch side by side, yet the alerts are exactly those of
the in-process engine over the same events (single-event and correlation, the chain included).

Regression: when batches were spread over subtasks, correlation inputs reached the correlations out
of order and some were dropped as late (296 instead of 326 alerts measured on the demo's events).
Slow: its own job start; the demo's events of one day, in many small files.
"""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from datasoc.event import Event
from datasoc.transport import ALERTS, EVENTS
from detection.alerts import event_time
from detection.bundle import compile_bundle
from detection.loop import DetectionLoop, Detections, SequentialCorrelator, build_alerts
from detection.pipelines import resolve_pipeline
from soc_api.demo import generate, write_demo
from soc_api.demo.replay import replay
from soc_api.stream.rules import rule_texts
from tests.detection.stream.conftest import open_platform

PACK = Path(__file__).resolve().parents[3] / "rules"
START = datetime(2026, 3, 2, tzinfo=UTC)


def _demo_payloads(tmp_path: Path) -> list[bytes]:
    """The demo's parsed events of one day (seed 3), in event-time order, as spool payloads."""
    write_demo(generate(seed=3, start=START, days=1, scale=2.0), tmp_path / "demo")
    counter = itertools.count()
    items = replay(tmp_path / "demo", now=START + timedelta(days=2), new_id=lambda: f"id-{next(counter)}")
    events = sorted((i.result for i in items if isinstance(i.result, Event)), key=lambda e: e.timestamp)
    return [json.dumps(e.to_dict(), ensure_ascii=False).encode() for e in events]


def _in_process(texts: dict[str, str], payloads: list[bytes], lateness: timedelta) -> dict[str, str]:
    """Alert id -> rule of one sequential engine over the events (what `datasoc run` does in process)."""
    bundle = compile_bundle(texts, resolve_pipeline("default"))
    loop, found = DetectionLoop(bundle, SequentialCorrelator(bundle.correlations, lateness)), Detections()
    for offset, payload in enumerate(payloads):
        event = json.loads(payload)
        loop.event(offset, event, event_time(event), found)
    return {alert.alert_id: alert.rule_id for alert in build_alerts(found)}


@pytest.mark.slow
def test_parallelism_two_gives_the_alerts_of_one_sequential_engine(tmp_path: Path) -> None:
    from detection.stream.job import start

    texts = rule_texts([PACK])
    payloads = _demo_payloads(tmp_path)
    expected = _in_process(texts, payloads, timedelta(seconds=5))
    assert len({rule for rule in expected.values()}) >= 5  # single-event and correlation rules fire

    platform = open_platform(
        tmp_path, batch_events=64, parallelism=2, checkpoint_interval_ms=300, allowed_lateness_ms=5_000
    )
    spool, config = platform.spool, platform.config
    platform.rules.write(put=texts)
    client = start(config)
    try:
        spool.append(EVENTS, payloads, now=START)
        platform.exporter.export_all(batch=500)  # many files and batches: both subtasks are busy
        end = spool.range(EVENTS).end
        platform.wait_for(
            "the job to evaluate every event",
            lambda: platform.alerts() is not None and platform.committer.progress.position == end,
            timeout=180,
        )
        # Alerts raised when windows close may land one checkpoint after the last marker; the
        # comparison below says what differs if they never come.
        deadline = time.monotonic() + 10
        while len(platform.alerts()) < len(expected) and time.monotonic() < deadline:
            time.sleep(0.2)
        got = {
            json.loads(r.payload)["alert.id"]: json.loads(r.payload)["rule.id"]
            for r in spool.read(ALERTS, 0, 100_000)
        }
    finally:
        client.cancel().result()
        spool.close()
    missing = sorted({expected[k] for k in expected.keys() - got.keys()})
    extra = sorted({got[k] for k in got.keys() - expected.keys()})
    assert got == expected, f"rules with missing alerts {missing}, with extra alerts {extra}"
