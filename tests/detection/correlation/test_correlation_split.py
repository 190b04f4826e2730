"""The engine split the way the stream job splits it: one engine per rule, chains fed by
`process_match`, inputs reduced to `slot_fields`, state stored as `window_state` and restored.
Each must give exactly the matches of one engine over every rule."""

from __future__ import annotations

import pickle
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from detection.bundle import RuleBundle, compile_bundle
from detection.correlation import CorrelationEngine, CorrelationSpec
from detection.correlation.engine import CorrelationMatch, slot_fields
from detection.pipelines import resolve_pipeline

PACK = Path(__file__).resolve().parents[3] / "rules" / "datasoc" / "auth"
START = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
LATENESS = timedelta(seconds=5)


@pytest.fixture(scope="module")
def bundle() -> RuleBundle:
    texts = {
        p.name: p.read_text(encoding="utf-8") for p in PACK.glob("*.yml") if not p.name.endswith(".tests.yml")
    }
    return compile_bundle(texts, resolve_pipeline("default"))


def _events(seed: int, n: int = 400) -> list[tuple[int, dict[str, Any], datetime]]:
    """Portal logins from a few addresses and users: bursts of failures, then successes."""
    rng = random.Random(seed)
    out, at = [], START
    for i in range(n):
        at += timedelta(seconds=rng.choice([1, 2, 5, 30, 240]))
        event = {
            "@timestamp": at.isoformat(),
            "event.id": f"e{i}",
            "event.action": "auth.login",
            "event.category": "authentication",
            "event.outcome": rng.choice(["failure", "failure", "failure", "success"]),
            "source.ip": rng.choice(["203.0.113.7", "203.0.113.8"]),
            "user.name": rng.choice(["alice", "bob", "carol", "dave"]),
        }
        out.append((i, event, at))
    return out


def _matched(bundle: RuleBundle, event: dict[str, Any]) -> set[str]:
    rules = bundle.engine.match(event)
    return {r.id for r in rules if r.id} | {r.name for r in rules if r.name}


def _key(match: CorrelationMatch) -> tuple[Any, ...]:
    return (match.rule_ref, match.group, match.event_indexes, match.first_time, match.last_time)


def _whole(bundle: RuleBundle, events: list[tuple[int, dict[str, Any], datetime]]) -> list[tuple[Any, ...]]:
    engine = CorrelationEngine(bundle.correlations, allowed_lateness=LATENESS)
    out = []
    for index, event, at in events:
        out += [_key(m) for m in engine.process(index, event, at, _matched(bundle, event))]
    return sorted(out, key=repr)


def _split(
    bundle: RuleBundle, events: list[tuple[int, dict[str, Any], datetime]], *, reload: bool
) -> list[tuple[Any, ...]]:
    """One engine per rule in level order; inner matches fed on with `process_match`; inputs reduced
    to the fields each slot reads; with `reload`, every engine goes through window_state/restore
    (pickled) after every input, as the job's keyed state does."""
    specs: list[CorrelationSpec] = sorted(
        bundle.correlations.specs, key=lambda s: bundle.contexts[s.key].level
    )
    engines = {s.key: CorrelationEngine([s], allowed_lateness=LATENESS) for s in specs}
    suppressed = {s.key for s in specs if s.references & bundle.correlations.suppressed}
    out: list[tuple[Any, ...]] = []

    def deliver(spec: CorrelationSpec, matches: list[CorrelationMatch]) -> None:
        for match in matches:
            if spec.key not in suppressed:
                out.append(_key(match))
            for outer in specs:
                if any(spec.references & slot.references for slot in outer.slots):
                    args = (spec.references, match.group_dict(), match.last_time, match.first_time)
                    feed(outer, lambda e, a=args, m=match: e.process_match(*a, m.event_indexes))

    def feed(spec: CorrelationSpec, call: Any) -> None:
        engine = engines[spec.key]
        if reload:
            stored = pickle.dumps(engine.window_state())
            engine = CorrelationEngine.restore([spec], pickle.loads(stored), allowed_lateness=LATENESS)
            engines[spec.key] = engine
        deliver(spec, call(engine))

    for index, event, at in events:
        refs = _matched(bundle, event)
        for spec in specs:
            for slot in spec.slots:
                hit = refs & slot.references
                if hit and not slot.correlation:
                    fields = slot_fields(spec, event, slot.position)
                    feed(spec, lambda e, i=index, f=fields, t=at, h=hit: e.process(i, f, t, h))
    return sorted(out, key=repr)


@pytest.mark.parametrize("seed", range(6))
def test_split_engines_give_the_matches_of_one_engine(bundle: RuleBundle, seed: int) -> None:
    assert max(c.level for c in bundle.contexts.values()) == 2  # the pack's auth rules include a chain
    events = _events(seed)
    whole = _whole(bundle, events)
    outer = {s.key for s in bundle.correlations.specs if bundle.contexts[s.key].level == 2}
    assert {m[0] for m in whole} & outer  # the chain itself fires on the generated logins
    assert _split(bundle, events, reload=False) == whole
    assert _split(bundle, events, reload=True) == whole


def test_restore_refuses_windows_of_other_rules(bundle: RuleBundle) -> None:
    first, second = bundle.correlations.specs[:2]
    state = CorrelationEngine([first, second]).window_state()
    with pytest.raises(ValueError, match="window state holds 2 rules"):
        CorrelationEngine.restore([first], state)
