"""A Sigma rule compiled once into a matcher: `CompiledRule` and `compile_rule`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigma.rule import SigmaLogSource, SigmaRule

from detection import ir
from detection.codegen import generate
from detection.matchers import Matcher
from detection.view import View, build_view


@dataclass(frozen=True, eq=False)
class CompiledRule:
    """One single-event Sigma rule, ready to match events.

    `id` is the rule id as a string ("" when the rule has none), `name` the Sigma `name` field that
    correlation rules reference, `output` False when a correlation rule with `generate: false`
    (the default) uses this rule: it still matches, but should not raise an alert on its own.
    `node` is the condition in IR form (what the candidate index reads); `sigma` the pySigma rule
    after filters and the processing pipeline; `matcher(raw, low)` the compiled condition over an
    event view (`detection.view.build_view`).
    """

    id: str
    name: str | None
    title: str
    level: str | None
    tags: tuple[str, ...]
    logsource: SigmaLogSource
    source: Path | None
    node: ir.Node
    sigma: SigmaRule = field(repr=False)
    output: bool = True
    matcher: Matcher = field(repr=False, default=lambda raw, low: False)

    def matches(self, event: Mapping[str, Any]) -> bool:
        """True when the rule's condition holds for this (flat or nested) event."""
        raw, low = build_view(event)
        return self.matcher(raw, low)

    def matches_view(self, raw: View, low: View) -> bool:
        """Match on a view already built by `detection.view.build_view` (the engine's fast path)."""
        return self.matcher(raw, low)


def compile_rule(rule: SigmaRule, *, source: Path | None = None) -> CompiledRule:
    """Compile a pySigma rule (filters and pipeline already applied).

    Raises `ir.CompileError` (or a pySigma `SigmaError`) when the rule cannot be evaluated; the
    loader turns either into a `RuleLoadError` for this rule only.
    """
    # Several conditions in one rule are OR-linked (Sigma specification, "Condition").
    trees = [ir.lower(condition.parse()) for condition in rule.detection.parsed_condition]
    node: ir.Node = trees[0] if len(trees) == 1 else ir.Or(tuple(trees))
    return CompiledRule(
        id=str(rule.id) if rule.id is not None else "",
        name=rule.name,
        title=rule.title,
        level=rule.level.name.lower() if rule.level is not None else None,
        tags=tuple(f"{tag.namespace}.{tag.name}" for tag in rule.tags),
        logsource=rule.logsource,
        source=source,
        node=node,
        sigma=rule,
        output=bool(getattr(rule, "_output", True)),
        matcher=generate(node),
    )
