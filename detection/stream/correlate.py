"""Correlation stages of the job: correlation rules in keyed state, chains over stages.

Stage n evaluates the correlations of level n (`detection.stream.rules.SpecContext`): level 1 is fed
by single-event matches from `RuleMatch`, level n also by the matches of level n - 1 (a Sigma chain
such as "failures then success"). Every input enters stage 1 and is passed on to the stage of its
rule, so an outer rule sees its own events behind the inner matches their events produced, in the
order one sequential engine sees them (exactly so at parallelism 1).

Inputs travel in *bucket lists*: the records of one batch whose group key (rule and group-by values)
hashes to the same bucket form one element `(bucket, [record, ...])`, and the state of a stage is
keyed by bucket. Why: one element per input cost about 200 µs of serialization and state round trips
(measured: correlation-heavy input ran at a tenth of the in-process rate); per bucket list that cost
is paid once per batch. A record is `(group key, context blob, payload)`; the payload is an event
(`kind` "event") or an inner match ("match").

State per bucket: one pure `CorrelationEngine` per rule version (by digest) holding that bucket's
groups (stored as its windows only: the rules travel with the inputs), and the stored text of the
events those windows may still need in a map state, written once per event. An input carries only
the fields its rule reads plus that text. Alerts decode the texts; past the first `MAX_EVENTS_COPIED`
events only the id and grade are copied.
"""

from __future__ import annotations

import json
import pickle
import zlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pyflink.common import Types
from pyflink.datastream import OutputTag, RuntimeContext
from pyflink.datastream.functions import KeyedProcessFunction
from pyflink.datastream.state import MapStateDescriptor, ValueStateDescriptor

from datasoc.alert import MAX_EVENTS_COPIED
from detection.correlation import CorrelationEngine, CorrelationSpec
from detection.correlation.engine import CorrelationMatch, slot_fields
from detection.stream.alerts import alert_line, correlation_alert, health_line
from detection.stream.batch import BAD_TIME, batch_chain, batch_time, order
from detection.stream.rules import MAX_CHAIN, RuleBundle, SpecContext

#: The rule operator's correlation inputs, one element per batch `(pointer line, records)`, to `Merge`.
MERGE = OutputTag("correlate-merge", Types.PICKLED_BYTE_ARRAY())
#: One side output per stage: bucket lists for stage n go to `STAGES[n - 1]`.
STAGES = tuple(OutputTag(f"correlate-{n}", Types.PICKLED_BYTE_ARRAY()) for n in range(1, MAX_CHAIN + 1))
Record = tuple[str, bytes, dict[str, Any]]


def group_key(spec: CorrelationSpec, refs: frozenset[str] | set[str], lookup: Mapping[str, Any]) -> str:
    """The bucket key of a correlation input: the rule and its group-by values (the rules of a chain
    share their chain's name instead: `SpecContext.chain`)."""
    positions = [slot.position for slot in spec.slots if refs & slot.references]
    group = [lookup.get(f) for f in spec.group_fields[positions[0]]]
    return _KEY_ENCODER.encode([spec.key, group])


#: `json.dumps(..., sort_keys=True, default=str)` without building an encoder per call (the same text).
_KEY_ENCODER = json.JSONEncoder(sort_keys=True, default=str)


def bucket_lists(records: Sequence[Record], buckets: int) -> list[tuple[int, list[Record]]]:
    """Records grouped by the bucket of their group key (CRC-32: the same in every process), in order."""
    out: dict[int, list[Record]] = {}
    for record in records:
        out.setdefault(zlib.crc32(record[0].encode("utf-8")) % buckets, []).append(record)
    return list(out.items())


#: Every bucket learns the time at least this often (event time), even when none of its rules is fed.
ADVANCE_EVERY_MS = 60_000


def stage_lists(
    records: Sequence[Record], when: int, buckets: int, *, everyone: bool
) -> list[tuple[int, list[Record], int]]:
    """The elements for stage 1 from one batch: `(bucket, records, batch time)`, and, when `everyone`
    (a heartbeat, or a minute of event time since the last), an empty list for every other bucket, so
    each bucket's windows follow time in band with the ordered inputs."""
    lists = [(bucket, items, when) for bucket, items in bucket_lists(records, buckets)]
    if everyone and when != BAD_TIME:
        touched = {bucket for bucket, _, _ in lists}
        lists += [(bucket, [], when) for bucket in range(buckets) if bucket not in touched]
    return lists


def batch_lists(
    line: str, records: Sequence[Record], buckets: int, last_advance: int | None
) -> tuple[list[tuple[int, list[Record], int]], int | None]:
    """`stage_lists` for the batch of pointer `line`, telling every bucket the time on a heartbeat or
    when a minute of event time has passed since `last_advance`; returns the elements and the new
    `last_advance` (what the caller keeps)."""
    when = batch_time(line)
    prev, nxt, _ = batch_chain(line)
    everyone = prev == nxt or last_advance is None or when - last_advance >= ADVANCE_EVERY_MS
    if everyone and when != BAD_TIME:
        last_advance = when
    return stage_lists(records, when, buckets, everyone=everyone), last_advance


def event_input(
    bundle: RuleBundle,
    spec: CorrelationSpec,
    offset: int,
    millis: int,
    event: dict[str, Any],
    text: str,
    ref: str,
) -> Record:
    """The record feeding one single-event match to correlation `spec` (it enters at stage 1): the
    fields the rule reads, and the event's stored text for the alert (not the decoded event: its
    pickling was most of the cost of a correlation input)."""
    position = next(slot.position for slot in spec.slots if ref in slot.references)
    fields = slot_fields(spec, event, position)
    payload = {"kind": "event", "offset": offset, "ms": millis, "ref": ref, "fields": fields, "text": text}
    payload["digest"] = bundle.spec_digests[spec.key]
    payload["stage"] = bundle.levels.get(spec.key, 1)
    key = bundle.chains.get(spec.key) or group_key(spec, {ref}, event)
    return key, bundle.spec_blobs[spec.key], payload


class _Pairs(dict[int, str]):
    """A dict that iterates as its items, for `MapState.put_all` in both execution modes: PyFlink 2.3
    process mode iterates the argument expecting pairs (TypeError on a plain dict, measured), thread
    mode converts it as a dict."""

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items())


def _summary(event: Mapping[str, Any]) -> dict[str, Any]:
    """What an alert needs of an event beyond the copied ones: its id and its grade."""
    return {"event.id": event.get("event.id"), "data.classification": event.get("data.classification")}


_LAST_MS = int(datetime(9999, 12, 30, tzinfo=UTC).timestamp() * 1000)


def _when(millis: int) -> datetime:
    """A time in ms as a datetime; the end of time (a flush) becomes the last representable day."""
    return datetime.fromtimestamp(min(millis, _LAST_MS) / 1000, tz=UTC)


class Merge(KeyedProcessFunction):  # type: ignore[misc]
    """Puts the rule operator's per-batch correlation inputs back in chain order, then hands them to
    stage 1 as bucket lists (one key, parallelism 1).

    With the rule operator at parallelism > 1, batches are evaluated side by side and their inputs
    would reach a correlation in any order (measured: 296 instead of 326 alerts on the demo's events,
    inputs dropped as late). Every batch sends one element, empty or not, so the chain has no gaps.
    """

    def __init__(self, buckets: int) -> None:
        self._buckets = buckets

    def open(self, runtime_context: RuntimeContext) -> None:
        self._expected = runtime_context.get_state(ValueStateDescriptor("expected", Types.LONG()))
        self._pending = runtime_context.get_state(ValueStateDescriptor("pending", Types.PICKLED_BYTE_ARRAY()))
        self._advanced = runtime_context.get_state(ValueStateDescriptor("advanced", Types.LONG()))
        self._m_waiting = runtime_context.get_metrics_group().add_group("datasoc").counter("merge_waiting")

    def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> Iterator[Any]:
        line, records = value
        pending: dict[tuple[int, int], tuple[str, list[Record]]] = self._pending.value() or {}
        lines = {key: item[0] for key, item in pending.items()}
        held = {item[0]: item[1] for item in pending.values()}
        held[line] = records
        try:
            ordered = order(self._expected.value(), lines, line)
        except ValueError as exc:
            yield "health", health_line("bad_batch", reason=str(exc))
            return
        if ordered.buffered:
            self._m_waiting.inc()
        if ordered.expected is not None:
            self._expected.update(ordered.expected)
        self._pending.update({key: (text, held[text]) for key, text in lines.items()})
        for released in ordered.released:
            last = self._advanced.value()
            elements, advanced = batch_lists(released, held[released], self._buckets, last)
            if advanced != last and advanced is not None:
                self._advanced.update(advanced)
            for element in elements:
                yield "correlate", (1, element)


class Correlate(KeyedProcessFunction):  # type: ignore[misc]
    """Stage `stage` of the correlations, keyed by bucket (see module docstring).

    Time travels in band: each element carries its batch's event time (the newest in it); after
    the element's inputs, every engine of the bucket advances to that time minus the allowed lateness
    (the job's out-of-orderness), which closes windows of time-driven rules (`lt`) and expires the
    others; windows also close as events arrive. Buckets no input reaches get an empty element on
    every heartbeat and at least once a minute of event time. Flink's watermark is not used for these
    decisions: it can overtake inputs that wait in the rule operator for the first rule set (found at
    parallelism 2). Late policy: an event older than its engine's horizon is left out of correlation,
    counted and reported; its single-event alerts still fire. A rule whose text changes starts with
    fresh windows (engines by digest).
    """

    def __init__(self, stage: int, allowed_lateness_ms: int, buckets: int) -> None:
        self._stage = stage
        self._lateness = timedelta(milliseconds=allowed_lateness_ms)
        self._buckets = buckets
        self._contexts: dict[str, SpecContext] = {}
        self._live: dict[int, dict[str, Any]] = {}

    def open(self, runtime_context: RuntimeContext) -> None:
        # Live state by bucket, written through to keyed state on every element: only this operator
        # writes its keys, and a restore opens a new instance, so the copy is never stale (it saves the
        # unpickling and engine restore of every element: about a tenth of a stage's time, measured).
        self._live = {}
        self._state = runtime_context.get_state(
            ValueStateDescriptor("correlations", Types.PICKLED_BYTE_ARRAY())
        )
        self._events = runtime_context.get_map_state(
            MapStateDescriptor("events", Types.LONG(), Types.STRING())
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
        bucket, records, when = value
        state = self._live.get(bucket)
        if state is None:
            state = self._load(self._state.value())
        onward: list[Record] = []
        new_events: dict[int, str] = {}
        for record in records:
            _key, blob, payload = record
            if payload["stage"] > self._stage:
                onward.append(record)
                continue
            yield from self._one(state, blob, payload, new_events, onward)
        if new_events:
            self._events.put_all(_Pairs(new_events))
        if when != BAD_TIME:
            yield from self._advance(
                state, when - int(self._lateness.total_seconds() * 1000), new_events, onward
            )
        self._prune(state)
        if state["engines"]:
            self._state.update(self._stored(state))
            self._live[bucket] = state
        else:
            self._state.clear()
            self._events.clear()
            self._live.pop(bucket, None)
        yield from self._forward(onward, when, bucket if not records else None)

    def _advance(
        self, state: dict[str, Any], millis: int, fresh: Mapping[int, str], onward: list[Record]
    ) -> Iterator[Any]:
        """Event time reached `millis` (in band, after the batch's inputs): close what it closes."""
        for digest, engine in list(state["engines"].items()):
            context = self._context(digest, state["blobs"][digest])
            yield from self._emit(context, engine.advance(_when(millis)), fresh, onward)
            if engine.stats().buffered == 0:
                del state["engines"][digest]
                del state["blobs"][digest]
                state["kept"].pop(digest, None)

    def _load(self, stored: dict[str, Any] | None) -> dict[str, Any]:
        """The bucket's state with live engines (the stored form keeps only their windows)."""
        if stored is None:
            return {"engines": {}, "blobs": {}, "kept": {}}
        engines = {
            digest: CorrelationEngine.restore(
                [self._context(digest, stored["blobs"][digest]).spec],
                windows,
                allowed_lateness=self._lateness,
            )
            for digest, windows in stored["windows"].items()
        }
        return {**stored, "engines": engines}

    @staticmethod
    def _stored(state: dict[str, Any]) -> dict[str, Any]:
        windows = {digest: engine.window_state() for digest, engine in state["engines"].items()}
        return {"windows": windows, "blobs": state["blobs"], "kept": state["kept"]}

    def _one(
        self,
        state: dict[str, Any],
        blob: bytes,
        payload: dict[str, Any],
        new_events: dict[int, str],
        onward: list[Record],
    ) -> Iterator[Any]:
        digest = payload["digest"]
        context = self._context(digest, blob)
        engines: dict[str, CorrelationEngine] = state["engines"]
        engine = engines.get(digest)
        if engine is None:
            engine = engines[digest] = CorrelationEngine([context.spec], allowed_lateness=self._lateness)
            state["blobs"][digest] = blob
        kept: dict[int, int] = state["kept"].setdefault(digest, {})
        if payload["kind"] == "event":
            late_before = engine.late_events
            when = _when(payload["ms"])
            matches = engine.process(payload["offset"], payload["fields"], when, [payload["ref"]])
            if engine.late_events > late_before:
                self._m_late.inc()
                yield (
                    "health",
                    health_line("late_event", rule=context.spec.key, offset=payload["offset"], time=when),
                )
            else:
                kept[payload["offset"]] = max(payload["ms"], kept.get(payload["offset"], BAD_TIME))
                new_events[payload["offset"]] = payload["text"]
        else:
            for offset, text in payload["texts"].items():
                kept[int(offset)] = max(payload["ms"], kept.get(int(offset), BAD_TIME))
                new_events[int(offset)] = text
            matches = engine.process_match(
                payload["refs"],
                payload["group"],
                _when(payload["ms"]),
                _when(payload["first_ms"]),
                [int(i) for i in payload["indexes"]],
            )
        yield from self._emit(context, matches, new_events, onward)

    def _forward(self, records: list[Record], when: int, advance: int | None) -> Iterator[Any]:
        """Records for later stages as bucket lists of the next stage's keys, with the batch time; an
        empty list (`advance`: this bucket) carries time on to the same bucket of the next stage."""
        if self._stage >= MAX_CHAIN:
            return
        lists = stage_lists(records, when, self._buckets, everyone=False)
        if advance is not None and not any(bucket == advance for bucket, _, _ in lists):
            lists.append((advance, [], when))
        for element in lists:
            yield "correlate", (self._stage + 1, element)

    def _match_texts(self, match: CorrelationMatch, fresh: Mapping[int, str]) -> dict[int, str]:
        """The stored texts of the match's events still kept."""
        out: dict[int, str] = {}
        for offset in match.event_indexes:
            text = fresh.get(offset)
            if text is None:
                text = self._events.get(offset)
            if text is not None:
                out[offset] = text
        return out

    @staticmethod
    def _alert_events(match: CorrelationMatch, texts: Mapping[int, str]) -> dict[int, dict[str, Any]]:
        """The match's events decoded: whole for the first `MAX_EVENTS_COPIED`, id and grade after that."""
        out: dict[int, dict[str, Any]] = {}
        for n, offset in enumerate(o for o in match.event_indexes if o in texts):
            event = json.loads(texts[offset])
            out[offset] = event if n < MAX_EVENTS_COPIED else _summary(event)
        return out

    def _emit(
        self,
        context: SpecContext,
        matches: list[CorrelationMatch],
        fresh: Mapping[int, str],
        onward: list[Record],
    ) -> Iterator[Any]:
        for match in matches:
            texts = self._match_texts(match, fresh)
            if not context.suppressed:
                events = self._alert_events(match, texts)
                try:
                    line = alert_line(correlation_alert(match, events))
                except (ValueError, TypeError) as exc:  # reported, never a restart loop
                    yield "health", health_line("alert_error", rule=match.rule_ref, error=str(exc)[:300])
                else:
                    self._m_alerts.inc()
                    yield "alert", line
            refs = sorted(context.spec.references)
            group = match.group_dict()
            for link in context.outers:
                outer: SpecContext = self._context(link.digest, link.blob)
                payload = {
                    "kind": "match",
                    "refs": refs,
                    "group": group,
                    "ms": int(match.last_time.timestamp() * 1000),
                    "first_ms": int(match.first_time.timestamp() * 1000),
                    "indexes": list(match.event_indexes),
                    "texts": texts,
                    "digest": link.digest,
                    "stage": link.level,
                }
                onward.append((outer.chain or group_key(outer.spec, set(refs), group), link.blob, payload))

    def _prune(self, state: dict[str, Any]) -> None:
        """Drop events no open window can still use (bounded state): per rule, what is older than its
        horizon minus its timespan; an event leaves the map state when no rule of the bucket keeps it."""
        kept_by: dict[str, dict[int, int]] = state["kept"]
        dropped: set[int] = set()
        for digest, kept in list(kept_by.items()):
            engine = state["engines"].get(digest)
            horizon = engine.horizon() if engine is not None else None
            if engine is None:
                dropped.update(kept)
                del kept_by[digest]
                continue
            if horizon is None:
                continue
            cutoff = int((horizon - engine.specs[0].timespan).timestamp() * 1000)
            for offset in [o for o, ms in kept.items() if ms < cutoff]:
                del kept[offset]
                dropped.add(offset)
        for offset in dropped:
            if not any(offset in kept for kept in kept_by.values()):
                self._events.remove(offset)
