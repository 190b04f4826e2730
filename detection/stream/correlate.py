"""Correlation stages of the job: each correlation rule and group in keyed state, chains over stages.

Stage n evaluates the correlations of level n (`detection.stream.rules.SpecContext`): level 1 is fed
by single-event matches from `RuleMatch`, level n also by the matches of level n - 1 (a Sigma chain
such as "failures then success"). Each record is `(key, context blob, payload)`, keyed by the rule
and its group-by values; the payload is an event (`kind` "event") or an inner match ("match").

State per key: the pure `CorrelationEngine` (windows of small occurrences) in a value state, and the
events its windows may still need in a map state, written once per event instead of being pickled
again with every update (measured: re-pickling a busy group's events made the stage the job's
bottleneck). Alerts take their events from there; for the events past the first `MAX_EVENTS_COPIED`
only the id and grade are kept.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pyflink.common import Types
from pyflink.datastream import OutputTag, RuntimeContext
from pyflink.datastream.functions import KeyedProcessFunction
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from datasoc.alert import MAX_EVENTS_COPIED
from detection.correlation import CorrelationEngine, CorrelationSpec
from detection.correlation.engine import CorrelationMatch
from detection.stream.alerts import alert_line, correlation_alert
from detection.stream.rules import MAX_CHAIN, RuleBundle, SpecContext

BAD_TIME = -(2**63)
#: One side output per stage: inputs of the correlations of level n go to `STAGES[n - 1]`.
STAGES = tuple(OutputTag(f"correlate-{n}", Types.PICKLED_BYTE_ARRAY()) for n in range(1, MAX_CHAIN + 1))


def _health(kind: str, **fields: Any) -> str:
    return json.dumps({"kind": kind, **fields}, ensure_ascii=False, sort_keys=True, default=str)


def group_key(spec: CorrelationSpec, refs: frozenset[str] | set[str], lookup: Mapping[str, Any]) -> str:
    """The keyed-state key of a correlation input: the rule and its group-by values."""
    positions = [slot.position for slot in spec.slots if refs & slot.references]
    group = [lookup.get(f) for f in spec.group_fields[positions[0]]]
    return json.dumps([spec.key, group], sort_keys=True, default=str)


def event_input(
    bundle: RuleBundle, spec: CorrelationSpec, offset: int, millis: int, event: dict[str, Any], ref: str
) -> tuple[int, tuple[str, bytes, dict[str, Any]]]:
    """`(1, record)` feeding one single-event match to correlation `spec`: every input enters at stage 1
    and passes through the stages before its own (see `Correlate`)."""
    payload = {"kind": "event", "offset": offset, "ms": millis, "ref": ref, "event": event}
    payload["digest"] = bundle.spec_digests[spec.key]
    payload["stage"] = bundle.levels.get(spec.key, 1)
    record = (group_key(spec, {ref}, event), bundle.spec_blobs[spec.key], payload)
    return 1, record


def _summary(event: Mapping[str, Any]) -> dict[str, Any]:
    """What an alert needs of an event beyond the copied ones: its id and its grade."""
    return {"event.id": event.get("event.id"), "data.classification": event.get("data.classification")}


class Correlate(KeyedProcessFunction):  # type: ignore[misc]
    """One correlation rule and group per key (see module docstring).

    Windows close on event-time timers (watermark), and also as events of the same group arrive
    (pitfall 3: within a burst the watermark does not move). Late policy: an event older than its
    group's horizon (newest event of the group minus the allowed lateness, or the watermark of the
    last timer) is left out of correlation, counted and reported; its single-event alerts still fire.
    A rule whose text changes starts with fresh windows (its state is keyed by the rule's digest).

    Order within a chain: an outer rule's own events pass through every stage before its own (this
    operator forwards a record whose `stage` is later than its own), so they reach the outer rule
    behind the inner matches their events produced, as in one sequential engine (exactly so at
    parallelism 1; at higher parallelism, records of different keys travel different channels).
    """

    def __init__(self, stage: int, allowed_lateness_ms: int) -> None:
        self._stage = stage
        self._lateness = timedelta(milliseconds=allowed_lateness_ms)
        self._contexts: dict[str, SpecContext] = {}

    def open(self, runtime_context: RuntimeContext) -> None:
        self._state = runtime_context.get_state(
            ValueStateDescriptor("correlation", Types.PICKLED_BYTE_ARRAY())
        )
        self._events = runtime_context.get_map_state(
            MapStateDescriptor("events", Types.LONG(), Types.PICKLED_BYTE_ARRAY())
        )
        metrics = runtime_context.get_metrics_group().add_group("datasoc")
        self._m_alerts = metrics.counter("correlation_alerts")
        self._m_late = metrics.counter("late_events")

    def _context(self, digest: str, blob: bytes) -> SpecContext:
        context = self._contexts.get(digest)
        if context is None:
            context = pickle.loads(blob)  # noqa: S301 - produced by this job's own rule operator
            self._contexts[digest] = context
        return context

    def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        _key, blob, payload = value
        if payload["stage"] > self._stage:
            yield "correlate", (self._stage + 1, value)
            return
        digest = payload["digest"]
        context = self._context(digest, blob)
        spec = context.spec
        current = self._state.value()
        if current is None or current["digest"] != digest:
            # New group, or the rule changed: a changed rule starts with fresh windows.
            if current is not None:
                self._events.clear()
            fresh = CorrelationEngine([spec], allowed_lateness=self._lateness)
            # kept: offset -> time ms (of the occurrence that holds it); blob: for timers after a restore.
            current = {"digest": digest, "blob": blob, "engine": fresh, "kept": {}}
        engine: CorrelationEngine = current["engine"]
        kept: dict[int, int] = current["kept"]
        if payload["kind"] == "event":
            late_before = engine.stats().late_events
            when = datetime.fromtimestamp(payload["ms"] / 1000, tz=UTC)
            matches = engine.process(payload["offset"], payload["event"], when, [payload["ref"]])
            if engine.stats().late_events > late_before:
                self._m_late.inc()
                yield "health", _health("late_event", rule=spec.key, offset=payload["offset"], time=when)
            else:
                kept[payload["offset"]] = payload["ms"]
                self._events.put(payload["offset"], payload["event"])
        else:
            when = datetime.fromtimestamp(payload["ms"] / 1000, tz=UTC)
            first = datetime.fromtimestamp(payload["first_ms"] / 1000, tz=UTC)
            for offset, event in payload["events"].items():
                kept[int(offset)] = payload["ms"]
                self._events.put(int(offset), event)
            matches = engine.process_match(
                payload["refs"], payload["group"], when, first, [int(i) for i in payload["indexes"]]
            )
        yield from self._emit(context, matches)
        self._prune(engine, kept, spec)
        if current.get("timer") is None:
            # One pending timer per key (not one per input: each firing costs a state round trip);
            # the timer re-arms itself while the group holds anything.
            current["timer"] = (
                payload["ms"] + int((spec.timespan + self._lateness).total_seconds() * 1000) + 1
            )
            ctx.timer_service().register_event_time_timer(current["timer"])
        self._state.update(current)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Any]:
        current = self._state.value()
        if current is None:
            return
        engine: CorrelationEngine = current["engine"]
        kept: dict[int, int] = current["kept"]
        watermark = ctx.timer_service().current_watermark()
        if watermark == BAD_TIME:
            return
        context = self._context(current["digest"], current["blob"])
        spec = engine.specs[0]
        yield from self._emit(context, engine.advance(datetime.fromtimestamp(watermark / 1000, tz=UTC)))
        self._prune(engine, kept, spec)
        if engine.stats().buffered == 0:
            self._state.clear()
            self._events.clear()
            return
        step = int(spec.timespan.total_seconds() * 1000) or 1
        current["timer"] = watermark + step
        ctx.timer_service().register_event_time_timer(current["timer"])
        self._state.update(current)

    def _alert_events(self, match: CorrelationMatch) -> dict[int, dict[str, Any]]:
        """The match's events: whole for the first `MAX_EVENTS_COPIED`, id and grade after that."""
        out: dict[int, dict[str, Any]] = {}
        for n, offset in enumerate(match.event_indexes):
            event = self._events.get(offset)
            if event is not None:
                out[offset] = event if n < MAX_EVENTS_COPIED else _summary(event)
        return out

    def _emit(self, context: SpecContext, matches: list[CorrelationMatch]) -> Iterator[Any]:
        for match in matches:
            events = self._alert_events(match)
            if not context.suppressed:
                try:
                    line = alert_line(correlation_alert(match, events))
                except (ValueError, TypeError) as exc:  # reported, never a restart loop
                    yield "health", _health("alert_error", rule=match.rule_ref, error=str(exc)[:300])
                else:
                    self._m_alerts.inc()
                    yield "alert", line
            for link in context.outers:
                outer: SpecContext = self._context(link.digest, link.blob)
                refs = sorted(context.spec.references)
                group = match.group_dict()
                payload = {
                    "kind": "match",
                    "refs": refs,
                    "group": group,
                    "ms": int(match.last_time.timestamp() * 1000),
                    "first_ms": int(match.first_time.timestamp() * 1000),
                    "indexes": list(match.event_indexes),
                    "events": events,
                    "digest": link.digest,
                    "stage": link.level,
                }
                key = group_key(outer.spec, set(refs), group)
                yield "correlate", (self._stage + 1, (key, link.blob, payload))

    def _prune(self, engine: CorrelationEngine, kept: dict[int, int], spec: CorrelationSpec) -> None:
        """Drop events no open window can still use (bounded state)."""
        horizon = engine.horizon()
        if horizon is None:
            return
        cutoff = int((horizon - spec.timespan).timestamp() * 1000)
        for offset in [o for o, ms in kept.items() if ms < cutoff]:
            del kept[offset]
            self._events.remove(offset)
