"""In-process detection: the Sigma engine over the events topic, alerts onto the alerts topic.

The embedded path of `datasoc run` and `datasoc demo` (the Flink job of `detection/stream` is
the other one). Consumer `detector` on `events`: each event is matched by the single-event
engine; referenced matches feed the correlation engine keyed by spool offset; every alert is
built as an `Alert`, appended durably to `alerts`, and only then is the offset committed. Alert
ids are derived from the rule and the events (`alert_id`), so a replay after a crash re-appends
alerts with the same ids and the alert intake deduplicates them: at least once, idempotent.

Correlation windows live in memory: a restart loses windows still open (the Flink job keeps them
in checkpointed state). Events are kept only while a correlation could still use them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from datasoc.alert import MAX_EVENTS_COPIED, Alert, highest_classification, warning_level
from datasoc.event import Event, format_timestamp
from datasoc.logging import get_logger
from datasoc.transport import ALERTS, EVENTS, Transport
from detection.correlation import CorrelationEngine, CorrelationMatch, compile_correlations
from detection.engine import CompiledRule, Engine, LoadResult

log = get_logger("detector")
CONSUMER = "detector"


def alert_id(rule_ref: str, event_ids: Sequence[str]) -> str:
    """Deterministic alert id: the same rule over the same events is the same alert."""
    digest = hashlib.sha256("\x1f".join([rule_ref, *event_ids]).encode("utf-8")).hexdigest()
    return f"al-{digest[:32]}"


def single_alert(rule: CompiledRule, event: Event) -> Alert:
    """The alert of one single-event rule match (pure)."""
    wire = event.to_dict()
    return Alert.from_dict(
        {
            "alert.id": alert_id(rule.id or rule.name or rule.title, [event.event_id]),
            "rule.id": rule.id or rule.name or rule.title,
            "rule.title": rule.title,
            "rule.level": rule.level or "medium",
            "rule.tags": list(rule.tags),
            "warning_level": warning_level(rule.level or "medium", event.classification),
            "group": {},
            "event_ids": [event.event_id],
            "events": [wire],
            "first_seen": format_timestamp(event.timestamp),
            "last_seen": format_timestamp(event.timestamp),
            "count": 1,
        }
    )


def correlation_alert(match: CorrelationMatch, events: Mapping[int, Event]) -> Alert:
    """The alert of a correlation match; `events` maps offsets to the events still kept (pure)."""
    found = [events[i] for i in match.event_indexes if i in events]
    ids = [e.event_id for e in found] or [f"offset:{i}" for i in match.event_indexes]
    copies = [e.to_dict() for e in found[:MAX_EVENTS_COPIED]]
    group = {k: list(v) if isinstance(v, tuple) else v for k, v in match.group}
    level = match.level or "medium"
    return Alert.from_dict(
        {
            "alert.id": alert_id(match.rule_ref, ids),
            "rule.id": match.rule_ref,
            "rule.title": match.title,
            "rule.level": level,
            "rule.tags": list(match.tags),
            "warning_level": warning_level(level, highest_classification(copies)),
            "group": group,
            "event_ids": ids,
            "events": copies,
            "first_seen": format_timestamp(match.first_time),
            "last_seen": format_timestamp(match.last_time),
            "count": max(match.count, len(ids)),
        }
    )


@dataclass(frozen=True)
class DetectReport:
    """One pass: events read, alerts appended (by warning level), offset committed."""

    read: int
    alerts: int
    by_warning_level: Mapping[str, int]
    committed_offset: int


@dataclass
class Detector:
    """Single-event and correlation rules over the events topic (see module docstring)."""

    rules: LoadResult
    allowed_lateness: timedelta = timedelta(minutes=5)
    engine: Engine = field(init=False)
    correlations: CorrelationEngine | None = field(init=False)
    _kept: dict[int, Event] = field(init=False, default_factory=dict)
    _horizon: timedelta = field(init=False)

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
        alerts = [single_alert(rule, event) for rule in matched if rule.output]
        if self.correlations is not None and matched:
            self._kept[offset] = event
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
        for offset in [o for o, e in self._kept.items() if e.timestamp < cutoff]:
            del self._kept[offset]

    def run_pass(self, transport: Transport, *, now: datetime, batch_size: int = 1000) -> DetectReport:
        """Detect over what is new on `events`; alerts durable before the offset is committed."""
        reader = transport.consumer(CONSUMER, EVENTS)
        read = 0
        levels: dict[str, int] = {}
        while True:
            records = reader.poll(batch_size)
            if not records:
                break
            alerts: list[Alert] = []
            for record in records:
                try:
                    event = Event.from_dict(json.loads(record.payload))
                except ValueError:
                    continue  # the indexer dead-letters undecodable payloads
                alerts.extend(self.alerts_for(record.offset, event))
            if alerts:
                transport.append(ALERTS, [encode_alert(a) for a in alerts], now=now)
                for alert in alerts:
                    levels[alert.warning_level] = levels.get(alert.warning_level, 0) + 1
            reader.commit()
            read += len(records)
        return DetectReport(
            read=read, alerts=sum(levels.values()), by_warning_level=levels, committed_offset=reader.committed
        )


def encode_alert(alert: Alert) -> bytes:
    """Spool payload of an alert: compact JSON of its wire form."""
    return json.dumps(alert.to_dict(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode_alert(payload: bytes) -> Alert:
    """The alert of a spool payload (raises `EventValidationError` naming bad fields)."""
    data: Any = json.loads(payload)
    return Alert.from_dict(data)
