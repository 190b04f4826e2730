"""The single-event Sigma engine: `Engine(rules).match(event)`.

Public API (stable; correlation rules in `detection.correlation` build on it):

- `RuleSet.load(paths, *, pipeline, config=None) -> LoadResult` (`detection.loader`)
- `CompiledRule` with `.id`, `.name`, `.title`, `.level`, `.tags`, `.logsource`, `.matches(event)`
- `Engine(rules).match(event) -> list[CompiledRule]`, `Engine.match_batch(events)`
- for callers that time or guard each rule (the stream job): `raw, low = build_view(event)`
  (`detection.view`), `Engine.index.candidates(low)` (positions in `Engine.rules`) and
  `CompiledRule.matches_view(raw, low)`

Pure: no I/O, no clock (the routed index builds its partitions on first use, a cache of pure
values). Events are mappings: flat (evtx flattened by `datasoc.winevent.flatten`)
or nested (normalized ECS events; nested objects are read as dotted names).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from detection.errors import DetectionError, RuleLoadError
from detection.loader import LoadResult, RuleSet
from detection.routing import RoutedIndex
from detection.rule import CompiledRule
from detection.view import build_view

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

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        self.rules: tuple[CompiledRule, ...] = tuple(rules)
        self._index = RoutedIndex([rule.node for rule in self.rules])
        self._matchers = [rule.matcher for rule in self.rules]

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
        matchers, rules = self._matchers, self.rules
        return [rules[i] for i in self._index.candidates(low) if matchers[i](raw, low)]

    def match_batch(self, events: Iterable[Mapping[str, Any]]) -> list[list[CompiledRule]]:
        """`match` over many events, one list per event in input order."""
        return [self.match(event) for event in events]

    def match_naive(self, event: Mapping[str, Any]) -> list[CompiledRule]:
        """Every rule tried on the event, no index: the oracle the index is tested against."""
        raw, low = build_view(event)
        return [rule for rule in self.rules if rule.matches_view(raw, low)]
