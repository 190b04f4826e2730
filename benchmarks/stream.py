"""`datasoc bench stream`: events/s through the job next to the in-process engine, and detection latency.

Throughput: the job is started and its rules applied first (start-up is reported, not counted); then
the events are appended to a spool, exported in files of 10,000, and the clock runs until the job's
committed progress covers every event: the rate is end to end (from the append to the last commit,
so it includes exporting the events from the spool, filling the pipeline and the checkpoint that
commits the last alerts, about half a second: use enough events that this is small).
The in-process reference runs over the same events in the same process: JSON decoding, single-event
rules, correlations and the same `Alert` objects; its alert count must equal the job's. Latency: at a
steady input rate, from the spool's append acknowledgement of a matching event to its alert being
committed in the `alerts` topic.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from datasoc.transport import ALERTS, EVENTS, Spool
from detection.alerts import alert_line, event_time
from detection.bundle import compile_bundle
from detection.loop import DetectionLoop, Detections, SequentialCorrelator, build_alerts
from detection.pipelines import resolve_pipeline
from detection.stream.config import ExecutionMode, StreamConfig
from soc_api.stream.committer import AlertCommitter
from soc_api.stream.exporter import EventExporter
from soc_api.stream.rules import RuleChangeWriter

_EPOCH = datetime(2026, 11, 1, tzinfo=UTC)
MARKER_KEY = "datasoc-bench-marker.yml"
MARKER_ACTION = "bench.marker"
#: Added to every rule set: an alert for each marker event tells when the job got that far.
MARKER_ID = "00000000-0000-4000-8000-00000000be0c"
MARKER_RULE = f"""
title: Bench marker
id: {MARKER_ID}
status: test
logsource:
  product: datasoc
detection:
  selection:
    event.action: bench.marker
  condition: selection
level: informational
"""


def marker_event(event_id: str, at: datetime) -> bytes:
    """An event only the marker rule matches."""
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps({"@timestamp": stamp, "event.id": event_id, "event.action": MARKER_ACTION}).encode()


@dataclass(frozen=True)
class StreamFigures:
    """One job run's figures."""

    label: str
    parallelism: int
    mode: str
    events: int
    alerts: int
    startup_seconds: float
    seconds: float
    engine_rate: float
    p50_ms: float | None = None
    p95_ms: float | None = None
    expected_alerts: int = 0
    offsets: tuple[int, int] = (0, 0)

    @property
    def rate(self) -> float:
        """Events per second through the job."""
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def ratio(self) -> float:
        """End-to-end job rate over the in-process rate (the target: at least 0.5 at parallelism 1)."""
        return self.rate / self.engine_rate if self.engine_rate else 0.0

    def line(self) -> str:
        """One human-readable line."""
        text = (
            f"{self.label:<10} p={self.parallelism} {self.mode:<7} {self.events:>7} events  "
            f"{self.rate:>9,.0f} ev/s job  "
            f"{self.engine_rate:>9,.0f} ev/s in-process  ratio {self.ratio:.2f}  "
            f"alerts {self.alerts} (in-process {self.expected_alerts}"
            f"{'' if self.alerts == self.expected_alerts else ': MISMATCH'})  "
            f"start-up {self.startup_seconds:.1f} s"
        )
        if self.p50_ms is not None:
            text += f"  latency p50 {self.p50_ms:.0f} ms p95 {self.p95_ms:.0f} ms"
        return text


def with_envelope(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies with a unique `event.id` and an increasing `@timestamp` (1 ms apart) where missing."""
    out = []
    for i, event in enumerate(events):
        copy = dict(event)
        copy["event.id"] = f"bench-{i}"
        copy.setdefault("@timestamp", (_EPOCH + timedelta(milliseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        out.append(copy)
    return out


def synthetic_events(n: int) -> list[dict[str, Any]]:
    """Normalized events of the city platform's shape that no rule of the pack correlates: the single-event
    load alone (the demo's events are the realistic, correlation-heavy load)."""
    actions = ("dataset.query", "dataset.download", "dataset.share", "user.login", "db.select")
    grades = ("general", "important", "core")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    events = []
    for i in range(n):
        action = actions[i % len(actions)]
        events.append(
            {
                "@timestamp": (start + timedelta(milliseconds=i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "event.ingested": start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "event.action": action,
                "event.outcome": "success",
                "observer.collector": "bench",
                "log.original": f"{action} request {i}",
                "user.name": f"user{i % 200}",
                "data.asset.id": f"ds-{i % 23}",
                "data.classification": grades[(i // 5) % 3] if i % 10 else "core",
                "source.ip": f"10.0.{i % 250}.{i % 200}",
            }
        )
    return events


def continued(events: Sequence[dict[str, Any]], target: int) -> list[dict[str, Any]]:
    """About `target` events: `events` in time order, repeated with each copy shifted past the previous
    one, so event time keeps moving forward as it does live (no copy is late for a correlation)."""
    timed = sorted(events, key=lambda e: str(e.get("@timestamp", "")))
    if not timed:
        return []
    stamps = [event_time(e) for e in timed]
    span = stamps[-1] - stamps[0] + timedelta(seconds=1)
    out: list[dict[str, Any]] = []
    copy = 0
    while len(out) < target:
        for event, stamp in zip(timed, stamps, strict=True):
            shifted = (stamp + span * copy).astimezone(UTC)
            out.append({**event, "@timestamp": shifted.strftime("%Y-%m-%dT%H:%M:%S.%fZ")})
        copy += 1
    return out[:target]


def engine_rate(
    texts: dict[str, str], pipeline: str, lines: Sequence[bytes], *, allowed_lateness: timedelta
) -> tuple[float, int]:
    """In-process rate and alert count: what the in-process detector of `datasoc run` does short of
    appending to the spool (decode, the detection loop with one sequential correlation engine, the
    same `Alert` objects as the job, as alert lines), event by event in one process."""
    bundle = compile_bundle(texts, resolve_pipeline(pipeline))
    loop = DetectionLoop(bundle, SequentialCorrelator(bundle.correlations, allowed_lateness))
    found = Detections()
    start = time.perf_counter()
    alerts = 0
    for offset, line in enumerate(lines):
        event = json.loads(line)
        loop.event(offset, event, event_time(event), found)
        alerts += len([alert_line(alert) for alert in build_alerts(found)])
        found.clear()
    elapsed = time.perf_counter() - start
    return len(lines) / elapsed if elapsed else 0.0, alerts


def _wait(check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("the job did not produce the expected alerts in time")
        time.sleep(0.05)


def run_job(
    label: str,
    texts: dict[str, str],
    lines: Sequence[bytes],
    expected_alerts: int,
    *,
    parallelism: int,
    mode: ExecutionMode,
    pipeline: str = "default",
    allowed_lateness: timedelta = timedelta(seconds=60),
    latency_rate: int = 0,
    latency_seconds: float = 10.0,
    in_process_rate: float = 0.0,
    timeout: float = 600.0,
) -> StreamFigures:
    """Start a job, apply the rules, push `lines` through; optionally measure latency afterwards."""
    from detection.stream.job import start

    with tempfile.TemporaryDirectory(prefix="datasoc-bench-stream-") as tmp:
        root = Path(tmp)
        spool = Spool.open(root / "spool")
        config = StreamConfig.under(
            root / "job",
            parallelism=parallelism,
            execution_mode=mode,
            pipeline=pipeline,
            health_interval_ms=60_000,
            allowed_lateness_ms=int(allowed_lateness.total_seconds() * 1000),
            # Measured here all the same; the platform refuses it (`StreamConfig`).
            unsafe_process_mode_ports=mode == "process",
        )
        config = replace(config, checkpoint_interval_ms=200)
        config.make_dirs()
        exporter = EventExporter(spool, Path(config.input_dir))
        committer = AlertCommitter(spool, Path(config.alerts_dir))
        exporter.heartbeat(0)  # the chain's genesis: the job's progress is known from the first batch
        # A probe event the rules do not match; its presence in the health output is not needed:
        # start-up ends when the rule change has been applied (health record) and a checkpoint passed.
        RuleChangeWriter(Path(config.rules_dir)).write(put={**texts, MARKER_KEY: MARKER_RULE})
        began = time.perf_counter()
        client = start(config)
        try:
            health = Path(config.health_dir)
            _wait(lambda: any(p.name.startswith("health") for p in health.iterdir()), timeout)
            startup = time.perf_counter() - began
            # The run is over when the job's batch markers cover every event (their alerts are
            # committed with them): `progress` reaches the end of the events topic.
            start_offset = spool.range(EVENTS).end
            spool.append(EVENTS, list(lines), now=datetime.now(UTC))
            end = spool.range(EVENTS).end
            t0 = time.perf_counter()

            def done() -> bool:
                exporter.export_all(10_000)  # as a `StreamRunner.tick` does: everything pending
                committer.commit_pending(now=datetime.now(UTC))
                return committer.progress.position == end

            _wait(done, timeout)
            seconds = time.perf_counter() - t0
            alerts = committer.total.appended
            p50 = p95 = None
            if latency_rate:
                p50, p95 = _latency(spool, exporter, committer, latency_rate, latency_seconds)
        finally:
            client.cancel().result()
            _until_ended(client)
            spool.close()
    return StreamFigures(
        label,
        parallelism,
        mode,
        len(lines),
        alerts,
        startup,
        seconds,
        in_process_rate,
        p50,
        p95,
        expected_alerts=expected_alerts,
        offsets=(start_offset, end),
    )


def _until_ended(client: Any) -> None:
    """Wait until the cancelled job has ended: it may still write a checkpoint into the directory
    about to be removed (seen: "Directory not empty" from the temporary directory's cleanup)."""
    with contextlib.suppress(Exception):  # a cancelled job's result is its JobCancellationException
        client.get_job_execution_result().result()


def _latency(
    spool: Spool,
    exporter: EventExporter,
    committer: AlertCommitter,
    rate: int,
    seconds: float,
) -> tuple[float, float]:
    """Append `rate` marker events/s in 50 ms slices and time each from its append to its alert."""
    acked: dict[str, float] = {}
    committed: dict[str, float] = {}
    seen = spool.range(ALERTS).end
    per_slice = max(1, rate // 20)
    n = 0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(committed) < len(acked):
        if time.perf_counter() < end:
            batch = [
                marker_event(f"lat-{n + i}", datetime.now(UTC) + timedelta(days=31)) for i in range(per_slice)
            ]
            spool.append(EVENTS, batch, now=datetime.now(UTC))
            now = time.perf_counter()
            for payload in batch:
                acked[json.loads(payload)["event.id"]] = now
            n += per_slice
            exporter.export(10_000)
        committer.commit_pending(now=datetime.now(UTC))
        arrived = time.perf_counter()
        for record in spool.read(ALERTS, seen, 100_000):
            for event_id in json.loads(record.payload)["event_ids"]:
                committed.setdefault(event_id, arrived)
            seen = record.offset + 1
        if time.perf_counter() > end + 60:
            break
        time.sleep(0.05)
    latencies = sorted((committed[k] - acked[k]) * 1000 for k in acked if k in committed)
    if not latencies:
        return float("nan"), float("nan")
    quantiles = statistics.quantiles(latencies, n=100)
    return statistics.median(latencies), quantiles[94]
