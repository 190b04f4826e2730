"""In-process detection: the Sigma engine over the events topic, alerts onto the alerts topic.

The embedded path of `datasoc run` and `datasoc demo` (the Flink job of `detection/stream` is
the other one). Consumer `detector` on `events`: each event is matched by the single-event
engine; referenced matches feed the correlation engine keyed by spool offset; every alert is
built by `detection.stream.alerts` (the Flink job's builder: one source of truth, so both engines
give the same alert ids for the same detection), appended durably to `alerts`, and only then is the
offset committed. Alert ids are derived from the rule and the events, so a replay after a crash
re-appends alerts with the same ids and the alert intake deduplicates them: at least once, idempotent.

Correlation windows live in memory: a restart loses windows still open (the Flink job keeps them
in checkpointed state). Events are kept only while a correlation could still use them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from datasoc.alert import Alert
from datasoc.event import Event
from datasoc.logging import get_logger
from datasoc.transport import ALERTS, EVENTS, Consumer, OffsetOutOfRangeError, Record, Transport
from detection.correlation import CorrelationEngine, compile_correlations
from detection.engine import Engine, LoadResult
from detection.stream.alerts import correlation_alert, single_alert
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


@dataclass
class Detector:
    """Single-event and correlation rules over the events topic (see module docstring)."""

    rules: LoadResult
    allowed_lateness: timedelta = timedelta(minutes=5)
    engine: Engine = field(init=False)
    correlations: CorrelationEngine | None = field(init=False)
    #: Wire forms (and times) of matched events a correlation may still use, by spool offset.
    _kept: dict[int, dict[str, Any]] = field(init=False, default_factory=dict)
    _kept_times: dict[int, datetime] = field(init=False, default_factory=dict)
    _horizon: timedelta = field(init=False)
    _reader: Consumer | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.engine = Engine(self.rules.rules)
        compiled = compile_correlations(self.rules.correlations)
        for error in compiled.errors:
            log.error("correlation_rule_rejected", error=str(error))
        self.correlations = (
            CorrelationEngine(compiled, allowed_lateness=self.allowed_lateness) if compiled.specs else None
        )
        spans = [spec.timespan for spec in compiled.specs] or [timedelta(0)]
        self._horizon = max(spans) + self.allowed_lateness

    def alerts_for(self, offset: int, event: Event) -> list[Alert]:
        """Alerts raised by one event (single-event matches, then correlations it completes)."""
        data = event.to_dict()
        matched = self.engine.match(data)
        alerts = [single_alert(rule, data) for rule in matched if rule.output]
        if self.correlations is not None and matched:
            self._kept[offset] = data
            self._kept_times[offset] = event.timestamp
            references = {r.id for r in matched if r.id} | {r.name for r in matched if r.name}
            for match in self.correlations.process(offset, data, event.timestamp, references):
                alerts.append(correlation_alert(match, self._kept))
            self._forget_before(event.timestamp - self._horizon)
        return alerts

    def flush(self) -> list[Alert]:
        """End of input (demo, offline runs): close every open correlation window."""
        if self.correlations is None:
            return []
        return [correlation_alert(match, self._kept) for match in self.correlations.flush()]

    def _forget_before(self, cutoff: datetime) -> None:
        for offset in [o for o, when in self._kept_times.items() if when < cutoff]:
            del self._kept[offset], self._kept_times[offset]

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
        durable before the offset is committed. A retention gap is skipped and reported to `on_gap`."""
        if self._reader is None:
            self._reader = transport.consumer(CONSUMER, EVENTS)
        reader = self._reader
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
            try:
                alerts = self._detect(records, transport, now)
                reader.commit()
            except BaseException:
                # Read again next pass (alert ids are derived from the events: a repeat is deduplicated).
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
                event = Event.from_dict(orjson.loads(record.payload))
            except ValueError:
                continue  # the indexer dead-letters undecodable payloads
            alerts.extend(self.alerts_for(record.offset, event))
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
