"""The job's Python operators: order, time, lanes, and the rule operator around the detection loop.

Each operator is a thin adapter: the decisions are made by the pure parts (`detection.loop`,
`detection.stream.correlate`, `.batch`, `.rules`). Pointer lines travel as `(lane key, line)` pairs;
`RuleMatch` reads each batch once and emits one `JobOutput` per batch, which `Route` splits into the
alert sink's element and health lines. Nothing is dropped silently: bad batches and events, rule
errors, rejected rule changes and late events each produce a health record and a Flink metric.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyflink.common import Types
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import OutputTag, RuntimeContext
from pyflink.datastream.functions import (
    KeyedBroadcastProcessFunction,
    KeyedProcessFunction,
    ProcessFunction,
)
from pyflink.datastream.state import ListStateDescriptor, MapStateDescriptor, ValueStateDescriptor

from datasoc.grants import GrantBook
from detection.alerts import alert_line, event_time
from detection.bundle import RuleBundle, compile_bundle
from detection.loop import DetectionLoop, Detections, GrantTracer, Lane, build_alerts
from detection.pipelines import resolve_pipeline
from detection.stream.batch import (
    END_OF_TIME,
    Batch,
    batch_chain,
    batch_grants_version,
    batch_marker,
    batch_time,
    order,
    read_batch,
)
from detection.stream.correlate import BucketCorrelator
from detection.stream.grants import GrantChange, GrantChangeError, book_of, is_grant_change
from detection.stream.rules import RuleChange, RuleChangeError, apply_change
from detection.stream.state import MapStateStore, MapStateUsage

#: Broadcast state: rule key -> YAML text, plus `VERSION_KEY` -> last applied change version; grants
#: under `GRANT_PREFIX` + id -> grant JSON, `GRANTS_KEY` -> last applied grant change version.
RULES_STATE = MapStateDescriptor("datasoc-rules", Types.STRING(), Types.STRING())
VERSION_KEY = "\x00version"
PENDING_PREFIX = "\x00pending:"
GRANTS_KEY = "\x00grants"
GRANT_PREFIX = "\x00grant:"
GRANT_PENDING_PREFIX = "\x00gpending:"
HEALTH = OutputTag("health", Types.STRING())
#: Pinned, so the key of each lane (`lane_keys`) reaches the subtask of that lane's index.
MAX_PARALLELISM = 128
_BUFFER_RETRY_MS = 100


def health_line(kind: str, **fields: Any) -> str:
    """One JSON line of the job's health output: `{"kind": kind, ...fields}` (values as text if need be)."""
    return json.dumps({"kind": kind, **fields}, ensure_ascii=False, sort_keys=True, default=str)


def subtask_index(runtime_context: RuntimeContext) -> int:
    """This subtask's index; works around PyFlink 2.3 thread mode calling the Flink 1.x Java method.

    In thread mode `get_index_of_this_subtask()` calls `RuntimeContext.getIndexOfThisSubtask()`, which
    Flink 2.x moved to `getTaskInfo()`: it raises AttributeError (the task fails at open).
    """
    try:
        return int(runtime_context.get_index_of_this_subtask())
    except AttributeError:
        java = runtime_context._runtime_context  # the embedded context's Java object
        return int(java.getTaskInfo().getIndexOfThisSubtask())


def _murmur(code: int) -> int:
    """Flink's `MathUtils.murmurHash` of a Java int (32-bit arithmetic)."""

    def mul(a: int, b: int) -> int:
        return (a * b) & 0xFFFFFFFF

    def rotl(a: int, n: int) -> int:
        return ((a << n) | (a >> (32 - n))) & 0xFFFFFFFF

    code = rotl(mul(code & 0xFFFFFFFF, 0xCC9E2D51), 15)
    code = rotl(mul(code, 0x1B873593), 13)
    code = ((mul(code, 5) + 0xE6546B64) & 0xFFFFFFFF) ^ 4
    code ^= code >> 16
    code = mul(code, 0x85EBCA6B)
    code ^= code >> 13
    code = mul(code, 0xC2B2AE35)
    code ^= code >> 16
    signed = code - (1 << 32) if code >= 1 << 31 else code
    return 0 if signed == -(1 << 31) else abs(signed)


def lane_keys(lanes: int) -> tuple[int, ...]:
    """The key of each lane: the smallest integer whose key group Flink assigns to the subtask of the
    lane's index (`KeyGroupRangeAssignment`), so no two lanes share a subtask."""
    keys: list[int] = []
    for lane in range(lanes):
        key = 0
        while (_murmur(key) % MAX_PARALLELISM) * lanes // MAX_PARALLELISM != lane:
            key += 1
        keys.append(key)
    return tuple(keys)


class EventTimeAssigner(TimestampAssigner):  # type: ignore[misc]
    """Event time of a pointer: its `t` (newest event time in its batch), read without parsing.

    Assigned after the source (pitfall 2 of the PyFlink notes: an assigner given to `from_source` is
    ignored). A batch without a valid event time gets Long.MIN_VALUE, which never moves the watermark.
    """

    def extract_timestamp(self, value: Any, record_timestamp: int) -> int:
        return batch_time(value[1])


class EndOfTime(TimestampAssigner):  # type: ignore[misc]
    """Rule changes have no event time: stamp them at the end of time (see `job.build`)."""

    def extract_timestamp(self, value: Any, record_timestamp: int) -> int:
        return END_OF_TIME


class Sequence(KeyedProcessFunction):  # type: ignore[misc]
    """Releases pointer lines in chain order (one key; see `detection.stream.batch.order`), each once
    per lane as `(lane key, line)`.

    The file source reads the files of one directory scan in no fixed order; without this a later
    file read first would move time past an earlier file's events. Expected position and waiting
    pointers live in keyed state, so they are part of every checkpoint.
    """

    def __init__(self, keys: tuple[int, ...]) -> None:
        self._keys = keys

    def open(self, runtime_context: RuntimeContext) -> None:
        self._expected = runtime_context.get_state(ValueStateDescriptor("expected", Types.LONG()))
        self._pending = runtime_context.get_state(ValueStateDescriptor("pending", Types.PICKLED_BYTE_ARRAY()))
        metrics = runtime_context.get_metrics_group().add_group("datasoc")
        self._m_waiting = metrics.counter("batches_out_of_order")
        self._m_duplicate = metrics.counter("batches_duplicate")
        self._m_stale = metrics.counter("heartbeats_stale")

    def process_element(self, value: str, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        pending = {_span(k): v for k, v in (self._pending.value() or {}).items()}
        try:
            ordered = order(self._expected.value(), pending, value)
        except ValueError as exc:
            yield HEALTH, health_line("bad_batch", reason=str(exc))
            return
        if ordered.buffered:
            self._m_waiting.inc()
            yield HEALTH, health_line("batch_waiting", expected=ordered.expected, waiting=len(pending))
        if ordered.stale_heartbeats:
            self._m_stale.inc(ordered.stale_heartbeats)
        if ordered.duplicates:
            self._m_duplicate.inc(ordered.duplicates)
            yield HEALTH, health_line("batch_duplicate", expected=ordered.expected, count=ordered.duplicates)
        if ordered.expected is not None:
            self._expected.update(ordered.expected)
        self._pending.update({f"{p}:{n}": line for (p, n), line in pending.items()})
        for line in ordered.released:
            for key in self._keys:
                yield key, line


def _span(text: str) -> tuple[int, int]:
    prev, nxt = text.split(":")
    return int(prev), int(nxt)


@dataclass(frozen=True)
class JobOutput:
    """What the rule operator emits per batch: its alert lines and marker (one element for the alert
    sink: every element costs a few JVM/Python crossings) and its health lines."""

    alerts: str
    health: tuple[str, ...] = ()


class Route(ProcessFunction):  # type: ignore[misc]
    """Splits a `JobOutput`: alerts to the main output, health lines to `HEALTH`. The rule operator
    does not yield side outputs itself because PyFlink 2.3 (thread mode) sends side-output tuples
    yielded from `on_timer` to the main output (ClassCastException, measured): batches buffered
    before the first rule set are released in a timer."""

    def process_element(self, value: JobOutput, ctx: ProcessFunction.Context) -> Iterator[Any]:
        if value.alerts:
            yield value.alerts
        for line in value.health:
            yield HEALTH, line


class RuleMatch(KeyedBroadcastProcessFunction):  # type: ignore[misc]
    """The detection loop over the batches a pointer names, one lane per key; rules arrive on the
    broadcast side.

    Per batch: the loop over its events (single-event rules, correlation inputs), the lane's
    correlations over its buckets (`BucketCorrelator`, state in `MapStateStore`), then one `JobOutput`
    with the alerts and the lane's marker. Batches that arrive before any rule set are buffered in
    keyed list state and released by a processing-time timer once rules are there (pitfall 5: no
    order between the two inputs). The bundle is compiled once per change (and once after a
    restore, from broadcast state).

    With `trace_grants`, grant changes arrive on the same broadcast side (`detection.stream.grants`),
    each lane's loop traces the accesses of the grants it owns (`detection.trace.owner_lane`) with its
    cumulative records in keyed map state (`MapStateUsage`, part of every checkpoint), and a batch
    waits until the grants version its pointer names (`gv`) is applied. Waiting batches are released in
    order: once one waits, the batches after it wait behind it.
    """

    def __init__(
        self,
        pipeline: str,
        health_interval_ms: int,
        batches_dir: str,
        lateness_ms: int,
        buckets: int,
        keys: tuple[int, ...],
        trace_grants: bool = False,
    ) -> None:
        self._trace = trace_grants
        self._book: GrantBook | None = None
        self._grants_version = 0
        self._batches = Path(batches_dir)
        self._lateness_ms = lateness_ms
        self._buckets = buckets
        self._lane_of = {key: Lane(index, len(keys)) for index, key in enumerate(keys)}
        self._pipeline_name = pipeline
        self._health_interval = health_interval_ms / 1000.0
        self._bundle: RuleBundle | None = None
        self._version = 0

    def open(self, runtime_context: RuntimeContext) -> None:
        self._pipeline = resolve_pipeline(self._pipeline_name)
        self._pending = runtime_context.get_list_state(ListStateDescriptor("pending", Types.STRING()))
        self._waiting = runtime_context.get_state(ValueStateDescriptor("waiting", Types.BOOLEAN()))
        self._store = MapStateStore(runtime_context)
        self._usage = MapStateUsage(runtime_context) if self._trace else None
        self._subtask = subtask_index(runtime_context)
        metrics = runtime_context.get_metrics_group().add_group("datasoc")
        self._m_events = metrics.counter("events")
        self._m_alerts = metrics.counter("alerts")
        self._m_errors = metrics.counter("rule_errors")
        self._m_accepted = metrics.counter("rule_changes_accepted")
        self._m_rejected = metrics.counter("rule_changes_rejected")
        self._m_late = metrics.counter("late_events")
        self._m_correlation = metrics.counter("correlation_alerts")
        self._m_violations = metrics.counter("grant_violations")
        metrics.gauge("rules_version", lambda: self._version)
        metrics.gauge("grants_version", lambda: self._grants_version)
        metrics.gauge("rules_active", lambda: self._bundle.rule_count if self._bundle else 0)
        self._loops: dict[int, tuple[DetectionLoop, BucketCorrelator]] = {}
        self._found = Detections()
        self._next_health = time.monotonic() + self._health_interval

    def process_broadcast_element(
        self, value: str, ctx: KeyedBroadcastProcessFunction.Context
    ) -> Iterator[Any]:
        state = ctx.get_broadcast_state(RULES_STATE)
        if is_grant_change(value):
            yield from self._grant_change(state, value)
            return
        try:
            change = RuleChange.from_json(value)
        except RuleChangeError as exc:
            self._m_rejected.inc()
            if self._subtask == 0:
                yield JobOutput("", (health_line("rule_change_invalid", reason=str(exc)),))
            return
        applied = int(state.get(VERSION_KEY)) if state.contains(VERSION_KEY) else 0
        if change.version <= applied:
            return  # already applied (a file re-read after restore)
        if change.version > applied + 1:
            # Change files found in one directory scan are read in no fixed order: hold a change
            # until the ones before it have been applied, so versions always apply in order.
            state.put(PENDING_PREFIX + str(change.version), value)
            return
        while True:
            yield from self._apply(state, change)
            following = PENDING_PREFIX + str(change.version + 1)
            if not state.contains(following):
                break
            change = RuleChange.from_json(state.get(following))
            state.remove(following)

    def _grant_change(self, state: Any, line: str) -> Iterator[Any]:
        """Apply grant changes in version order (a later one waits for those before it, as rules do)."""
        try:
            change = GrantChange.from_json(line)
        except GrantChangeError as exc:
            self._m_rejected.inc()
            if self._subtask == 0:
                yield JobOutput("", (health_line("grant_change_invalid", reason=str(exc)[:500]),))
            return
        applied = int(state.get(GRANTS_KEY)) if state.contains(GRANTS_KEY) else 0
        if change.version <= applied:
            return
        if change.version > applied + 1:
            state.put(GRANT_PENDING_PREFIX + str(change.version), line)
            return
        while True:
            for grant_id in change.remove:
                state.remove(GRANT_PREFIX + grant_id)
            for grant_id, text in change.put.items():
                state.put(GRANT_PREFIX + grant_id, text)
            applied = change.version
            state.put(GRANTS_KEY, str(applied))
            following = GRANT_PENDING_PREFIX + str(applied + 1)
            if not state.contains(following):
                break
            change = GrantChange.from_json(state.get(following))
            state.remove(following)
        self._use_grants(self._grants_from(state, applied))
        if self._subtask == 0:
            assert self._book is not None
            yield JobOutput("", (health_line("grant_change", version=applied, grants=len(self._book)),))

    @staticmethod
    def _grants_from(state: Any, version: int) -> GrantBook:
        texts = {k[len(GRANT_PREFIX) :]: v for k, v in state.items() if k.startswith(GRANT_PREFIX)}
        return book_of(texts, version)

    def _use_grants(self, book: GrantBook) -> None:
        self._book, self._grants_version = book, book.version
        for loop, _ in self._loops.values():
            if loop.tracer is not None:
                loop.tracer.use(book)

    def _apply(self, state: Any, change: RuleChange) -> Iterator[Any]:
        current = {k: v for k, v in state.items() if not k.startswith("\x00")}
        bundle, outcome = apply_change(current, change, self._pipeline)
        for key in outcome.disabled:
            state.remove(key)
        for key in outcome.accepted:
            state.put(key, change.put[key])
        state.put(VERSION_KEY, str(change.version))
        self._use(bundle, change.version)
        self._m_accepted.inc(len(outcome.accepted) + len(outcome.disabled))
        self._m_rejected.inc(len(outcome.rejected))
        if self._subtask == 0:
            line = json.dumps({**outcome.to_dict(), "active": bundle.rule_count}, sort_keys=True)
            yield JobOutput("", (line,))

    def _ready(self, ctx: KeyedBroadcastProcessFunction.ReadOnlyContext) -> bool:
        if self._bundle is not None and (self._book is not None or not self._trace):
            return True
        state = ctx.get_broadcast_state(RULES_STATE)
        if not state.contains(VERSION_KEY) or (self._trace and not state.contains(GRANTS_KEY)):
            return False
        # After a restore: the broadcast state is back, the compiled bundle and grant book are not.
        if self._bundle is None:
            texts = {k: v for k, v in state.items() if not k.startswith("\x00")}
            self._use(compile_bundle(texts, self._pipeline), int(state.get(VERSION_KEY)))
        if self._trace and self._book is None:
            self._use_grants(self._grants_from(state, int(state.get(GRANTS_KEY))))
        return True

    def _behind(self, line: str) -> bool:
        """Whether the batch needs grant changes not applied yet."""
        return self._trace and batch_grants_version(line) > self._grants_version

    def _use(self, bundle: RuleBundle, version: int) -> None:
        self._bundle, self._version = bundle, version
        for loop, _ in self._loops.values():
            loop.use(bundle)

    def _lane(self, key: int) -> tuple[DetectionLoop, BucketCorrelator]:
        found = self._loops.get(key)
        if found is None:
            assert self._bundle is not None
            lane = self._lane_of[key]
            correlator = BucketCorrelator(self._store, self._lateness_ms, self._buckets, lane=lane)
            tracer = (
                GrantTracer(self._book, self._usage)
                if self._usage is not None and self._book is not None
                else None
            )
            loop = DetectionLoop(self._bundle, correlator, lane=lane, tracer=tracer)
            found = self._loops[key] = (loop, correlator)
        return found

    def process_element(
        self, value: Any, ctx: KeyedBroadcastProcessFunction.ReadOnlyContext
    ) -> Iterator[Any]:
        key, line = value
        if not self._ready(ctx) or self._waiting.value() or self._behind(line):
            # Before the first rules and grants, behind a batch that waits, or waiting for grant changes
            # this batch was exported after: buffered in order, released by the timer.
            self._pending.add(line)
            self._waiting.update(True)
            timers = ctx.timer_service()
            timers.register_processing_time_timer(timers.current_processing_time() + _BUFFER_RETRY_MS)
            return
        yield self._evaluate(key, line)

    def on_timer(self, timestamp: int, ctx: KeyedBroadcastProcessFunction.OnTimerContext) -> Iterator[Any]:
        timers = ctx.timer_service()
        if not self._ready(ctx):
            timers.register_processing_time_timer(timers.current_processing_time() + _BUFFER_RETRY_MS)
            return
        pending = list(self._pending.get() or ())
        self._pending.clear()
        key = ctx.get_current_key()
        for index, line in enumerate(pending):
            if self._behind(line):
                for rest in pending[index:]:
                    self._pending.add(rest)
                timers.register_processing_time_timer(timers.current_processing_time() + _BUFFER_RETRY_MS)
                return
            yield self._evaluate(key, line)
        self._waiting.clear()

    def _evaluate(self, key: int, line: str) -> JobOutput:
        """Every event of one batch, the lane's correlations, then the lane's marker for the batch."""
        loop, correlator = self._lane(key)
        lane, found = loop.lane, self._found
        found.clear()
        health: list[str] = []
        try:
            batch = read_batch(line, self._batches)
        except (ValueError, KeyError, TypeError) as exc:
            # Reported as lost, loudly; its time and marker still move on (nothing waits for it forever).
            if lane.index == 0:
                health.append(health_line("bad_batch", reason=str(exc)[:300], line=line[:512]))
            prev, nxt, genesis = batch_chain(line)
            batch = Batch(prev, nxt, batch_time(line), genesis, prev, [])
        for i, event in enumerate(batch.events):
            position = batch.first + i
            if not isinstance(event, dict):
                if lane.owns(position):
                    shown = event[:512]
                    health.append(
                        health_line("bad_event", offset=position, reason="not a JSON object", line=shown)
                    )
                continue
            try:
                moment = event_time(event)
            except (ValueError, TypeError, OverflowError) as exc:
                if lane.owns(position):
                    shown = json.dumps(event, ensure_ascii=False)[:512]
                    health.append(
                        health_line("bad_event", offset=position, reason=str(exc)[:200], line=shown)
                    )
                continue
            loop.event(position, event, moment, found, batch.texts[i])
        correlator.end_batch(batch.time, found, heartbeat=batch.prev == batch.next)
        lines = [alert_line(alert) for alert in build_alerts(found)]
        self._m_events.inc(len(batch.events))
        self._m_alerts.inc(len(lines))
        self._m_correlation.inc(len(found.correlated))
        self._m_violations.inc(len(found.traced))
        for problem in found.problems:
            if problem.what == "late_event":
                self._m_late.inc()
            elif problem.what == "rule_error":
                self._m_errors.inc()
            detail = {"time" if problem.what == "late_event" else "error": problem.detail}
            health.append(health_line(problem.what, rule=problem.rule, offset=problem.position, **detail))
        lines.append(batch_marker(line, lane.index, lane.count))
        now = time.monotonic()
        if now >= self._next_health:
            self._next_health = now + self._health_interval
            figures = {ref: [f.matches, f.nanos, f.errors] for ref, f in loop.figures.items()}
            traced = dict(loop.tracer.verdicts) if loop.tracer is not None else {}
            health.append(
                health_line(
                    "rule_health",
                    subtask=lane.index,
                    version=self._version,
                    rules=figures,
                    grants_version=self._grants_version,
                    trace=traced,
                )
            )
        return JobOutput("\n".join(lines), tuple(health))
