"""The stream job's correlations: the loop's matches in bucket state, time in band. Pure (the state lives
behind `BucketStore`; the rule operator backs it with Flink map state).

Inputs are grouped in *buckets*: the CRC-32 of an input's bucket key (its rule and group-by values, or
for the rules of a chain the chain's name: `SpecContext.chain`) modulo `buckets` (fixed for a job's
life). A bucket's state is loaded and written once per batch, not once per input (measured: per input,
serialization and state round trips cost a tenth of the in-process rate). Per bucket: one
`CorrelationEngine` per rule version (`SpecContext.digest`), stored as its context and windows
(`BucketState`), and the stored text of every event those windows may still need, written once per
event. An input carries only the fields its rule reads (`slot_fields`) plus that text; alerts decode
the texts (past the first `MAX_EVENTS_COPIED` events only the id and grade).

Chains: a rule's matches are fed at once to the outer rules of its context (`process_match`), in the
bucket they share, so an outer rule sees its own events and the inner matches in the order one
sequential engine sees them; time advances the rules inner level first.

Time travels in band: after a batch's inputs, every engine of the buckets it touched advances to the
batch's time (its newest event) minus the allowed lateness, which closes windows of time-driven rules
(`lt`) and expires the others; every bucket learns the time on a heartbeat and at least once a minute
of event time. Late policy: an event older than its engine's horizon is left out of correlation and
reported (`late_event`); its single-event alerts still fire. A rule whose text changes starts with
fresh windows; the old version's windows run on to their end.

The live state of every bucket stays in memory and is written through after every batch (a restore
builds a new correlator that reads the stored state).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

from datasoc.alert import MAX_EVENTS_COPIED
from detection.bundle import MAX_CHAIN, RuleBundle, SpecContext
from detection.correlation import CorrelationEngine, CorrelationMatch, WindowState
from detection.correlation.engine import slot_fields
from detection.loop import WHOLE, Correlated, Detections, Lane, Problem
from detection.rule import CompiledRule
from detection.stream.batch import BAD_TIME

#: Every bucket learns the time at least this often (event time), even when none of its rules is fed.
ADVANCE_EVERY_MS = 60_000
_LAST_MS = int(datetime(9999, 12, 30, tzinfo=UTC).timestamp() * 1000)
#: `json.dumps(..., sort_keys=True, default=str)` without building an encoder per call (the same text).
_KEY_ENCODER = json.JSONEncoder(sort_keys=True, default=str)


@dataclass(frozen=True, slots=True)
class CorrelationInput:
    """One single-event match fed to one correlation rule (made by `feed`, consumed in the same batch)."""

    bucket: int
    context: SpecContext
    position: int
    millis: int
    ref: str
    fields: Mapping[str, Any]
    text: str


@dataclass(slots=True)
class RuleState:
    """One rule version's state in one bucket: its context, windows, and kept events (position -> ms)."""

    context: SpecContext
    windows: WindowState
    kept: dict[int, int]


@dataclass(slots=True)
class BucketState:
    """What a bucket stores: its rule versions by digest. `VERSION` changes with the layout."""

    VERSION: ClassVar[int] = 1
    rules: dict[str, RuleState]
    version: int = VERSION


class BucketStore(Protocol):
    """The state of the buckets (the rule operator's map states of its current key, in the job)."""

    def load(self, bucket: int) -> BucketState | None:
        """The stored state of `bucket`, None when it has none."""

    def save(self, bucket: int, state: BucketState) -> None:
        """Replace the stored state of `bucket`."""

    def drop(self, bucket: int) -> None:
        """`bucket` keeps nothing any more (its texts are removed already)."""

    def text(self, bucket: int, position: int) -> str | None:
        """The stored text of the event at `position`, if `bucket` keeps it."""

    def put_texts(self, bucket: int, texts: Mapping[int, str]) -> None:
        """Keep these texts by position."""

    def remove_text(self, bucket: int, position: int) -> None:
        """Forget the text at `position`."""


@dataclass(slots=True)
class _Rule:
    """A rule version live in a bucket."""

    context: SpecContext
    engine: CorrelationEngine
    kept: dict[int, int] = field(default_factory=dict)


def bucket_key(context: SpecContext, slot: int, fields: Mapping[str, Any]) -> str:
    """The bucket key of an input to `slot` of a rule: its chain's name, or its rule and group-by values."""
    if context.chain:
        return context.chain
    spec = context.spec
    return _KEY_ENCODER.encode([spec.key, [fields.get(f) for f in spec.group_fields[slot]]])


def _when(millis: int) -> datetime:
    """A time in ms as a datetime; the end of time (a flush) becomes the last representable day."""
    return datetime.fromtimestamp(min(millis, _LAST_MS) / 1000, tz=UTC)


class BucketCorrelator:
    """The loop's correlator in the stream job (see module docstring): `feed` collects a batch's
    inputs, `end_batch` runs them bucket by bucket and moves time on."""

    def __init__(self, store: BucketStore, lateness_ms: int, buckets: int, *, lane: Lane = WHOLE) -> None:
        self._store = store
        self._lateness = timedelta(milliseconds=lateness_ms)
        self._lateness_ms = lateness_ms
        self._buckets = buckets
        self._lane = lane
        self._contexts: Mapping[str, SpecContext] = {}
        self._targets: Mapping[str, tuple[SpecContext, ...]] = {}
        self._inputs: dict[int, list[CorrelationInput]] = {}
        self._live: dict[int, dict[str, _Rule]] = {}
        # In memory: after a restore, the first batch tells every bucket the time.
        self._advanced: int | None = None

    def use(self, bundle: RuleBundle) -> None:
        """New inputs go to this rule set's versions (open windows of older ones run on)."""
        self._contexts = bundle.contexts
        self._targets = bundle.targets

    def feed(
        self,
        position: int,
        event: Mapping[str, Any],
        moment: datetime | None,
        text: str | None,
        rules: Sequence[CompiledRule],
        out: Detections,
    ) -> None:
        """Collect the inputs of one matched event (for the buckets of this lane)."""
        if moment is None or text is None:
            return
        millis = int(moment.timestamp() * 1000)
        fed: set[str] = set()
        for rule in rules:
            for ref in (r for r in (rule.id, rule.name) if r):
                for context in self._targets.get(ref, ()):
                    if context.spec.key in fed:  # a rule referenced by id and by name feeds a spec once
                        continue
                    fed.add(context.spec.key)
                    slot = next(s.position for s in context.spec.slots if ref in s.references)
                    fields = slot_fields(context.spec, event, slot)
                    key = bucket_key(context, slot, fields)
                    bucket = zlib.crc32(key.encode("utf-8")) % self._buckets
                    if bucket % self._lane.count == self._lane.index:
                        item = CorrelationInput(bucket, context, position, millis, ref, fields, text)
                        self._inputs.setdefault(bucket, []).append(item)

    def end_batch(self, when: int, out: Detections, *, heartbeat: bool = False) -> None:
        """The batch's inputs, bucket by bucket, then its time `when` (ms; BAD_TIME moves nothing).
        Every bucket of this lane learns the time on a heartbeat and once a minute of event time."""
        inputs, self._inputs = self._inputs, {}
        buckets: Iterable[int] = inputs
        everyone = heartbeat or self._advanced is None or when - self._advanced >= ADVANCE_EVERY_MS
        if everyone and when != BAD_TIME:
            self._advanced = when
            lane = self._lane
            buckets = [b for b in range(self._buckets) if b % lane.count == lane.index]
        for bucket in buckets:
            self._bucket(bucket, inputs.get(bucket, ()), when, out)

    def flush(self, out: Detections) -> None:
        """End of input: time jumps to the end, every open window closes."""
        self.end_batch(2**63 - 2, out, heartbeat=True)

    def _bucket(self, bucket: int, inputs: Sequence[CorrelationInput], when: int, out: Detections) -> None:
        live = self._live.get(bucket)
        stored = live is not None
        if live is None:
            live = self._load(bucket, out)
            stored = bool(live)
            if not live and not inputs:
                return
        fresh: dict[int, str] = {}
        for item in inputs:
            rule = self._rule(live, item.context)
            late_before = rule.engine.late_events
            moment = _when(item.millis)
            matches = rule.engine.process(item.position, item.fields, moment, (item.ref,))
            if rule.engine.late_events > late_before:
                detail = f"event time {moment.isoformat()}"
                out.problems.append(Problem("late_event", rule.context.spec.key, item.position, detail))
            else:
                rule.kept[item.position] = max(item.millis, rule.kept.get(item.position, BAD_TIME))
                fresh[item.position] = item.text
            self._emit(bucket, live, rule, matches, fresh, out)
        closed: set[int] = set()  # positions kept by rule versions whose windows all closed
        if when != BAD_TIME:
            horizon = _when(when - self._lateness_ms)
            for level in range(1, MAX_CHAIN + 1):  # inner rules first: their matches feed the outer ones
                for digest, rule in list(live.items()):
                    if rule.context.level != level:
                        continue
                    self._emit(bucket, live, rule, rule.engine.advance(horizon), fresh, out)
                    if rule.engine.stats().buffered == 0:
                        closed.update(rule.kept)
                        del live[digest]
        if fresh:
            self._store.put_texts(bucket, fresh)
        self._prune(bucket, live, closed)
        if live:
            windows = {d: RuleState(r.context, r.engine.window_state(), r.kept) for d, r in live.items()}
            self._store.save(bucket, BucketState(windows))
            self._live[bucket] = live
        elif stored or fresh:
            self._store.drop(bucket)
            self._live.pop(bucket, None)

    def _load(self, bucket: int, out: Detections) -> dict[str, _Rule]:
        """The bucket's live rules from its stored state (a state of another version is refused)."""
        state = self._store.load(bucket)
        if state is None:
            return {}
        if not isinstance(state, BucketState) or state.version != BucketState.VERSION:
            found = getattr(state, "version", type(state).__name__)
            detail = f"bucket {bucket}: state version {found} is not {BucketState.VERSION}; dropped"
            out.problems.append(Problem("state_refused", "", None, detail))
            self._store.drop(bucket)
            return {}
        return {
            digest: _Rule(
                r.context,
                CorrelationEngine.restore([r.context.spec], r.windows, allowed_lateness=self._lateness),
                r.kept,
            )
            for digest, r in state.rules.items()
        }

    def _rule(self, live: dict[str, _Rule], context: SpecContext) -> _Rule:
        rule = live.get(context.digest)
        if rule is None:
            engine = CorrelationEngine([context.spec], allowed_lateness=self._lateness)
            rule = live[context.digest] = _Rule(context, engine)
        return rule

    def _emit(
        self,
        bucket: int,
        live: dict[str, _Rule],
        rule: _Rule,
        matches: list[CorrelationMatch],
        fresh: dict[int, str],
        out: Detections,
    ) -> None:
        """Alerts of `rule`'s matches (unless suppressed), and the matches fed on to its outer rules."""
        for match in matches:
            texts = self._texts(bucket, match, fresh)
            if not rule.context.suppressed:
                out.correlated.append(Correlated(match, _decoded(match, texts)))
            last_ms = int(match.last_time.timestamp() * 1000)
            for key in rule.context.outers:
                context = self._contexts.get(key)
                if context is None:
                    continue  # the outer rule is no longer active
                outer = self._rule(live, context)
                for position, text in texts.items():
                    outer.kept[position] = max(last_ms, outer.kept.get(position, BAD_TIME))
                    fresh[position] = text
                inner = outer.engine.process_match(
                    rule.context.spec.references,
                    match.group_dict(),
                    match.last_time,
                    match.first_time,
                    match.event_indexes,
                )
                self._emit(bucket, live, outer, inner, fresh, out)

    def _texts(self, bucket: int, match: CorrelationMatch, fresh: Mapping[int, str]) -> dict[int, str]:
        """The stored texts of the match's events still kept."""
        out: dict[int, str] = {}
        for position in match.event_indexes:
            text = fresh.get(position)
            if text is None:
                text = self._store.text(bucket, position)
            if text is not None:
                out[position] = text
        return out

    def _prune(self, bucket: int, live: dict[str, _Rule], dropped: set[int]) -> None:
        """Drop events no open window can still use (bounded state): those of closed rule versions
        (`dropped`) and, per rule, what is older than its horizon minus its timespan; an event leaves
        the store when no rule of the bucket keeps it."""
        for rule in live.values():
            horizon = rule.engine.horizon()
            if horizon is None:
                continue
            cutoff = int((horizon - rule.context.spec.timespan).timestamp() * 1000)
            for position in [p for p, ms in rule.kept.items() if ms < cutoff]:
                del rule.kept[position]
                dropped.add(position)
        for position in dropped:
            if not any(position in rule.kept for rule in live.values()):
                self._store.remove_text(bucket, position)


def _decoded(match: CorrelationMatch, texts: Mapping[int, str]) -> dict[int, dict[str, Any]]:
    """The match's events decoded: whole for the first `MAX_EVENTS_COPIED`, id and grade after that."""
    out: dict[int, dict[str, Any]] = {}
    for n, position in enumerate(p for p in match.event_indexes if p in texts):
        event = json.loads(texts[position])
        if n >= MAX_EVENTS_COPIED:
            event = {
                "event.id": event.get("event.id"),
                "data.classification": event.get("data.classification"),
            }
        out[position] = event
    return out
