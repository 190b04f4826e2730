"""Fixtures for the correlation tests: the YAML rule fixtures, a tiny base-rule matcher and a driver.

The matcher is a test adapter only (the real single-event engine lives in `detection/`): it handles the
fixtures' one-selection, exact-value rules, which is all the correlation engine needs to be exercised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaRuleLocation
from sigma.rule import SigmaRule, SigmaRuleBase

from detection.correlation import (
    CorrelationEngine,
    CorrelationMatch,
    CorrelationRuleSet,
    compile_correlations,
)

RULES = Path(__file__).resolve().parent / "rules"
T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)


def load_rules(*subdirs: str) -> list[SigmaRuleBase]:
    """Parse every fixture file under the given subdirectories with pySigma, one file at a time."""
    rules: list[SigmaRuleBase] = []
    for sub in subdirs:
        for path in sorted((RULES / sub).glob("*.yml")):
            collection = SigmaCollection.from_yaml(
                path.read_text(encoding="utf-8"),
                collect_errors=True,
                source=SigmaRuleLocation(path),
                resolve_references=False,
            )
            rules.extend(collection.rules)
    return rules


def _base_matcher(rule: SigmaRule) -> Callable[[Mapping[str, Any]], bool]:
    """AND of the single selection's items, each an OR of exact (case-insensitive) values."""
    assert rule.detection.condition == ["selection"], rule.title
    items = [
        (i.field, [str(v.to_plain() if hasattr(v, "to_plain") else v).lower() for v in i.value])
        for i in rule.detection.detections["selection"].detection_items
    ]

    def matches(event: Mapping[str, Any]) -> bool:
        return all(field in event and str(event[field]).lower() in values for field, values in items)

    return matches


@dataclass(frozen=True)
class BaseMatcher:
    """Answers which base rules (by id and by name) an event matches."""

    rules: tuple[tuple[frozenset[str], Callable[[Mapping[str, Any]], bool]], ...]

    @classmethod
    def from_rules(cls, rules: Iterable[SigmaRuleBase]) -> BaseMatcher:
        compiled = []
        for r in rules:
            if isinstance(r, SigmaRule):
                refs = frozenset(x for x in (str(r.id) if r.id else None, r.name) if x)
                compiled.append((refs, _base_matcher(r)))
        return cls(tuple(compiled))

    def __call__(self, event: Mapping[str, Any]) -> set[str]:
        return {ref for refs, match in self.rules if match(event) for ref in refs}


@dataclass
class Driver:
    """Feeds (offset, event) pairs to an engine, as `datasoc detect` would, collecting every match."""

    engine: CorrelationEngine
    matcher: BaseMatcher
    index: int = 0

    def feed(self, at: timedelta, **fields: Any) -> list[CorrelationMatch]:
        event = {k.replace("__", "."): v for k, v in fields.items()}
        out = self.engine.process(self.index, event, T0 + at, self.matcher(event))
        self.index += 1
        return out

    def feed_all(self, events: Sequence[tuple[timedelta, dict[str, Any]]]) -> list[CorrelationMatch]:
        out: list[CorrelationMatch] = []
        for at, fields in events:
            out += self.feed(at, **fields)
        return out


@pytest.fixture(scope="session")
def valid_rules() -> list[SigmaRuleBase]:
    return load_rules("valid")


@pytest.fixture(scope="session")
def broken_rules() -> list[SigmaRuleBase]:
    return load_rules("broken")


@pytest.fixture(scope="session")
def ruleset(valid_rules: list[SigmaRuleBase]) -> CorrelationRuleSet:
    compiled = compile_correlations(valid_rules)
    assert compiled.errors == ()
    return compiled


@pytest.fixture(scope="session")
def matcher(valid_rules: list[SigmaRuleBase]) -> BaseMatcher:
    return BaseMatcher.from_rules(valid_rules)


@pytest.fixture
def make_driver(ruleset: CorrelationRuleSet, matcher: BaseMatcher) -> Callable[..., Driver]:
    """`make_driver("name", ..., allowed_lateness=...)`: an engine running only the named correlations."""

    def make(*names: str, allowed_lateness: timedelta = timedelta(0)) -> Driver:
        specs = [s for s in ruleset.specs if s.name in names]
        assert len(specs) == len(names), names
        return Driver(CorrelationEngine(specs, allowed_lateness=allowed_lateness), matcher)

    return make
