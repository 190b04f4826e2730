"""Fixtures for the rule-pack tests: the pack loaded and run like `datasoc detect`, and the demo replayed.

`Pack.run(events)` is the whole detection path over a finite list of events: the single-event engine
(`detection.engine.Engine`) on every event in event-time order, the correlation engine
(`detection.correlation.CorrelationEngine`) fed with each event's matched rule ids and names, and a
flush at the end. Alerts come from rules with `output` (base rules of correlations with `generate:
false` stay silent) and from correlations.

Correlation test files (`<rule>.tests.yml` next to a rule file that holds a correlation) carry
`correlation: {positive: [...], negative: [...]}`, each entry a sequence of events; an event with
`_repeat: N` and `_every: S` stands for N events S seconds apart (see rules/README.md).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from collectors.errors import ParseError
from datasoc.event import format_timestamp, parse_timestamp
from datasoc.winevent import flatten
from detection.correlation import CorrelationEngine, CorrelationRuleSet, compile_correlations
from detection.engine import Engine, LoadResult, RuleSet
from detection.loader import rule_files
from detection.pipelines import resolve_pipeline
from soc_api.demo import generate, write_demo
from soc_api.demo.replay import replay

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "rules"
PIPELINE = "datasoc"
# The demo the incident tests run on: fixed seed and start, two days (the generator's default).
DEMO_SEED = 7
DEMO_START = datetime(2026, 3, 2, tzinfo=UTC)
REPLAY_NOW = datetime(2026, 3, 5, tzinfo=UTC)


@dataclass(frozen=True)
class Alert:
    """One alert: the rule that raised it and the input events (indexes into the run's list)."""

    rule_id: str
    title: str
    level: str | None
    kind: str  # "single" or the correlation type
    event_indexes: tuple[int, ...]


@dataclass(frozen=True)
class Pack:
    """A loaded rule set with its compiled correlations, runnable over a list of events."""

    loaded: LoadResult
    correlations: CorrelationRuleSet

    @classmethod
    def load(cls, paths: Sequence[Path], *, pipeline: str = PIPELINE) -> Pack:
        """Load rule files under a named pipeline; load errors are the caller's to assert on."""
        loaded = RuleSet.load(list(paths), pipeline=resolve_pipeline(pipeline))
        return cls(loaded, compile_correlations(loaded.correlations))

    def run(self, events: Sequence[Mapping[str, Any]]) -> list[Alert]:
        """Every alert the pack raises over `events` (fed in `@timestamp` order, ties in list order)."""
        engine = Engine(self.loaded.rules)
        correlations = CorrelationEngine(self.correlations)
        order = sorted(range(len(events)), key=lambda i: (event_time(events[i]), i))
        alerts: list[Alert] = []
        for index in order:
            event = events[index]
            matched = engine.match(event)
            alerts += [
                Alert(rule.id, rule.title, rule.level, "single", (index,)) for rule in matched if rule.output
            ]
            refs = {ref for rule in matched for ref in (rule.id, rule.name) if ref}
            found = correlations.process(index, event, event_time(event), refs)
            alerts += [_alert(m) for m in found]
        alerts += [_alert(m) for m in correlations.flush()]
        return alerts


def _alert(match: Any) -> Alert:
    return Alert(match.rule_ref, match.title, match.level, match.correlation_type, match.event_indexes)


def event_time(event: Mapping[str, Any]) -> datetime:
    """The event's `@timestamp` as an aware datetime."""
    return parse_timestamp(event["@timestamp"])


def expand(sequence: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A test sequence with `_repeat`/`_every` shorthands expanded, flattened like `datasoc detect` input."""
    events: list[dict[str, Any]] = []
    for item in sequence:
        base = {k: v for k, v in item.items() if k not in ("_repeat", "_every")}
        repeat, every = int(item.get("_repeat", 1)), int(item.get("_every", 0))
        start = parse_timestamp(str(base["@timestamp"]))
        for n in range(repeat):
            stamp = format_timestamp(start + timedelta(seconds=every * n))
            events.append(flatten({**base, "@timestamp": stamp}))
    return events


@dataclass(frozen=True)
class CorrelationCase:
    """The correlation sequences of one rule file."""

    rule_file: Path
    positive: tuple[list[dict[str, Any]], ...]
    negative: tuple[list[dict[str, Any]], ...]


def correlation_cases(root: Path) -> Iterator[CorrelationCase]:
    """Every rule file under `root` whose tests file has a `correlation:` section."""
    for rule_file in rule_files([root]):
        spec_file = rule_file.with_name(rule_file.name.rsplit(".", 1)[0] + ".tests.yml")
        if not spec_file.is_file():
            continue
        spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
        section = spec.get("correlation") if isinstance(spec, dict) else None
        if section is None:
            continue
        yield CorrelationCase(
            rule_file,
            tuple(expand(s) for s in section.get("positive", [])),
            tuple(expand(s) for s in section.get("negative", [])),
        )


@dataclass(frozen=True)
class Demo:
    """The demo replayed through the collectors' parsers, with its ground truth."""

    directory: Path
    events: list[dict[str, Any]]
    # (file, 1-based first line) -> index into `events`
    position: Mapping[tuple[str, int], int]
    truth: Mapping[str, Any]

    def evidence(self, incident: Mapping[str, Any]) -> set[int]:
        """Indexes of the events that carry an incident (its ground-truth evidence lines)."""
        return {self.position[(e["file"], line)] for e in incident["evidence"] for line in e["lines"]}

    def all_evidence(self) -> set[int]:
        """Indexes of the events of every incident."""
        return {i for incident in self.truth["incidents"] for i in self.evidence(incident)}


def replay_demo(directory: Path) -> Demo:
    """Replay a written demo directory; any parse error fails the caller's test."""
    counter = itertools.count()
    events: list[dict[str, Any]] = []
    position: dict[tuple[str, int], int] = {}
    errors: list[ParseError] = []
    for record in replay(directory, now=REPLAY_NOW, new_id=lambda: f"demo-{next(counter)}"):
        if isinstance(record.result, ParseError):
            errors.append(record.result)
            continue
        position[(record.file, record.position)] = len(events)
        events.append(record.result.to_dict())
    assert not errors, [str(e) for e in errors[:5]]
    truth = json.loads((directory / "ground_truth.json").read_text(encoding="utf-8"))
    return Demo(directory, events, position, truth)


@pytest.fixture(scope="session")
def pack() -> Pack:
    """The project's rule pack (`rules/`), loaded once."""
    return Pack.load([PACK])


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """The demo of seed 7 from 2026-03-02, written to a temporary directory and replayed."""
    directory = tmp_path_factory.mktemp("demo")
    write_demo(generate(DEMO_SEED, DEMO_START), directory)
    return replay_demo(directory)


@pytest.fixture(scope="session")
def demo_alerts(pack: Pack, demo: Demo) -> list[Alert]:
    """Every alert the pack raises over the replayed demo."""
    return pack.run(demo.events)
