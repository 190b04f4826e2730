"""The job's Python operators before the correlations: order, time, single-event rules, routing.

Each operator is a thin adapter: the decisions are made by the pure engines (`detection.engine`,
`detection.correlation`) and the pure helpers of `detection.stream.batch`, `.rules` and `.alerts`
(the correlation stages are in `detection.stream.correlate`). Pointer lines travel as strings;
`RuleMatch` reads each batch once; operator outputs are tagged tuples `(kind, payload)` split by
`Route`; what leaves the job is JSON lines. Nothing is dropped silently: bad batches and events, rule
errors, rejected rule changes and late events each produce a health record and a Flink metric.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
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

from detection.pipelines import resolve_pipeline
from detection.stream.alerts import alert_line, event_time, health_line, single_alert
from detection.stream.batch import (
    END_OF_TIME,
    batch_chain,
    batch_marker,
    batch_time,
    order,
    read_batch,
)
from detection.stream.correlate import MERGE, STAGES, FusedStores
from detection.stream.rules import RuleBundle, RuleChange, RuleChangeError, apply_change, compile_bundle
from detection.stream.stages import Record, Stage, batch_lists, event_input, run_stages
from detection.view import build_view

#: Broadcast state: rule key -> YAML text, plus `VERSION_KEY` -> last applied change version.
RULES_STATE = MapStateDescriptor("datasoc-rules", Types.STRING(), Types.STRING())
VERSION_KEY = "\x00version"
PENDING_PREFIX = "\x00pending:"
HEALTH = OutputTag("health", Types.STRING())
_BUFFER_RETRY_MS = 100


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


class EventTimeAssigner(TimestampAssigner):  # type: ignore[misc]
    """Event time of a batch line: its `t` (newest event time in it), read from the head without parsing.

    Assigned after the source (pitfall 2 of the PyFlink notes: an assigner given to `from_source` is
    ignored). A batch without a valid event time gets Long.MIN_VALUE, which never moves the watermark.
    """

    def extract_timestamp(self, value: Any, record_timestamp: int) -> int:
        return batch_time(value)


def batch_key(line: str) -> int:
    """Key of a batch line for spreading batches over subtasks: its chain position (0 when unreadable)."""
    try:
        return batch_chain(line)[0]
    except ValueError:
        return 0


class Sequence(KeyedProcessFunction):  # type: ignore[misc]
    """Releases batch lines in chain order (one key; see `detection.stream.batch.order`).

    The file source reads the files of one directory scan in no fixed order; without this a later
    file read first would move the watermark past an earlier file's events. Expected position and
    waiting batches live in keyed state, so they are part of every checkpoint.
    """

    def open(self, runtime_context: RuntimeContext) -> None:
        self._expected = runtime_context.get_state(ValueStateDescriptor("expected", Types.LONG()))
        self._pending = runtime_context.get_state(ValueStateDescriptor("pending", Types.PICKLED_BYTE_ARRAY()))
        metrics = runtime_context.get_metrics_group().add_group("datasoc")
        self._m_waiting = metrics.counter("batches_out_of_order")
        self._m_duplicate = metrics.counter("batches_duplicate")
        self._m_stale = metrics.counter("heartbeats_stale")

    def process_element(self, value: str, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        pending: dict[tuple[int, int], str] = self._pending.value() or {}
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
        self._pending.update(pending)
        yield from ordered.released


class Route(ProcessFunction):  # type: ignore[misc]
    """Split an operator's tagged output `(kind, payload)`: alerts to the main output, correlation
    inputs to the side output of their stage, health records to `HEALTH`. RuleMatch and Correlate
    emit tagged tuples instead of side outputs themselves because PyFlink 2.3 (thread mode) sends
    side-output tuples yielded from `on_timer` to the main output (ClassCastException Object[] ->
    String, measured): buffered events are released in a timer, and windows close in one."""

    def process_element(self, value: Any, ctx: ProcessFunction.Context) -> Iterator[Any]:
        kind, payload = value
        if kind == "alert":
            yield payload
        elif kind == "correlate":
            stage, record = payload
            yield STAGES[stage - 1], record
        elif kind == "merge":
            yield MERGE, payload
        else:
            yield HEALTH, payload


class EndOfTime(TimestampAssigner):  # type: ignore[misc]
    """Rule changes have no event time: stamp them at the end of time (see `job.build`)."""

    def extract_timestamp(self, value: Any, record_timestamp: int) -> int:
        return END_OF_TIME


class RuleMatch(KeyedBroadcastProcessFunction):  # type: ignore[misc]
    """Single-event Sigma rules over the batches a pointer names (keyed by batch position; one key at
    parallelism 1); rules arrive on the broadcast side.

    Per batch: the alerts of its events, then its correlations (at parallelism 1 every stage right
    here, `detection.stream.stages.run_stages`; at parallelism > 1 its inputs go to `Merge`), then its
    marker. Batches that arrive before any rule set are buffered in keyed
    list state and released by a processing-time timer once rules are there (pitfall 5: no order
    between the two inputs). The bundle is compiled once per change (and once after a restore, from
    broadcast state).
    """

    def __init__(
        self,
        pipeline: str,
        health_interval_ms: int,
        batches_dir: str,
        fused_buckets: int | None,
        allowed_lateness_ms: int = 0,
    ) -> None:
        self._batches = Path(batches_dir)
        # At parallelism 1 batches are evaluated in chain order and the correlation stages run here
        # over this many buckets; None: the inputs go to `Merge` and the stage operators (`job.build`).
        self._fused_buckets = fused_buckets
        self._lateness_ms = allowed_lateness_ms
        self._advanced: int | None = None
        self._pipeline_name = pipeline
        self._health_interval = health_interval_ms / 1000.0
        self._bundle: RuleBundle | None = None
        self._version = 0

    def open(self, runtime_context: RuntimeContext) -> None:
        self._pipeline = resolve_pipeline(self._pipeline_name)
        self._pending = runtime_context.get_list_state(ListStateDescriptor("pending", Types.STRING()))
        self._subtask = subtask_index(runtime_context)
        metrics = runtime_context.get_metrics_group().add_group("datasoc")
        self._m_events = metrics.counter("events")
        self._m_alerts = metrics.counter("alerts")
        self._m_errors = metrics.counter("rule_errors")
        self._m_accepted = metrics.counter("rule_changes_accepted")
        self._m_rejected = metrics.counter("rule_changes_rejected")
        metrics.gauge("rules_version", lambda: self._version)
        metrics.gauge("rules_active", lambda: self._bundle.rule_count if self._bundle else 0)
        if self._fused_buckets is not None:
            self._stores = FusedStores(runtime_context)
            alerts, late = metrics.counter("correlation_alerts"), metrics.counter("late_events")
            self._stages = [
                Stage(n, self._lateness_ms, self._fused_buckets, alerts=alerts, late=late)
                for n in range(1, len(STAGES) + 1)
            ]
        # Per rule: [matches, evaluation ns, errors] since the operator opened.
        self._stats: dict[str, list[int]] = {}
        self._slots: list[list[int]] = []  # the active bundle's rules' entries of `_stats`, by position
        self._next_health = time.monotonic() + self._health_interval

    def process_broadcast_element(
        self, value: str, ctx: KeyedBroadcastProcessFunction.Context
    ) -> Iterator[Any]:
        state = ctx.get_broadcast_state(RULES_STATE)
        try:
            change = RuleChange.from_json(value)
        except RuleChangeError as exc:
            self._m_rejected.inc()
            if self._subtask == 0:
                yield "health", health_line("rule_change_invalid", reason=str(exc))
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

    def _apply(self, state: Any, change: RuleChange) -> Iterator[Any]:
        current = {k: v for k, v in state.items() if not k.startswith("\x00")}
        bundle, outcome = apply_change(current, change, self._pipeline)
        for key in outcome.disabled:
            state.remove(key)
        for key in outcome.accepted:
            state.put(key, change.put[key])
        state.put(VERSION_KEY, str(change.version))
        self._use(bundle)
        self._version = change.version
        self._m_accepted.inc(len(outcome.accepted) + len(outcome.disabled))
        self._m_rejected.inc(len(outcome.rejected))
        if self._subtask == 0:
            yield "health", json.dumps({**outcome.to_dict(), "active": bundle.rule_count}, sort_keys=True)

    def _ready(self, ctx: KeyedBroadcastProcessFunction.ReadOnlyContext) -> bool:
        if self._bundle is not None:
            return True
        state = ctx.get_broadcast_state(RULES_STATE)
        if not state.contains(VERSION_KEY):
            return False
        # After a restore: the broadcast state is back, the compiled bundle is not.
        texts = {k: v for k, v in state.items() if not k.startswith("\x00")}
        self._use(compile_bundle(texts, self._pipeline))
        self._version = int(state.get(VERSION_KEY))
        return True

    def _use(self, bundle: RuleBundle) -> None:
        """Make `bundle` the active rule set; per-rule figures are kept by rule reference across sets."""
        self._bundle = bundle
        self._slots = [
            self._stats.setdefault(rule.id or rule.name or rule.title, [0, 0, 0])
            for rule in bundle.engine.rules
        ]

    def process_element(
        self, value: Any, ctx: KeyedBroadcastProcessFunction.ReadOnlyContext
    ) -> Iterator[Any]:
        if not self._ready(ctx):
            self._pending.add(value)
            timers = ctx.timer_service()
            timers.register_processing_time_timer(timers.current_processing_time() + _BUFFER_RETRY_MS)
            return
        yield from self._evaluate(value)

    def on_timer(self, timestamp: int, ctx: KeyedBroadcastProcessFunction.OnTimerContext) -> Iterator[Any]:
        if not self._ready(ctx):
            timers = ctx.timer_service()
            timers.register_processing_time_timer(timers.current_processing_time() + _BUFFER_RETRY_MS)
            return
        pending = list(self._pending.get() or ())
        self._pending.clear()
        for value in pending:
            yield from self._evaluate(value)

    def _evaluate(self, line: str) -> Iterator[Any]:
        """Every event of one batch line, then the batch's marker (after its alerts, same sink)."""
        try:
            batch = read_batch(line, self._batches)
        except (ValueError, KeyError, TypeError) as exc:
            # Reported as lost, loudly; the marker still moves progress on (nothing waits for it forever).
            yield "health", health_line("bad_batch", reason=str(exc)[:300], line=line[:512])
            yield from self._correlation_inputs(line, [])
            yield "alert", batch_marker(line)
            return
        correlating: list[Record] = []
        out: list[tuple[str, Any]] = []
        for i, event in enumerate(batch.events):
            if not isinstance(event, dict):
                yield (
                    "health",
                    health_line(
                        "bad_event", offset=batch.first + i, reason="not a JSON object", line=event[:512]
                    ),
                )
                continue
            try:
                millis = int(event_time(event).timestamp() * 1000)
            except (ValueError, TypeError, OverflowError) as exc:
                shown = json.dumps(event, ensure_ascii=False)[:512]
                yield (
                    "health",
                    health_line("bad_event", offset=batch.first + i, reason=str(exc)[:200], line=shown),
                )
                continue
            self._evaluate_event(batch.first + i, millis, event, batch.texts[i], out, correlating)
        singles = sum(1 for kind, _ in out if kind == "alert")
        if singles:
            self._m_alerts.inc(singles)
        out.extend(self._correlation_inputs(line, correlating))
        yield from ((kind, payload) for kind, payload in out if kind != "alert")
        self._m_events.inc(len(batch.events))
        # The batch's alerts and its marker as one element (lines joined): every element costs a few
        # crossings between the JVM and Python, which for alert-heavy rule sets cost more than the rules.
        lines = [payload for kind, payload in out if kind == "alert"]
        lines.append(batch_marker(line))
        yield "alert", "\n".join(lines)
        now = time.monotonic()
        if now >= self._next_health:
            self._next_health = now + self._health_interval
            yield (
                "health",
                health_line("rule_health", subtask=self._subtask, version=self._version, rules=self._stats),
            )

    def _correlation_inputs(self, line: str, records: list[Record]) -> Iterator[Any]:
        if self._fused_buckets is None:
            # One element per batch, empty or not: `Merge` follows the chain (see there).
            yield "merge", (line, records)
            return
        # `_advanced` is in memory: after a restore, the first batch tells every bucket the time.
        elements, self._advanced = batch_lists(line, records, self._fused_buckets, self._advanced)
        yield from run_stages(self._stages, elements, self._stores.store)

    def _evaluate_event(
        self,
        offset: int,
        millis: int,
        event: dict[str, Any],
        text: str,
        out: list[tuple[str, Any]],
        correlating: list[Record],
    ) -> None:
        """One event's alerts and health records into `out`, its correlation inputs into `correlating`
        (lists the caller reuses, not a generator per event: most events produce nothing)."""
        bundle = self._bundle
        assert bundle is not None
        raw, low = build_view(event)
        engine, slots, clock = bundle.engine, self._slots, time.perf_counter_ns
        # One clock reading per rule: each rule's time runs from the previous reading to its own.
        start = clock()
        for i in engine.index.candidates(low):
            rule, stats = engine.rules[i], slots[i]
            try:
                matched = rule.matches_view(raw, low)
            except Exception as exc:  # a rule's bug must not stop the others; it is counted and reported
                stats[2] += 1
                self._m_errors.inc()
                ref = rule.id or rule.name or rule.title
                out.append(
                    ("health", health_line("rule_error", rule=ref, offset=offset, error=repr(exc)[:300]))
                )
                matched = False
            now = clock()
            stats[1] += now - start
            start = now
            if not matched:
                continue
            stats[0] += 1
            if bundle.alerting(rule):
                try:
                    line = alert_line(single_alert(rule, event))
                except (ValueError, TypeError) as exc:  # one bad event must not stop the job
                    stats[2] += 1
                    ref = rule.id or rule.name or rule.title
                    out.append(
                        ("health", health_line("alert_error", rule=ref, offset=offset, error=str(exc)[:300]))
                    )
                else:
                    out.append(("alert", line))
            fed: set[str] = set()
            for target in (r for r in (rule.id, rule.name) if r):
                for spec in bundle.targets.get(target, ()):
                    if spec.key not in fed:  # a rule referenced by id and by name feeds a spec once
                        fed.add(spec.key)
                        correlating.append(event_input(bundle, spec, offset, millis, event, text, target))
            start = clock()  # building the alert and inputs is not the next rule's evaluation time
