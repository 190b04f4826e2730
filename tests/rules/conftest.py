"""Fixtures for the rule-pack tests: the pack loaded and run like `datasoc detect`, and the demo replayed.

`Pack.run(events)` is the whole detection path over a finite list of events,
`detection.checks.run_sequence`: the single-event engine on every event in event-time order, the
correlation engine fed with each event's matched rule ids and names, and a flush at the end. The
correlation test sequences (`correlation: {positive: [...], negative: [...]}` with the `_repeat` /
`_every` shorthand) are read by `detection.checks.correlation_cases`, the code `datasoc rules test`
runs, so the tests and the CLI share one implementation.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collectors.errors import ParseError
from datasoc.grants import GrantBook
from detection.checks import SequenceAlert, run_sequence
from detection.correlation import CorrelationRuleSet, compile_correlations
from detection.engine import LoadResult, RuleSet
from detection.pipelines import resolve_pipeline
from soc_api.demo import generate, write_demo
from soc_api.demo.replay import demo_grants, replay

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "rules"
PIPELINE = "datasoc"
# The demo the incident tests run on: fixed seed and start, two days (the generator's default).
DEMO_SEED = 7
DEMO_START = datetime(2026, 3, 2, tzinfo=UTC)
REPLAY_NOW = datetime(2026, 3, 5, tzinfo=UTC)


#: One alert: the rule that raised it and the input events (indexes into the run's list).
Alert = SequenceAlert


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

    def run(self, events: Sequence[Mapping[str, Any]], grants: GrantBook | None = None) -> list[Alert]:
        """Every alert the pack raises over `events` (fed in `@timestamp` order, ties in list order), and
        with `grants` the grant trace's alerts too."""
        return run_sequence(self.loaded.rules, self.correlations, events, grants)


@dataclass(frozen=True)
class Demo:
    """The demo replayed through the collectors' parsers, with its ground truth."""

    directory: Path
    events: list[dict[str, Any]]
    # (file, 1-based first line) -> index into `events`
    position: Mapping[tuple[str, int], int]
    truth: Mapping[str, Any]
    #: The grants the demo's access plan becomes once approved (what `datasoc demo` issues).
    grants: GrantBook

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
    return Demo(directory, events, position, truth, GrantBook.of(demo_grants(directory)))


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
    """Every alert the pack and the grant trace raise over the replayed demo."""
    return pack.run(demo.events, demo.grants)
