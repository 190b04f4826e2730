"""The one detection loop: single-event rules, then the correlations their matches feed. Pure.

`datasoc detect`, the in-process detector, the stream job's rule operator, the benchmarks and the tests
all run events through `DetectionLoop.event`; they differ only in where events come from and where the
findings go, and in the `Correlator` behind the loop: `SequentialCorrelator` here (one
`CorrelationEngine` over every rule, event by event: the reference) or the stream job's bucketed
correlations (`detection.stream.correlate`), which keep their windows in Flink state.

Per event: the candidate rules of the routed index are tried one by one, each timed and guarded (a rule
that raises is counted and reported as a `Problem`, never stops the others); the rules that alert give
a `SingleMatch`; the rules that feed correlations go to the correlator, whose completed matches come
back as `Correlated`. `build_alerts` turns what was found into `Alert`s (`detection.alerts`).

Lanes split the work of a parallel stream job: lane `i` of `n` raises the single-event alerts of the
events at positions `i mod n` and evaluates, for the correlations it owns, only the rules that feed
correlations on every other event (`RuleBundle.feeding`).

With a `GrantTracer`, the loop also judges every data access against its grant (`detection.trace`): a
violation is `Traced` and becomes an alert carrying the grant's context. A lane traces the accesses of
the grants it owns (`detection.trace.owner_lane`), so one lane counts every access of a grant.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from datasoc.alert import Alert
from datasoc.grants import GrantBook
from detection.alerts import correlation_alert, single_alert
from detection.bundle import RuleBundle
from detection.correlation import CorrelationEngine, CorrelationMatch, CorrelationRuleSet
from detection.engine import Engine
from detection.rule import CompiledRule
from detection.trace import TraceResult, UsageStore, owner_lane, trace, trace_alert
from detection.view import build_view


@dataclass(slots=True)
class RuleFigures:
    """One rule's figures since the loop started: matches, evaluation time (ns) and errors."""

    matches: int = 0
    nanos: int = 0
    errors: int = 0


@dataclass(frozen=True, slots=True)
class SingleMatch:
    """A single-event rule that alerts matched the event at `position`."""

    position: int
    rule: CompiledRule
    event: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Correlated:
    """A completed correlation match that alerts, with its events still known (by position)."""

    match: CorrelationMatch
    events: Mapping[int, Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Traced:
    """A data access that broke its grant (or had none), with the verdict."""

    position: int
    event: Mapping[str, Any]
    result: TraceResult


@dataclass(frozen=True, slots=True)
class Problem:
    """Something the loop reports instead of stopping: `what` is `rule_error` (a rule raised),
    `alert_error` (an alert could not be built), `late_event` (left out of a correlation) or
    `trace_error` (an access the grant trace could not judge)."""

    what: str
    rule: str
    position: int | None
    detail: str


@dataclass
class Detections:
    """What the loop found, in order; the caller empties it (`clear`) when it has taken it."""

    singles: list[SingleMatch] = field(default_factory=list)
    correlated: list[Correlated] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    traced: list[Traced] = field(default_factory=list)

    def clear(self) -> None:
        """Forget everything found so far."""
        self.singles.clear()
        self.correlated.clear()
        self.problems.clear()
        self.traced.clear()


class GrantTracer:
    """The grant trace as an engine runs it: the grant book in force, the cumulative records per grant
    (`usage`), and the verdicts counted (for health)."""

    def __init__(self, book: GrantBook, usage: UsageStore) -> None:
        self.book = book
        self.usage = usage
        self.verdicts: dict[str, int] = {}

    def use(self, book: GrantBook) -> None:
        """Judge from now on against `book` (the usage counted so far stays)."""
        self.book = book

    def trace(self, event: Mapping[str, Any]) -> TraceResult | None:
        """The verdict on one event (None when it is not a traced access)."""
        result = trace(event, self.book, self.usage)
        if result is not None:
            self.verdicts[result.verdict] = self.verdicts.get(result.verdict, 0) + 1
        return result


class Correlator(Protocol):
    """Where the matches of rules that feed correlations go."""

    def use(self, bundle: RuleBundle) -> None:
        """The active rule set changed."""

    def feed(
        self,
        position: int,
        event: Mapping[str, Any],
        moment: datetime | None,
        text: str | None,
        rules: Sequence[CompiledRule],
        out: Detections,
    ) -> None:
        """The event at `position` (event time `moment`, stored text `text`) matched `rules`."""


@dataclass(frozen=True)
class Lane:
    """Lane `index` of `count` (see module docstring); the default is the whole stream."""

    index: int = 0
    count: int = 1

    def owns(self, position: int) -> bool:
        """Whether this lane raises the single-event alerts of the event at `position`."""
        return self.count == 1 or position % self.count == self.index


#: The whole stream: one lane.
WHOLE = Lane()


def rule_ref(rule: CompiledRule) -> str:
    """How alerts and figures name a rule: its id, else its name, else its title."""
    return rule.id or rule.name or rule.title


class DetectionLoop:
    """Runs events through a `RuleBundle` and a `Correlator` (see module docstring)."""

    def __init__(
        self,
        bundle: RuleBundle,
        correlator: Correlator | None = None,
        *,
        lane: Lane = WHOLE,
        tracer: GrantTracer | None = None,
    ):
        self.correlator = correlator
        self.lane = lane
        self.tracer = tracer
        #: Per rule reference, kept across rule sets (a changed rule keeps counting).
        self.figures: dict[str, RuleFigures] = {}
        self.use(bundle)

    def use(self, bundle: RuleBundle) -> None:
        """Make `bundle` the active rule set (its correlator's too)."""
        self.bundle = bundle
        self._slots = [self.figures.setdefault(rule_ref(r), RuleFigures()) for r in bundle.engine.rules]
        feeding = bundle.feeding.rules if self.lane.count > 1 else ()  # one lane owns every event
        self._feeding = [self.figures.setdefault(rule_ref(r), RuleFigures()) for r in feeding]
        if self.correlator is not None:
            self.correlator.use(bundle)

    def event(
        self,
        position: int,
        event: Mapping[str, Any],
        moment: datetime | None,
        out: Detections,
        text: str | None = None,
    ) -> None:
        """Evaluate one event: alerting single-event matches, then the correlations it feeds, into `out`."""
        bundle = self.bundle
        own = self.lane.owns(position)
        if own:
            matched = _match(bundle.engine, self._slots, event, position, out)
            for rule in matched:
                if bundle.alerting(rule):
                    out.singles.append(SingleMatch(position, rule, event))
        else:
            matched = _match(bundle.feeding, self._feeding, event, position, out)
        if matched and self.correlator is not None:
            self.correlator.feed(position, event, moment, text, matched, out)
        tracer = self.tracer
        if tracer is not None and owner_lane(position, event, self.lane.count) == self.lane.index:
            try:
                result = tracer.trace(event)
            except (ValueError, TypeError, OverflowError) as exc:  # reported, never stops the loop
                out.problems.append(Problem("trace_error", "grant-trace", position, str(exc)[:300]))
                return
            if result is not None and result.violations:
                out.traced.append(Traced(position, event, result))


def _match(
    engine: Engine, slots: list[RuleFigures], event: Mapping[str, Any], position: int, out: Detections
) -> list[CompiledRule]:
    """The rules `event` matches, each timed (`slots` by rule position) and guarded."""
    raw, low = build_view(event)
    rules, clock = engine.rules, time.perf_counter_ns
    matched: list[CompiledRule] = []
    # One clock reading per rule: each rule's time runs from the previous reading to its own.
    start = clock()
    for i in engine.index.candidates(low):
        rule, figures = rules[i], slots[i]
        try:
            hit = rule.matches_view(raw, low)
        except Exception as exc:  # a rule's bug must not stop the others; it is counted and reported
            figures.errors += 1
            out.problems.append(Problem("rule_error", rule_ref(rule), position, repr(exc)[:300]))
            hit = False
        now = clock()
        figures.nanos += now - start
        start = now
        if hit:
            figures.matches += 1
            matched.append(rule)
    return matched


def build_alerts(found: Detections) -> list[Alert]:
    """The alerts of what was found (single-event, grant trace, then correlation); one that cannot be
    built (bad event data) becomes an `alert_error` problem in `found` instead of stopping the others."""
    alerts: list[Alert] = []
    for single in found.singles:
        try:
            alerts.append(single_alert(single.rule, single.event))
        except (ValueError, TypeError) as exc:
            found.problems.append(
                Problem("alert_error", rule_ref(single.rule), single.position, str(exc)[:300])
            )
    for traced in found.traced:
        try:
            alerts.append(trace_alert(traced.result, traced.event))
        except (ValueError, TypeError) as exc:
            found.problems.append(Problem("alert_error", "grant-trace", traced.position, str(exc)[:300]))
    for correlated in found.correlated:
        try:
            alerts.append(correlation_alert(correlated.match, correlated.events))
        except (ValueError, TypeError) as exc:
            found.problems.append(Problem("alert_error", correlated.match.rule_ref, None, str(exc)[:300]))
    return alerts


class SequentialCorrelator:
    """Every correlation rule in one `CorrelationEngine`, fed event by event: the reference semantics
    (`detection.correlation.engine`) for `datasoc detect` and the in-process detector.

    With `keep_events`, the events a correlation may still use are kept (by position) for its alert,
    and forgotten once older than the longest timespan plus the lateness behind the newest event.
    """

    def __init__(
        self, correlations: CorrelationRuleSet, lateness: timedelta, *, keep_events: bool = True
    ) -> None:
        self.engine = CorrelationEngine(correlations, allowed_lateness=lateness)
        self._keep = keep_events
        self._horizon = max((s.timespan for s in correlations.specs), default=timedelta(0)) + lateness
        self._kept: dict[int, Mapping[str, Any]] = {}
        self._by_time: list[tuple[datetime, int]] = []  # heap of (event time, position) of `_kept`
        #: Matched events left out of correlation because they have no event time.
        self.untimed = 0

    def use(self, bundle: RuleBundle) -> None:
        """Fixed rule set: the engine is built over the bundle it was given."""

    def feed(
        self,
        position: int,
        event: Mapping[str, Any],
        moment: datetime | None,
        text: str | None,
        rules: Sequence[CompiledRule],
        out: Detections,
    ) -> None:
        """Feed one matched event; completed matches go to `out`."""
        if not self.engine.specs:
            return
        if moment is None:
            self.untimed += 1
            return
        if self._keep:
            self._kept[position] = event
            heapq.heappush(self._by_time, (moment, position))
        references = {r.id for r in rules if r.id} | {r.name for r in rules if r.name}
        self._add(self.engine.process(position, event, moment, references), out)
        cutoff = moment - self._horizon
        while self._by_time and self._by_time[0][0] < cutoff:
            self._kept.pop(heapq.heappop(self._by_time)[1], None)

    def flush(self, out: Detections) -> None:
        """End of input: close every open window."""
        self._add(self.engine.flush(), out)

    def _add(self, matches: list[CorrelationMatch], out: Detections) -> None:
        kept = self._kept
        for match in matches:
            events = {i: kept[i] for i in match.event_indexes if i in kept}
            out.correlated.append(Correlated(match, events))
