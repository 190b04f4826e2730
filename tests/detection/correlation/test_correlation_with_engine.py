"""End to end with the real single-event engine: `RuleSet.load` + `Engine.match` feed the correlations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from detection.correlation import CorrelationEngine, compile_correlations
from detection.engine import Engine, RuleSet

VALID = Path(__file__).resolve().parent / "rules" / "valid"
T0 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)


def test_loader_correlations_compile_and_agree_on_generate() -> None:
    loaded = RuleSet.load([VALID], pipeline=None)
    assert loaded.errors == ()
    ruleset = compile_correlations(loaded.correlations)  # references already resolved by pySigma
    assert ruleset.errors == ()
    assert len(ruleset.specs) == 8
    # Both sides read `generate` the same way for every base rule.
    for rule in loaded.rules:
        assert rule.output is not ruleset.is_suppressed(rule.name or rule.id), rule.name


def test_brute_force_then_success_from_nested_events() -> None:
    loaded = RuleSet.load([VALID], pipeline=None)
    engine = Engine(loaded.rules)
    correlations = CorrelationEngine(compile_correlations(loaded.correlations))
    events = (
        [
            {"event": {"action": "login", "outcome": "failure"}, "user": {"name": "alice"}},
            {"event": {"action": "login", "outcome": "failure"}, "user": {"name": "bob"}},
        ]
        + [{"event": {"action": "login", "outcome": "failure"}, "user": {"name": "alice"}}] * 4
        + [
            {"event": {"action": "login", "outcome": "success"}, "user": {"name": "alice"}},
        ]
    )
    out = []
    for index, event in enumerate(events):
        refs = {ref for rule in engine.match(event) for ref in (rule.id, rule.name) if ref}
        out += correlations.process(index, event, T0 + index * timedelta(seconds=20), refs)
    out += correlations.flush()
    assert [(m.rule_name, m.group_dict(), m.event_indexes) for m in out] == [
        ("brute_force_then_success", {"user.name": "alice"}, (0, 2, 3, 4, 5, 6))
    ]
