"""The grant trace in the Flink job and in the in-process engine gives the same alerts (a differential
test): cap exceeded across several accesses, a region mismatch, ungranted fields, an export without
export, expired and revoked grants, someone else's grant, an unknown one and none at all; at two lanes,
with a grant revoked between two batches (the job evaluates the second only once it has the change).

Slow: a job start of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from datasoc.event import Event
from datasoc.grants import Grant, GrantBook, GrantTerms
from datasoc.transport import ALERTS, EVENTS, Spool
from detection.engine import LoadResult
from detection.stream.config import StreamConfig
from soc_api.detector import Detector, decode_alert
from soc_api.stream.runner import StreamRunner

START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
RULES = Path(__file__).resolve().parents[1] / "detection" / "stream" / "rules" / "lone_delete.yml"


def _terms(**changes: Any) -> GrantTerms:
    values: dict[str, Any] = {
        "assets": {"ds-hjqy": frozenset({"xm", "csrq"}), "ds-jsr": None},
        "valid_from": START - timedelta(days=1),
        "valid_to": START + timedelta(hours=2),
        "region": "东湖区",
        "record_cap": 1000,
        "export": False,
    }
    values.update(changes)
    return GrantTerms(**values)


GRANTS = [
    Grant.issue("SQ-A", "wangwei", _terms()),
    Grant.issue("SQ-B", "lina", _terms(region=None, record_cap=None, export=True)),
    Grant.issue("SQ-C", "zhaomin", _terms(valid_to=START + timedelta(minutes=30))),
]


class Source:
    def __init__(self) -> None:
        self.current = GrantBook.of(GRANTS, version=1)

    def book(self) -> GrantBook:
        return self.current


def access(n: int, minutes: int, **changes: Any) -> bytes:
    data: dict[str, Any] = {
        "@timestamp": (START + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "event.id": f"ev-{n:03d}",
        "event.ingested": START.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "event.action": "dataset.query",
        "event.outcome": "success",
        "observer.collector": "test",
        "log.original": f"query {n}",
        "datasoc.actor_role": "user",
        "datasoc.lifecycle": "use",
        "user.name": "wangwei",
        "data.asset.id": "ds-hjqy",
        "data.classification": "important",
        "data.records": 150,
        "data.fields": ["xm"],
        "source.geo.name": "东湖区",
        "approval.id": "SQ-A",
    }
    data.update(changes)
    event = Event.from_dict({k: v for k, v in data.items() if v is not None})
    return json.dumps(event.to_dict(), ensure_ascii=False).encode()


def first_batch() -> list[bytes]:
    out = []
    for n in range(10):  # 150 records each: the cap of 1000 is crossed by the seventh
        out.append(access(n, n))
    out += [
        access(10, 11, **{"source.geo.name": "西山区"}),
        access(11, 12, **{"data.fields": ["xm", "sfzh"]}),
        access(12, 13, **{"event.action": "dataset.download", "datasoc.lifecycle": "transmit"}),
        access(13, 14, **{"approval.id": "SQ-B", "user.name": "lina", "data.asset.id": "ds-jsr"}),
        access(14, 15, **{"approval.id": "SQ-B", "user.name": "wangwei"}),
        access(15, 16, **{"approval.id": "SQ-X"}),
        access(16, 17, **{"approval.id": None}),
        access(17, 18, **{"approval.id": None, "data.classification": "general"}),
        access(18, 40, **{"approval.id": "SQ-C", "user.name": "zhaomin"}),  # after its window
        access(19, 19, **{"approval.id": "SQ-C", "user.name": "zhaomin", "source.geo.name": None}),
    ]
    return out


def second_batch() -> list[bytes]:
    """After SQ-B is revoked at minute 50: its grantee's access at minute 55 is under a revoked grant."""
    return [
        access(20, 55, **{"approval.id": "SQ-B", "user.name": "lina", "data.asset.id": "ds-jsr"}),
        access(21, 56, **{"approval.id": "SQ-B", "user.name": "lina", "datasoc.lifecycle": "transmit"}),
    ]


def in_process(
    source: Source, batches: list[list[bytes]], revoked: GrantBook
) -> dict[str, tuple[str, tuple[str, ...]]]:
    detector = Detector(LoadResult(rules=[], correlations=[], errors=[]), grants=source)
    alerts: dict[str, tuple[str, tuple[str, ...]]] = {}
    offset = 0
    for index, batch in enumerate(batches):
        if index == 1:
            assert detector.tracer is not None
            detector.tracer.use(revoked)
        for payload in batch:
            for alert in detector.alerts_for(offset, json.loads(payload)):
                alerts[alert.alert_id] = (alert.rule_id, alert.event_ids)
            offset += 1
    return alerts


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[tuple[StreamRunner, Spool, Source]]:
    spool = Spool.open(tmp_path / "spool")
    source = Source()
    config = StreamConfig.under(
        tmp_path / "stream",
        parallelism=2,
        checkpoint_interval_ms=300,
        allowed_lateness_ms=2_000,
        trace_grants=True,
    )
    runner = StreamRunner(spool, config, [RULES], grants=source)
    runner.start(resume=False)
    try:
        yield runner, spool, source
    finally:
        runner.stop()
        spool.close()


@pytest.mark.slow
def test_the_flink_job_and_the_in_process_engine_trace_to_the_same_alerts(
    runner: tuple[StreamRunner, Spool, Source],
) -> None:
    import time

    job, spool, source = runner
    first, second = first_batch(), second_batch()
    revoked = GrantBook.of(
        [*(g for g in GRANTS if g.id != "SQ-B"), GRANTS[1].revoke(START + timedelta(minutes=50))], 2
    )
    expected = in_process(Source(), [first, second], revoked)
    rules = {rule for rule, _ in expected.values()}
    assert rules >= {
        "datasoc-grant-over-cap",
        "datasoc-grant-outside-region",
        "datasoc-grant-fields-not-granted",
        "datasoc-grant-export-not-allowed",
        "datasoc-grant-not-grantee",
        "datasoc-grant-unknown-grant",
        "datasoc-grant-no-grant",
        "datasoc-grant-expired",
        "datasoc-grant-revoked",
    }
    spool.append(EVENTS, first, now=START)
    job.tick(now=START)
    source.current = revoked  # the revocation is written before the second batch is exported
    spool.append(EVENTS, second, now=START)
    job.tick(now=START)
    end = spool.range(EVENTS).end
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and (job.progress is None or job.progress < end):
        job.tick(now=START)
        time.sleep(0.3)
    assert job.progress == end, job.status()
    got = {
        a.alert_id: (a.rule_id, a.event_ids)
        for a in (decode_alert(r.payload) for r in spool.read(ALERTS, 0, 1000))
    }
    assert got == expected
    over = [
        a
        for a in (decode_alert(r.payload) for r in spool.read(ALERTS, 0, 1000))
        if a.rule_id.endswith("over-cap")
    ]
    assert over[0].context["grant"]["terms"]["record_cap"] == 1000
    assert over[0].context["access"]["used"] == 1050
