"""Correlation stages of the job, without Flink: bucket lists, stage logic over a state store. Pure
(the state lives behind `StageStore`; `detection.stream.correlate` backs it with Flink keyed state).

Stage n evaluates the correlations of level n (`detection.stream.rules.SpecContext`): level 1 is fed
by single-event matches from the rule operator, level n also by the matches of level n - 1 (a Sigma
chain such as "failures then success"). Every input enters stage 1 and is passed on to the stage of
its rule, so an outer rule sees its own events behind the inner matches their events produced, in the
order one sequential engine sees them.

Inputs travel in *bucket lists*: the records of one batch whose group key (rule and group-by values)
hashes to the same bucket form one element `(bucket, [record, ...], batch time)`, and a stage's state
is kept by bucket. Why: one element per input cost about 200 µs of serialization and state round trips
(measured: correlation-heavy input ran at a tenth of the in-process rate); per bucket list that cost
is paid once per batch. A record is `(group key, context blob, payload)`; the payload is an event
(`kind` "event") or an inner match ("match").

State per bucket: one pure `CorrelationEngine` per rule version (by digest) holding that bucket's
groups (stored as its windows only: the rules travel with the inputs), and the stored text of the
events those windows may still need, written once per event. An input carries only the fields its
rule reads plus that text. Alerts decode the texts; past the first `MAX_EVENTS_COPIED` events only
the id and grade are copied.

Where the stages run: at parallelism 1 all of them inside the rule operator (`run_stages`, no hop
between operators: measured, the hops' serialization and the stage operators' share of the one
Python interpreter of thread mode cost more than the correlations); at parallelism > 1 one keyed
operator per stage after `Merge` (`detection.stream.correlate`).
"""

from __future__ import annotations

import json
import pickle
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from datasoc.alert import MAX_EVENTS_COPIED
from detection.correlation import CorrelationEngine, CorrelationSpec
from detection.correlation.engine import CorrelationMatch, slot_fields
from detection.stream.alerts import alert_line, correlation_alert, health_line
from detection.stream.batch import BAD_TIME, batch_chain, batch_time
from detection.stream.rules import MAX_CHAIN, RuleBundle, SpecContext

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


def _summary(event: Mapping[str, Any]) -> dict[str, Any]:
    """What an alert needs of an event beyond the copied ones: its id and its grade."""
    return {"event.id": event.get("event.id"), "data.classification": event.get("data.classification")}


_LAST_MS = int(datetime(9999, 12, 30, tzinfo=UTC).timestamp() * 1000)


def _when(millis: int) -> datetime:
    """A time in ms as a datetime; the end of time (a flush) becomes the last representable day."""
    return datetime.fromtimestamp(min(millis, _LAST_MS) / 1000, tz=UTC)


class StageStore(Protocol):
    """One bucket's state of one stage: its stored windows, and the texts of the events they keep."""

    def load(self) -> dict[str, Any] | None:
        """The stored state (`Stage` writes it), None when the bucket has none."""

    def save(self, stored: dict[str, Any]) -> None:
        """Replace the stored state."""

    def drop(self) -> None:
        """The bucket keeps nothing: remove its state (its texts are gone already: `Stage._prune`
        removes every text no window keeps, and with no engine left no window keeps any)."""

    def event(self, offset: int) -> str | None:
        """The stored text of the event at `offset`, if kept."""

    def put_events(self, texts: dict[int, str]) -> None:
        """Keep these texts by offset."""

    def remove_event(self, offset: int) -> None:
        """Forget the text at `offset`."""


class Counter(Protocol):
    """A metric counter (Flink's, in the job)."""

    def inc(self, n: int = 1) -> None:
        """Add `n`."""


class _NoCount:
    def inc(self, n: int = 1) -> None:
        pass


class Stage:
    """Stage `number` of the correlations over one bucket list at a time (see module docstring).

    Time travels in band: each element carries its batch's event time (the newest in it); after the
    element's inputs, every engine of the bucket advances to that time minus the allowed lateness (the
    job's out-of-orderness), which closes windows of time-driven rules (`lt`) and expires the others;
    windows also close as events arrive. Buckets no input reaches get an empty element on every
    heartbeat and at least once a minute of event time. Flink's watermark is not used for these
    decisions: it can overtake inputs that wait in the rule operator for the first rule set (found at
    parallelism 2). Late policy: an event older than its engine's horizon is left out of correlation,
    counted and reported; its single-event alerts still fire. A rule whose text changes starts with
    fresh windows (engines by digest).

    The live state of each bucket is kept here and written through to its store after every element:
    only this stage writes its buckets, and a restore builds a new `Stage`, so the copy is never stale
    (it saves unpickling and restoring the engines on every element).
    """

    def __init__(
        self,
        number: int,
        allowed_lateness_ms: int,
        buckets: int,
        *,
        alerts: Counter | None = None,
        late: Counter | None = None,
    ) -> None:
        self.number = number
        self._lateness = timedelta(milliseconds=allowed_lateness_ms)
        self._buckets = buckets
        self._contexts: dict[str, SpecContext] = {}
        self._live: dict[int, dict[str, Any]] = {}
        self._m_alerts = alerts or _NoCount()
        self._m_late = late or _NoCount()

    def _context(self, digest: str, blob: bytes) -> SpecContext:
        context = self._contexts.get(digest)
        if context is None:
            context = pickle.loads(blob)  # noqa: S301 - produced by this job's own rule operator
            self._contexts[digest] = context
        return context

    def process(self, bucket: int, records: Sequence[Record], when: int, store: StageStore) -> Iterator[Any]:
        """One element: its inputs, then the batch time; yields tagged outputs `("alert", line)`,
        `("health", line)` and `("correlate", (next stage, element))`."""
        state = self._live.get(bucket)
        stored = state is not None
        if state is None:
            loaded = store.load()
            stored = loaded is not None
            state = self._load(loaded)
        onward: list[Record] = []
        new_events: dict[int, str] = {}
        for record in records:
            _key, blob, payload = record
            if payload["stage"] > self.number:
                onward.append(record)
                continue
            yield from self._one(state, blob, payload, new_events, onward, store)
        if new_events:
            store.put_events(new_events)
        if when != BAD_TIME:
            yield from self._advance(
                state, when - int(self._lateness.total_seconds() * 1000), new_events, onward, store
            )
        self._prune(state, store)
        if state["engines"]:
            store.save(self._stored(state))
            self._live[bucket] = state
        elif stored:
            store.drop()
            self._live.pop(bucket, None)
        yield from self._forward(onward, when, bucket if not records else None)

    def _advance(
        self,
        state: dict[str, Any],
        millis: int,
        fresh: Mapping[int, str],
        onward: list[Record],
        store: StageStore,
    ) -> Iterator[Any]:
        """Event time reached `millis` (in band, after the batch's inputs): close what it closes."""
        for digest, engine in list(state["engines"].items()):
            context = self._context(digest, state["blobs"][digest])
            yield from self._emit(context, engine.advance(_when(millis)), fresh, onward, store)
            if engine.stats().buffered == 0:
                # Its kept events go in `_prune` (from the store too, unless another rule keeps them).
                del state["engines"][digest]
                del state["blobs"][digest]

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
        store: StageStore,
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
        yield from self._emit(context, matches, new_events, onward, store)

    def _forward(self, records: list[Record], when: int, advance: int | None) -> Iterator[Any]:
        """Records for later stages as bucket lists of the next stage's keys, with the batch time; an
        empty list (`advance`: this bucket) carries time on to the same bucket of the next stage."""
        if self.number >= MAX_CHAIN:
            return
        lists = stage_lists(records, when, self._buckets, everyone=False)
        if advance is not None and not any(bucket == advance for bucket, _, _ in lists):
            lists.append((advance, [], when))
        for element in lists:
            yield "correlate", (self.number + 1, element)

    @staticmethod
    def _match_texts(match: CorrelationMatch, fresh: Mapping[int, str], store: StageStore) -> dict[int, str]:
        """The stored texts of the match's events still kept."""
        out: dict[int, str] = {}
        for offset in match.event_indexes:
            text = fresh.get(offset)
            if text is None:
                text = store.event(offset)
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
        store: StageStore,
    ) -> Iterator[Any]:
        for match in matches:
            texts = self._match_texts(match, fresh, store)
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

    @staticmethod
    def _prune(state: dict[str, Any], store: StageStore) -> None:
        """Drop events no open window can still use (bounded state): per rule, what is older than its
        horizon minus its timespan; an event leaves the store when no rule of the bucket keeps it."""
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
                store.remove_event(offset)


def run_stages(
    stages: Sequence[Stage],
    elements: Sequence[tuple[int, list[Record], int]],
    store_for: Callable[[int, int], StageStore],
) -> Iterator[Any]:
    """Stage 1 over `elements` (one batch's bucket lists), then each next stage over what the previous
    one passed on, in the order it did: what a chain of stage operators fed first in, first out does.
    Yields the stages' alerts and health records (`store_for(stage, bucket)` gives the state)."""
    current = list(elements)
    for stage in stages:
        if not current:
            return
        passed: list[tuple[int, list[Record], int]] = []
        for bucket, records, when in current:
            for kind, payload in stage.process(bucket, records, when, store_for(stage.number, bucket)):
                if kind == "correlate":
                    passed.append(payload[1])
                else:
                    yield kind, payload
        current = passed
