"""The correlation state machine: Sigma correlation rules over a stream of matched events.

Pure: no clock, no I/O. The caller feeds, per input event, its 0-based index, the event mapping, its
event time and the ids and names of the base rules it matched (`process`), and moves time forward with
watermarks (`advance`) or ends the input (`flush`). Each call returns the correlation matches it
completed. The Flink job drives it from keyed state and event-time timers; `datasoc detect` from a file.

Semantics (Sigma correlation rules specification v2.0, decided here where the spec is silent):

Time and windows
    Event time only. A set of events is "within the timespan T" when `last - first <= T` (inclusive:
    with T = 5m, events at 10:00:00 and 10:05:00 correlate; 10:05:00.000001 does not). Windows slide:
    every window starting at a buffered event is tested, so a burst across any fixed boundary is found
    (the spec: "the time frame should not be restricted to boundaries"). Equal timestamps keep input
    order (`temporal_ordered` uses time, then input index).

Horizon, late events and state bounds
    The horizon is `max(last watermark, newest event time seen - allowed_lateness)`. An event whose
    time is before the horizon is late: it is dropped from correlation and counted, in total and per
    correlation rule (`stats()`), never silently. An event at exactly the horizon is accepted.
    Buffered events that can no longer share a window with any acceptable event (`time + T < horizon`)
    are expired, and empty groups are deleted, so state is bounded by the events of the last
    `T + allowed_lateness` per group. Watermarks only move forward; an older one is ignored.

Emission
    `gt` and `gte` (monotone, decidable on arrival): a match is emitted as soon as a window containing
    the new event satisfies the condition; it names every event of that window, and those events are
    consumed, so they never alert twice. A continuing or repeated burst alerts again once enough *new*
    events satisfy the condition on their own (gte 5 over a 12-event burst: two alerts of 5 events;
    the remaining 2 expire). Deduplication across alerts of one group is the SOC's job (alert intake).
    `lt`, `lte`, `eq` and `neq` are time-driven: a window opens at the oldest buffered event of a group,
    closes when the horizon passes `open + T`, is evaluated once and consumed whether it matched or not;
    the next window opens at the next event. Such matches come out of `advance`, `flush`, or a `process`
    call whose event moved the horizon. A group exists only once one of its events arrived, so "fewer
    than N" never fires for a group with no event at all.

Groups
    Keyed by (correlation rule, group-by values); groups never mix. A missing group-by field groups
    under `None` (as SQL GROUP BY does) rather than dropping the event. Aliases (spec "Field Name
    Aliases") pick the field per referenced rule. For `value_count`, an event without the field (or with
    null) carries no value and is ignored, as COUNT(DISTINCT) ignores NULL; values compare exactly.

Chaining and `generate`
    A correlation may reference another one (spec example "Failed Logins Followed by Successful
    Login"): each inner match enters the outer rule as one occurrence at the inner match's last event
    time, carrying the inner group-by values and all the inner match's event indexes. Rules referenced
    by a correlation without `generate: true` (base or correlation) raise no alerts of their own:
    `is_suppressed` answers for base rules; suppressed correlation matches still feed chains but are
    not returned.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from detection.correlation.errors import CorrelationInputError
from detection.correlation.rules import CorrelationRuleSet, CorrelationSpec
from detection.correlation.window import GroupWindow, Occurrence, measure

GroupKey = tuple[Hashable, ...]
_MISSING: Any = object()


@dataclass(frozen=True)
class CorrelationMatch:
    """One fired correlation: which rule, which group, when, and every contributing input event."""

    rule_id: str | None
    rule_name: str | None
    title: str
    level: str | None
    tags: tuple[str, ...]
    correlation_type: str
    group: tuple[tuple[str, Hashable], ...]
    first_time: datetime
    last_time: datetime
    count: int
    measure: int
    event_indexes: tuple[int, ...]

    @property
    def rule_ref(self) -> str:
        """The rule's id, else its name (correlation rules may omit the id)."""
        return self.rule_id or self.rule_name or self.title

    def group_dict(self) -> dict[str, Hashable]:
        """Group-by values by group-by name (list values appear as tuples)."""
        return dict(self.group)


@dataclass(frozen=True)
class WindowState:
    """An engine's windows, timers and clocks without its rules (`window_state`, `restore`): what the
    stream job keeps in keyed state. `VERSION` changes when the layout does; `restore` refuses others."""

    VERSION: ClassVar[int] = 1
    groups: list[dict[GroupKey, GroupWindow]]
    timers: list[tuple[datetime, int, int, GroupKey]]
    seq: int
    watermark: datetime | None
    newest: datetime | None
    finished: bool
    late: int
    late_by_rule: dict[str, int]
    version: int = VERSION


@dataclass(frozen=True)
class CorrelationStats:
    """Counters an operator needs: late drops (per correlation rule key) and current state size."""

    late_events: int
    late_by_rule: tuple[tuple[str, int], ...]
    open_groups: int
    buffered: int
    watermark: datetime | None
    newest_event_time: datetime | None


class CorrelationEngine:
    """Runs compiled correlation rules over matched events; see the module docstring for semantics."""

    def __init__(
        self,
        rules: CorrelationRuleSet | Sequence[CorrelationSpec],
        *,
        allowed_lateness: timedelta = timedelta(0),
    ) -> None:
        if allowed_lateness < timedelta(0):
            raise CorrelationInputError(f"allowed_lateness must not be negative, got {allowed_lateness}")
        specs = rules.specs if isinstance(rules, CorrelationRuleSet) else tuple(rules)
        self._specs: tuple[CorrelationSpec, ...] = specs
        self._lateness = allowed_lateness
        self._suppressed = frozenset(
            r for s in specs if not s.generate for slot in s.slots for r in slot.references
        )
        # Reference (id or name) -> [(spec index, slot position)], for base rules and chained correlations.
        self._by_ref: dict[str, list[tuple[int, int]]] = {}
        for i, spec in enumerate(specs):
            for slot in spec.slots:
                for ref in slot.references:
                    self._by_ref.setdefault(ref, []).append((i, slot.position))
        self._groups: list[dict[GroupKey, GroupWindow]] = [{} for _ in specs]
        self._timers: list[tuple[datetime, int, int, GroupKey]] = []
        self._seq = 0  # timer tie-breaker (a plain int keeps the engine picklable for checkpoints)
        self._watermark: datetime | None = None
        self._newest: datetime | None = None
        self._finished = False
        self._late = 0
        self._late_by_rule: dict[str, int] = {}

    @property
    def specs(self) -> tuple[CorrelationSpec, ...]:
        """The correlation rules, inner (chained) ones first."""
        return self._specs

    def window_state(self) -> WindowState:
        """Everything but the rules: windows, timers and clocks (what a keyed state stores; the rules
        travel separately, so a busy state does not carry a copy of them on every update)."""
        return WindowState(
            groups=self._groups,
            timers=self._timers,
            seq=self._seq,
            watermark=self._watermark,
            newest=self._newest,
            finished=self._finished,
            late=self._late,
            late_by_rule=self._late_by_rule,
        )

    @classmethod
    def restore(
        cls,
        rules: CorrelationRuleSet | Sequence[CorrelationSpec],
        state: WindowState,
        *,
        allowed_lateness: timedelta = timedelta(0),
    ) -> CorrelationEngine:
        """An engine over `rules` with the windows of `window_state()` (taken from an engine over the
        same rules); a state of another version or another number of rules is refused."""
        engine = cls(rules, allowed_lateness=allowed_lateness)
        if not isinstance(state, WindowState) or state.version != WindowState.VERSION:
            found = getattr(state, "version", type(state).__name__)
            raise CorrelationInputError(f"window state version {found} is not {WindowState.VERSION}")
        if len(state.groups) != len(engine._specs):
            raise CorrelationInputError(
                f"window state holds {len(state.groups)} rules, the engine has {len(engine._specs)}"
            )
        engine._groups, engine._timers, engine._seq = state.groups, state.timers, state.seq
        engine._watermark, engine._newest, engine._finished = state.watermark, state.newest, state.finished
        engine._late, engine._late_by_rule = state.late, state.late_by_rule
        return engine

    @property
    def late_events(self) -> int:
        """Events left out as late so far (cheap; `stats()` walks every group)."""
        return self._late

    def is_suppressed(self, reference: str) -> bool:
        """Whether the rule with this id or name must not alert on its own (spec "Generate")."""
        return reference in self._suppressed

    @property
    def suppressed_references(self) -> frozenset[str]:
        """Ids and names of every rule whose own alerts are suppressed."""
        return self._suppressed

    def horizon(self) -> datetime | None:
        """Events before this time are late; None until the first event or watermark."""
        if self._newest is None:
            return self._watermark
        frontier = self._newest - self._lateness
        return frontier if self._watermark is None else max(frontier, self._watermark)

    def process(
        self, event_index: int, event: Mapping[str, Any], event_time: datetime, matched: Collection[str]
    ) -> list[CorrelationMatch]:
        """Feed one input event with the ids and names of the base rules it matched.

        Returns the matches completed by this event and by windows its time closed.
        """
        if isinstance(event_index, bool) or not isinstance(event_index, int) or event_index < 0:
            raise CorrelationInputError(f"event_index must be a non-negative int, got {event_index!r}")
        if not isinstance(event, Mapping):
            raise CorrelationInputError(f"event {event_index}: event must be a mapping")
        if isinstance(matched, str):
            raise CorrelationInputError(f"event {event_index}: matched must be a collection of rule refs")
        t = _utc(event_time, f"event {event_index}: event_time")
        if not self._finished:
            self._newest = t if self._newest is None else max(self._newest, t)
        out = self._sweep()
        targets = self._targets(matched)
        if not targets:
            return out
        horizon = self.horizon()
        if self._finished or (horizon is not None and t < horizon):
            self._late += 1
            for spec_index in targets:
                key = self._specs[spec_index].key
                self._late_by_rule[key] = self._late_by_rule.get(key, 0) + 1
            return out
        for spec_index, slots in targets.items():
            out += self._feed(
                spec_index, slots, lambda f: _lookup(event, f), t, t, event_index, (event_index,)
            )
        return out

    def process_match(
        self,
        references: Collection[str],
        group: Mapping[str, Hashable],
        last_time: datetime,
        first_time: datetime,
        event_indexes: Sequence[int],
    ) -> list[CorrelationMatch]:
        """Feed a match of an inner correlation that was evaluated elsewhere (a chain split over keyed
        operators, as in the stream job): `references` are the inner rule's id and name, `group` its
        group-by values. Same as what `_emit` feeds to outer rules in one engine; never late.
        """
        if not event_indexes:
            raise CorrelationInputError("a correlation match needs at least one event index")
        t = _utc(last_time, "last_time")
        first = _utc(first_time, "first_time")
        if not self._finished:
            self._newest = t if self._newest is None else max(self._newest, t)
        out = self._sweep()
        indexes = tuple(event_indexes)
        for spec_index, slots in self._targets(references).items():
            out += self._feed(
                spec_index, slots, lambda f: group.get(f, _MISSING), t, first, indexes[-1], indexes
            )
        return out

    def advance(self, watermark: datetime) -> list[CorrelationMatch]:
        """Move event time to `watermark` (no event before it will come); returns windows it closed."""
        w = _utc(watermark, "watermark")
        if self._watermark is None or w > self._watermark:
            self._watermark = w
        return self._sweep()

    def flush(self) -> list[CorrelationMatch]:
        """End of input: close every open window; later events are counted as late."""
        self._finished = True
        out: list[CorrelationMatch] = []
        # Spec order puts inner correlations first, so their last matches still reach outer rules.
        for spec_index, spec in enumerate(self._specs):
            groups = self._groups[spec_index]
            while groups:
                key, group = groups.popitem()
                if spec.condition.time_driven:
                    for window in group.close_windows(None, spec.timespan):
                        out += self._decide(spec_index, key, window)
        self._timers.clear()
        return out

    def stats(self) -> CorrelationStats:
        """A snapshot of the counters and state size."""
        return CorrelationStats(
            late_events=self._late,
            late_by_rule=tuple(sorted(self._late_by_rule.items())),
            open_groups=sum(len(g) for g in self._groups),
            buffered=sum(len(w.items) for g in self._groups for w in g.values()),
            watermark=self._watermark,
            newest_event_time=self._newest,
        )

    def _targets(self, matched: Collection[str]) -> dict[int, set[int]]:
        targets: dict[int, set[int]] = {}
        for ref in matched:
            for spec_index, position in self._by_ref.get(ref, ()):
                targets.setdefault(spec_index, set()).add(position)
        return targets

    def _feed(
        self,
        spec_index: int,
        slots: set[int],
        lookup: Callable[[str], Any],
        time: datetime,
        first_time: datetime,
        tiebreak: int,
        indexes: tuple[int, ...],
    ) -> list[CorrelationMatch]:
        """Add one occurrence to its group(s) and run the on-arrival check."""
        spec = self._specs[spec_index]
        parts: dict[tuple[GroupKey, Hashable], set[int]] = {}
        for position in sorted(slots):
            key = tuple(_freeze(_none_if_missing(lookup(f))) for f in spec.group_fields[position])
            value: Hashable = None
            value_field = spec.value_fields[position]
            if value_field is not None:
                raw = lookup(value_field)
                if raw is _MISSING or raw is None:
                    continue  # value_count: no value, no contribution (COUNT(DISTINCT) ignores NULL)
                value = _freeze(raw)
            parts.setdefault((key, value), set()).add(position)
        out: list[CorrelationMatch] = []
        for (key, value), positions in parts.items():
            occ = Occurrence(time, first_time, tiebreak, indexes, frozenset(positions), value)
            group = self._groups[spec_index].setdefault(key, GroupWindow())
            group.insert(occ)
            if not spec.condition.time_driven:
                window = group.take_arrival_window(
                    occ, spec.type, len(spec.slots), spec.condition, spec.timespan
                )
                if window is not None:
                    out += self._emit(spec_index, key, window)
            self._reschedule(spec_index, key, group)
        return out

    def _sweep(self) -> list[CorrelationMatch]:
        """Expire or close every group whose deadline is before the horizon (timer heap, lazy deletes)."""
        horizon = self.horizon()
        out: list[CorrelationMatch] = []
        if horizon is None or self._finished:
            return out
        while self._timers and self._timers[0][0] < horizon:
            deadline, _, spec_index, key = heapq.heappop(self._timers)
            group = self._groups[spec_index].get(key)
            if group is None or group.scheduled != deadline:
                continue  # stale timer: the group changed or vanished since it was set
            group.scheduled = None
            spec = self._specs[spec_index]
            if spec.condition.time_driven:
                for window in group.close_windows(horizon, spec.timespan):
                    out += self._decide(spec_index, key, window)
            else:
                group.expire(horizon, spec.timespan)
            self._reschedule(spec_index, key, group)
        return out

    def _reschedule(self, spec_index: int, key: GroupKey, group: GroupWindow) -> None:
        deadline = group.deadline(self._specs[spec_index].timespan)
        if deadline is None:
            self._groups[spec_index].pop(key, None)
            return
        if deadline != group.scheduled:
            group.scheduled = deadline
            self._seq += 1
            heapq.heappush(self._timers, (deadline, self._seq, spec_index, key))

    def _decide(self, spec_index: int, key: GroupKey, window: list[Occurrence]) -> list[CorrelationMatch]:
        spec = self._specs[spec_index]
        if spec.condition.holds(measure(spec.type, window, len(spec.slots))):
            return self._emit(spec_index, key, window)
        return []

    def _emit(self, spec_index: int, key: GroupKey, window: list[Occurrence]) -> list[CorrelationMatch]:
        """Build the match, feed it to chained correlations, return it unless it is suppressed."""
        spec = self._specs[spec_index]
        indexes = tuple(sorted({i for o in window for i in o.indexes}))
        match = CorrelationMatch(
            rule_id=spec.id,
            rule_name=spec.name,
            title=spec.title,
            level=spec.level,
            tags=spec.tags,
            correlation_type=spec.type.value,
            group=tuple(zip(spec.group_by, key, strict=True)),
            first_time=min(o.first_time for o in window),
            last_time=max(o.time for o in window),
            count=len(indexes),
            measure=measure(spec.type, window, len(spec.slots)),
            event_indexes=indexes,
        )
        out = [] if spec.references & self._suppressed else [match]
        outer = self._targets(spec.references)
        fields = match.group_dict()
        for outer_index, slots in outer.items():
            out += self._feed(
                outer_index,
                slots,
                lambda f: fields.get(f, _MISSING),
                match.last_time,
                match.first_time,
                indexes[-1],
                indexes,
            )
        return out


def _utc(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise CorrelationInputError(f"{what} must be a timezone-aware datetime, got {value!r}")
    return value.astimezone(UTC)


def slot_fields(spec: CorrelationSpec, event: Mapping[str, Any], position: int) -> dict[str, Any]:
    """The fields of `event` that slot `position` of `spec` reads (group-by and value field), by name;
    absent fields are left out. Feeding this instead of the whole event gives the same result."""
    value = spec.value_fields[position]
    names = [*spec.group_fields[position], *([value] if value is not None else [])]
    out: dict[str, Any] = {}
    for name in names:
        found = _lookup(event, name)
        if found is not _MISSING:
            out[name] = found
    return out


def _lookup(event: Mapping[str, Any], name: str) -> Any:
    """A field by its flat name ("user.name") or through nested mappings ({"user": {"name": ...}})."""
    if name in event:
        return event[name]
    parts = name.split(".")
    for cut in range(1, len(parts)):
        head = ".".join(parts[:cut])
        inner = event.get(head)
        if isinstance(inner, Mapping):
            found = _lookup(inner, ".".join(parts[cut:]))
            if found is not _MISSING:
                return found
    return _MISSING


def _none_if_missing(value: Any) -> Any:
    return None if value is _MISSING else value


def _freeze(value: Any) -> Hashable:
    """A hashable stand-in for an event value: lists become tuples, mappings sorted item tuples."""
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, Mapping):
        return tuple(sorted(((str(k), _freeze(v)) for k, v in value.items()), key=lambda kv: kv[0]))
    if isinstance(value, Hashable):
        return value
    return repr(value)
