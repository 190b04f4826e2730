"""In-process detection: the detection loop over the events topic, alerts onto the alerts topic.

The embedded path of `datasoc run` and `datasoc demo` (the Flink job of `detection.stream` is the
other one). Consumer `detector` on `events`: each payload is decoded once and run through
`detection.loop.DetectionLoop` with one sequential correlation engine; alerts are built by
`detection.alerts` (the Flink job's builder, so both engines give the same alert ids for the same
detection), appended durably to `alerts`, and only then is the offset committed. Alert ids are derived
from the rule and the events, so a replay after a crash re-appends alerts with the same ids and the
alert intake deduplicates them: at least once, idempotent.

Correlation windows live in memory: a restart loses windows still open (the Flink job keeps them
in checkpointed state). Events are kept only while a correlation could still use them. A payload that
is not a JSON object with a valid `@timestamp` is skipped here, as in the job (the indexer dead-letters it).

With a grant source, the loop also traces every data access against its grant (`detection.trace`).
The cumulative records per grant are saved (`soc_api.governance.usage.UsageFile`) with the offset they
count up to, after a batch's alerts are appended and before its offset is committed. A restart loads
them: when the saved offset is past the committed one, that batch was complete (alerts appended, counts
saved) and the consumer moves on to the saved offset instead of counting the batch twice. A failed
batch's counts are taken back before it is read again. Without a saved file (a first start, a lost
file), counting starts at zero from the committed offset and the start is logged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import orjson

from datasoc.alert import Alert
from datasoc.grants import GrantBook
from datasoc.logging import get_logger
from datasoc.transport import ALERTS, EVENTS, Consumer, OffsetOutOfRangeError, Record, Transport
from detection.alerts import event_time
from detection.bundle import RuleBundle
from detection.engine import LoadResult
from detection.loop import DetectionLoop, Detections, GrantTracer, SequentialCorrelator, build_alerts
from detection.trace import MemoryUsage
from soc_api.governance.usage import UsageFile, UsageSnapshot
from soc_api.steps import Gap, rewind, skip_gap

log = get_logger("detector")
CONSUMER = "detector"


@dataclass(frozen=True)
class DetectReport:
    """One pass: events read, alerts appended (by warning level), offset committed."""

    read: int
    alerts: int
    by_warning_level: Mapping[str, int]
    committed_offset: int
    #: Events still waiting after this pass (in process: its batch budget ran out).
    lag: int = 0

    @property
    def more(self) -> bool:
        """Whether events were left for the next pass."""
        return self.lag > 0


class GrantSource(Protocol):
    """Where the engine reads the grants it traces accesses against."""

    def book(self) -> GrantBook:
        """The current grant book (cheap when nothing changed)."""
        ...


class Detector:
    """Single-event and correlation rules over the events topic, and the grant trace when given grants
    (see module docstring)."""

    def __init__(
        self,
        rules: LoadResult,
        allowed_lateness: timedelta = timedelta(minutes=1),
        *,
        grants: GrantSource | None = None,
        usage_file: UsageFile | None = None,
    ) -> None:
        self.rules = rules
        bundle = RuleBundle.from_loaded(rules)
        logged = {str(e) for e in rules.errors}  # the loader's own errors are logged where it ran
        for error in (e for errors in bundle.errors.values() for e in errors if e not in logged):
            log.error("correlation_rule_rejected", error=error)
        self.correlator = SequentialCorrelator(bundle.correlations, allowed_lateness)
        self.grants = grants
        self.usage = MemoryUsage()
        self._usage_file = usage_file
        self.tracer = GrantTracer(grants.book(), self.usage) if grants is not None else None
        self.loop = DetectionLoop(bundle, self.correlator, tracer=self.tracer)
        self._found = Detections()
        self._reader: Consumer | None = None

    def _resume(self, reader: Consumer, transport: Transport, now: datetime) -> None:
        """Load the saved grant usage (see module docstring)."""
        if self.tracer is None or self._usage_file is None:
            return
        saved = self._usage_file.load()
        if saved is None:
            log.info("grant_usage_starts_empty", committed=reader.committed)
            return
        self.usage.used = dict(saved.used)
        if saved.offset > reader.committed:
            # The batch up to the saved offset was complete: its alerts were appended before the save.
            reader.seek(saved.offset)
            reader.commit(saved.offset)
        elif saved.offset < reader.committed:
            log.warning("grant_usage_behind", saved=saved.offset, committed=reader.committed)

    def alerts_for(self, offset: int, event: Mapping[str, Any]) -> list[Alert]:
        """Alerts raised by one event in wire form (single-event matches, then correlations it completes)."""
        found = self._found
        found.clear()
        self.loop.event(offset, event, event_time(event), found)
        return self._alerts(found)

    def flush(self) -> list[Alert]:
        """End of input (demo, offline runs): close every open correlation window."""
        found = self._found
        found.clear()
        self.correlator.flush(found)
        return self._alerts(found)

    @staticmethod
    def _alerts(found: Detections) -> list[Alert]:
        alerts = build_alerts(found)
        for problem in found.problems:
            log.warning(problem.what, rule=problem.rule, offset=problem.position, detail=problem.detail)
        return alerts

    def run_pass(
        self,
        transport: Transport,
        *,
        now: datetime,
        batch_size: int = 1000,
        max_batches: int | None = None,
        on_gap: Callable[[Gap, datetime], None] | None = None,
    ) -> DetectReport:
        """Detect over what is new on `events` (up to `max_batches` batches; all when None); alerts
        durable before the offset is committed. The consumer is kept between passes; a failed batch
        is read again (rewind), and a retention gap is skipped and reported to `on_gap`."""
        if self._reader is None:
            self._reader = transport.consumer(CONSUMER, EVENTS)
            self._resume(self._reader, transport, now)
        reader = self._reader
        if self.tracer is not None and self.grants is not None:
            self.tracer.use(self.grants.book())  # changes made before this pass hold for its events
        read = batches = 0
        levels: dict[str, int] = {}
        while max_batches is None or batches < max_batches:
            try:
                records = reader.poll(batch_size)
            except OffsetOutOfRangeError:
                skip_gap(transport, reader, now, on_gap)
                records = reader.poll(batch_size)
            if not records:
                break
            counted = dict(self.usage.used)
            try:
                alerts = self._detect(records, transport, now)
                if self.tracer is not None and self._usage_file is not None:
                    self._usage_file.save(UsageSnapshot(records[-1].offset + 1, dict(self.usage.used)))
                reader.commit()
            except BaseException:
                # Read again next pass (alert ids are derived from the events: a repeat is deduplicated),
                # with the grant usage as it was before the batch.
                self.usage.used = counted
                rewind(transport, reader, now, on_gap)
                raise
            for alert in alerts:
                levels[alert.warning_level] = levels.get(alert.warning_level, 0) + 1
            read += len(records)
            batches += 1
        lag = max(transport.range(EVENTS).end - reader.committed, 0)
        return DetectReport(
            read=read,
            alerts=sum(levels.values()),
            by_warning_level=levels,
            committed_offset=reader.committed,
            lag=lag,
        )

    def _detect(self, records: list[Record], transport: Transport, now: datetime) -> list[Alert]:
        alerts: list[Alert] = []
        for record in records:
            try:
                event = orjson.loads(record.payload)
                moment = event_time(event) if isinstance(event, dict) else None
            except ValueError:
                moment = None
            if moment is None:
                continue  # not an object with a valid time: the indexer dead-letters it
            found = self._found
            found.clear()
            self.loop.event(record.offset, event, moment, found)
            alerts.extend(self._alerts(found))
        if alerts:
            transport.append(ALERTS, [encode_alert(a) for a in alerts], now=now)
        return alerts


def encode_alert(alert: Alert) -> bytes:
    """Spool payload of an alert: compact JSON of its wire form."""
    return json.dumps(alert.to_dict(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode_alert(payload: bytes) -> Alert:
    """The alert of a spool payload (raises `EventValidationError` naming bad fields)."""
    data: Any = json.loads(payload)
    return Alert.from_dict(data)
