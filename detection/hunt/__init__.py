"""Retro-hunt: Sigma rules (and correlations) over stored history, the same verdicts on every store.

`plan.convert_rules` converts what the search engines can pre-select (pySigma's OpenSearch and
Elasticsearch backends); `run.hunt` lets datasoc's engine decide on the candidates and scans for
the rest; `source.StoreSource` reads any `EventStore` in event time order.
"""

from __future__ import annotations

from detection.hunt.plan import Conversion, convert_rules
from detection.hunt.run import HuntHit, HuntReport, HuntSource, NativeQueryError, RuleRun, hunt
from detection.hunt.source import StoreSource

__all__ = [
    "Conversion",
    "HuntHit",
    "HuntReport",
    "HuntSource",
    "NativeQueryError",
    "RuleRun",
    "StoreSource",
    "convert_rules",
    "hunt",
]
