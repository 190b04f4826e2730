"""Sigma correlation rules (event_count, value_count, temporal, temporal_ordered) as a pure state machine.

Usage: parse rules with pySigma, `compile_correlations(rules)` into a `CorrelationRuleSet` (per-rule load
errors in `.errors`), build a `CorrelationEngine`, then for each input event call
`engine.process(index, event, event_time, matched_rule_ids_and_names)`; drive time with
`engine.advance(watermark)` and end with `engine.flush()`. Semantics are documented in
`detection.correlation.engine`.
"""

from detection.correlation.engine import CorrelationEngine, CorrelationMatch, CorrelationStats, WindowState
from detection.correlation.errors import CorrelationError, CorrelationInputError, CorrelationLoadError
from detection.correlation.rules import (
    CorrelationRuleSet,
    CorrelationSpec,
    CorrelationType,
    CountCondition,
    compile_correlations,
)

__all__ = [
    "CorrelationEngine",
    "CorrelationError",
    "CorrelationInputError",
    "CorrelationLoadError",
    "CorrelationMatch",
    "CorrelationRuleSet",
    "CorrelationSpec",
    "CorrelationStats",
    "CorrelationType",
    "CountCondition",
    "WindowState",
    "compile_correlations",
]
