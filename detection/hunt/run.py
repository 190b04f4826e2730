"""Running a retro-hunt: rules over stored history, with the same verdicts on every store.

`hunt(loaded, conversions, source, start, end)`:
1. each rule with an engine query (`plan.Conversion.query`, search engines only) gets its candidate
   events from the engine, and datasoc's engine keeps those the rule matches;
2. every other rule (all of them on SQLite) is evaluated on every event of `[start, end)`;
3. correlation rules run in the correlation engine over the matches of steps 1 and 2, in event
   time order (then `event.id`), and are flushed at the end of the range.
So a rule finds the same events on SQLite, OpenSearch and Elasticsearch; the engines only make
step 1 cheaper than a scan. Matches of a rule that only feeds a correlation (`generate: false`)
are not reported on their own.

`HuntSource` is what a store offers: events of a time range in ascending order (`scan`), and for a
search engine the same for a native query (`query`). Pure apart from the source.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from datasoc.event import parse_timestamp
from detection.correlation import CorrelationEngine, compile_correlations
from detection.engine import CompiledRule, Engine, LoadResult
from detection.hunt.plan import Conversion


class NativeQueryError(Exception):
    """A source could not run a converted query (the engine refused it); the rule is scanned instead."""


class HuntSource(Protocol):
    """Stored events of a time range, oldest first, as wire-form mappings."""

    @property
    def dialect(self) -> str | None:
        """`opensearch` or `elasticsearch` when `query` is available, else None."""

    def scan(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """Every event with `start <= @timestamp < end`."""

    def query(self, native: str, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """The events of the range that the engine's query (Lucene syntax) selects."""


@dataclass(frozen=True, slots=True)
class HuntHit:
    """A rule that fired: on one event, or (a correlation) on all of `event_ids`."""

    rule_id: str
    rule_title: str
    event_ids: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime
    correlation: bool = False


@dataclass(frozen=True, slots=True)
class RuleRun:
    """How one rule was evaluated: `query` (with how many candidates), `scan` or `correlation`."""

    rule_id: str
    title: str
    how: str
    reason: str
    candidates: int
    hits: int


@dataclass(frozen=True, slots=True)
class HuntReport:
    """Every hit, oldest first, and how each rule ran; `scanned` counts events a scan read."""

    hits: tuple[HuntHit, ...]
    runs: tuple[RuleRun, ...]
    scanned: int


@dataclass
class _Matched:
    time: datetime
    data: dict[str, Any]
    rules: set[str] = field(default_factory=set)


def _key(rule: CompiledRule) -> str:
    return rule.id or rule.name or rule.title


def hunt(
    loaded: LoadResult,
    conversions: Mapping[str, Conversion],
    source: HuntSource,
    start: datetime,
    end: datetime,
    *,
    allowed_lateness: timedelta = timedelta(0),
) -> HuntReport:
    """Run the rules of `loaded` over `[start, end)` of `source` (see module docstring)."""
    engine = Engine(loaded.rules)
    by_key = {_key(rule): rule for rule in loaded.rules}
    matched: dict[str, _Matched] = {}
    candidates: dict[str, int] = {}

    def record(data: dict[str, Any], rule_keys: list[str]) -> None:
        if not rule_keys:
            return
        event_id = str(data["event.id"])
        entry = matched.get(event_id)
        if entry is None:
            entry = matched[event_id] = _Matched(parse_timestamp(data["@timestamp"]), data)
        entry.rules.update(rule_keys)

    queried: list[CompiledRule] = []
    scanned_rules: list[CompiledRule] = []
    for rule in loaded.rules:
        conversion = conversions.get(_key(rule))
        use_query = source.dialect is not None and conversion is not None and conversion.query is not None
        (queried if use_query else scanned_rules).append(rule)
    refused: dict[str, str] = {}
    for rule in queried:
        query = conversions[_key(rule)].query
        assert query is not None
        count = 0
        found: list[dict[str, Any]] = []
        try:
            for data in source.query(query, start, end):
                count += 1
                if rule in engine.match(data):  # the engine decides; the query only pre-selects
                    found.append(data)
        except NativeQueryError as exc:
            refused[_key(rule)] = f"the engine refused the query: {exc}"
            scanned_rules.append(rule)
            continue
        for data in found:
            record(data, [_key(rule)])
        candidates[_key(rule)] = count
    queried = [rule for rule in queried if _key(rule) not in refused]
    scanned = 0
    if scanned_rules:
        scan_engine = Engine(scanned_rules)
        for data in source.scan(start, end):
            scanned += 1
            record(data, [_key(rule) for rule in scan_engine.match(data)])

    ordered = sorted(matched.items(), key=lambda item: (item[1].time, item[0]))
    hits: list[HuntHit] = []
    counts: dict[str, int] = {}
    for event_id, entry in ordered:
        for key in sorted(entry.rules):
            rule = by_key[key]
            if rule.output:
                hits.append(HuntHit(key, rule.title, (event_id,), entry.time, entry.time))
                counts[key] = counts.get(key, 0) + 1
    runs = [
        RuleRun(
            _key(rule),
            rule.title,
            "query" if rule in queried else "scan",
            refused.get(_key(rule))
            or (conversions[_key(rule)].reason if _key(rule) in conversions else "not a search engine"),
            candidates.get(_key(rule), 0),
            counts.get(_key(rule), 0),
        )
        for rule in loaded.rules
    ]
    if loaded.correlations:
        hits.extend(_correlate(loaded, ordered, allowed_lateness, runs))
    hits.sort(key=lambda hit: (hit.last_seen, hit.first_seen, hit.rule_id, hit.event_ids))
    return HuntReport(hits=tuple(hits), runs=tuple(runs), scanned=scanned)


def _correlate(
    loaded: LoadResult,
    ordered: list[tuple[str, _Matched]],
    allowed_lateness: timedelta,
    runs: list[RuleRun],
) -> list[HuntHit]:
    compiled = compile_correlations(loaded.correlations)
    if not compiled.specs:
        return []
    by_key = {_key(rule): rule for rule in loaded.rules}
    engine = CorrelationEngine(compiled, allowed_lateness=allowed_lateness)
    ids = [event_id for event_id, _ in ordered]
    matches = []
    for index, (_, entry) in enumerate(ordered):
        references: set[str] = set()
        for key in entry.rules:
            rule = by_key[key]
            references.update(ref for ref in (rule.id, rule.name) if ref)
        matches.extend(engine.process(index, entry.data, entry.time, references))
    matches.extend(engine.flush())
    hits = [
        HuntHit(
            match.rule_ref,
            match.title,
            tuple(ids[i] for i in match.event_indexes),
            match.first_time,
            match.last_time,
            correlation=True,
        )
        for match in matches
    ]
    counts: dict[str, int] = {}
    for hit in hits:
        counts[hit.rule_id] = counts.get(hit.rule_id, 0) + 1
    titles = {hit.rule_id: hit.rule_title for hit in hits}
    for correlation in loaded.correlations:
        ref = str(correlation.id) if correlation.id is not None else (correlation.name or correlation.title)
        title = titles.get(ref, correlation.title)
        runs.append(RuleRun(ref, title, "correlation", "over its base rules' matches", 0, counts.get(ref, 0)))
    return hits
