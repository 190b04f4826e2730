"""The single-event Sigma engine: `Engine(rules).match(event)`.

Public API (stable; correlation rules in `detection.correlation` build on it):

- `RuleSet.load(paths, *, pipeline, config=None, cache=DEFAULT_CACHE) -> LoadResult`
  (`detection.loader`; `pipeline` a pySigma pipeline, a registry name or None; `cache` a
  `detection.cache.RuleCache`, None, or by default the one `DATASOC_RULE_CACHE` names)
- `CompiledRule` with `.id`, `.name`, `.title`, `.level`, `.tags`, `.logsource` (a lower-cased
  `detection.logsource.RuleLogsource` with pySigma's attribute names), `.output`, `.node`,
  `.sigma` (parsed again on first use for a cached rule), `.matcher`, `.matches(event)`
- `Engine(rules, logsource=True).match(event) -> list[CompiledRule]`, `Engine.match_batch(events)`,
  `Engine.match_view(raw, low)`, `Engine.matching(raw, low)` (positions): a rule is evaluated only
  on events of its logsource (`detection.logsource`; `logsource=False` tries every rule on every
  event)
- for callers that time or guard each rule (the stream job): `raw, low = build_view(event)`
  (`detection.view`), `Engine.index.candidates(low)` (positions in `Engine.rules`) and
  `CompiledRule.matches_view(raw, low)`

Pure: no I/O, no clock (the routed index builds its partitions, and rules their matchers, on first
use: caches of pure values). Events are mappings: flat (evtx flattened by `datasoc.winevent.flatten`)
or nested (normalized ECS events; nested objects are read as dotted names).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from detection.errors import DetectionError, RuleLoadError
from detection.loader import LoadResult, RuleSet
from detection.matchers import Matcher, build
from detection.routing import RoutedIndex
from detection.rule import CompiledRule
from detection.view import View, build_view

__all__ = [
    "CompiledRule",
    "DetectionError",
    "Engine",
    "LoadResult",
    "RuleLoadError",
    "RuleSet",
]


#: Candidacies after which a rule's condition is compiled to one Python function. Generating it costs
#: about as much as a few hundred evaluations by closures.
PROMOTE_AFTER = 200


class Engine:
    """Matches events against compiled rules, trying only the candidates the index selects."""

    def __init__(self, rules: Sequence[CompiledRule], *, logsource: bool = True) -> None:
        """`logsource` False: no logsource routing, every rule on every event (`--logsource any`)."""
        self.rules: tuple[CompiledRule, ...] = tuple(rules)
        self._index = RoutedIndex(self.rules, logsource=logsource)
        # Two tiers: a rule is evaluated by closures (`detection.matchers.build`, cheap to make) for
        # its first `PROMOTE_AFTER` candidacies, then by its generated function (`detection.codegen`,
        # faster but a compile away). Most rules never see most inputs; a few see nearly every event.
        self._matchers: list[Matcher | None] = [None] * len(self.rules)
        self._closures: dict[int, Matcher] = {}
        self._uses = [0] * len(self.rules)

    @property
    def index(self) -> RoutedIndex:
        """The routed candidate index (read-only use: statistics, benchmarks)."""
        return self._index

    def match(self, event: Mapping[str, Any]) -> list[CompiledRule]:
        """The rules (in load order) whose condition holds for `event`.

        Includes rules with `output` False (base rules of correlations with `generate: false`): the
        correlation layer needs their matches; whoever raises alerts filters on `rule.output`.
        """
        raw, low = build_view(event)
        return self.match_view(raw, low)

    def match_view(self, raw: View, low: View) -> list[CompiledRule]:
        """`match` on a view already built by `detection.view.build_view`."""
        rules = self.rules
        return [rules[i] for i in self.matching(raw, low)]

    def matching(self, raw: View, low: View) -> list[int]:
        """Positions in `rules` (ascending) of the rules `match_view` gives."""
        matchers = self._matchers
        found = []
        for i in self._index.candidates(low):
            matcher = matchers[i]
            if matcher is None:
                matcher = self._cold(i)
            if matcher(raw, low):
                found.append(i)
        return found

    def _cold(self, position: int) -> Matcher:
        """The matcher of a rule not yet promoted to its generated function (see `__init__`)."""
        uses = self._uses[position] = self._uses[position] + 1
        if uses >= PROMOTE_AFTER:
            self._closures.pop(position, None)
            matcher = self._matchers[position] = self.rules[position].matcher
            return matcher
        closure = self._closures.get(position)
        if closure is None:
            closure = self._closures[position] = build(self.rules[position].node)
        return closure

    def match_batch(self, events: Iterable[Mapping[str, Any]]) -> list[list[CompiledRule]]:
        """`match` over many events, one list per event in input order."""
        return [self.match(event) for event in events]

    def match_naive(self, event: Mapping[str, Any]) -> list[CompiledRule]:
        """Every rule its logsource admits tried on the event, no index and no Channel/EventID
        routing: the oracle the index is tested against."""
        raw, low = build_view(event)
        rules = self.rules
        return [rules[i] for i in self._index.admitted(low) if rules[i].matches_view(raw, low)]
