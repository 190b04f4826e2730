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
from detection.matchers import Matcher
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


class Engine:
    """Matches events against compiled rules, trying only the candidates the index selects."""

    def __init__(self, rules: Sequence[CompiledRule], *, logsource: bool = True) -> None:
        """`logsource` False: no logsource routing, every rule on every event (`--logsource any`)."""
        self.rules: tuple[CompiledRule, ...] = tuple(rules)
        self._index = RoutedIndex(self.rules, logsource=logsource)
        # Each rule's generated function once it has one (`CompiledRule.matches_view` promotes it).
        self._matchers: list[Matcher | None] = [rule.promoted() for rule in self.rules]

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
        rules, matchers = self.rules, self._matchers
        found = []
        for i in self._index.candidates(low):
            matcher = matchers[i]
            if matcher is None:  # not generated yet: the rule's own tiers (`CompiledRule.matches_view`)
                rule = rules[i]
                if rule.matches_view(raw, low):
                    found.append(i)
                matchers[i] = rule.promoted()
            elif matcher(raw, low):
                found.append(i)
        return found

    def match_batch(self, events: Iterable[Mapping[str, Any]]) -> list[list[CompiledRule]]:
        """`match` over many events, one list per event in input order."""
        return [self.match(event) for event in events]

    def match_naive(self, event: Mapping[str, Any]) -> list[CompiledRule]:
        """Every rule its logsource admits tried on the event, no index and no Channel/EventID
        routing: the oracle the index is tested against."""
        raw, low = build_view(event)
        rules = self.rules
        return [rules[i] for i in self._index.admitted(low) if rules[i].matches_view(raw, low)]
