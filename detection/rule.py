"""A Sigma rule compiled once into a matcher: `CompiledRule` and `compile_rule`.

A rule loaded from the compiled-rule cache (`detection.cache`) carries its condition encoded
(`detection.codec`): the node is decoded the first time the index or a matcher needs it, and the
matcher is generated the first time the rule is a candidate, so start-up costs what the metadata
costs and a rule no event ever reaches costs nothing more.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from detection import ir
from detection.codec import decode, decode_clauses
from detection.logsource import RuleLogsource
from detection.matchers import Matcher
from detection.view import View, build_view

if TYPE_CHECKING:
    from sigma.rule import SigmaRule

    from detection.index import Clause
    from detection.routing import Constraints


class CompiledRule:
    """One single-event Sigma rule, ready to match events.

    `id` is the rule id as a string ("" when the rule has none), `name` the Sigma `name` field that
    correlation rules reference, `output` False when a correlation rule with `generate: false`
    (the default) uses this rule: it still matches, but should not raise an alert on its own.
    `logsource` is the rule's logsource after the processing pipeline, lower-cased (what the
    engine routes by, `detection.logsource`). `node` is the condition in IR form (what the
    candidate index reads); `sigma` the pySigma rule after filters and the processing pipeline
    (parsed again on first use for a rule that came from the cache); `matcher(raw, low)` the
    compiled condition over an event view (`detection.view.build_view`). Read-only.
    """

    __slots__ = (
        "_clauses",
        "_constraints",
        "_encoded",
        "_encoded_clauses",
        "_matcher",
        "_node",
        "_sigma",
        "_sigma_loader",
        "id",
        "level",
        "logsource",
        "name",
        "output",
        "source",
        "tags",
        "title",
    )

    def __init__(
        self,
        *,
        id: str,
        name: str | None,
        title: str,
        level: str | None,
        tags: tuple[str, ...],
        logsource: RuleLogsource | Any,
        source: Path | None,
        node: ir.Node | None = None,
        sigma: SigmaRule | None = None,
        output: bool = True,
        matcher: Matcher | None = None,
        encoded: bytes | None = None,
        encoded_clauses: bytes | None = None,
        constraints: Constraints | None = None,
        sigma_loader: Callable[[], SigmaRule] | None = None,
    ) -> None:
        """Either `node` or `encoded` (a `detection.codec` encoding as JSON bytes) must be given;
        `encoded_clauses` (`codec.encode_clauses` as JSON bytes) spares computing the clauses."""
        if node is None and encoded is None:
            raise ValueError("a compiled rule needs its node or its encoded node")
        self.id = id
        self.name = name
        self.title = title
        self.level = level
        self.tags = tags
        self.logsource = logsource if isinstance(logsource, RuleLogsource) else RuleLogsource.of(logsource)
        self.source = source
        self.output = output
        self._node = node
        self._encoded = encoded
        self._sigma = sigma
        self._sigma_loader = sigma_loader
        self._matcher = matcher
        self._constraints = constraints
        self._clauses: list[Clause] | None = None
        self._encoded_clauses = encoded_clauses

    def __repr__(self) -> str:
        return f"CompiledRule(id={self.id!r}, title={self.title!r}, logsource={self.logsource!r})"

    @property
    def node(self) -> ir.Node:
        """The condition as IR (decoded from the cache entry on first use)."""
        node = self._node
        if node is None:
            assert self._encoded is not None
            node = self._node = decode(orjson.loads(self._encoded))
            self._encoded = None
        return node

    @property
    def matcher(self) -> Matcher:
        """The condition compiled to one Python function (generated on first use)."""
        matcher = self._matcher
        if matcher is None:
            from detection.codegen import generate

            matcher = self._matcher = generate(self.node)
        return matcher

    @property
    def sigma(self) -> SigmaRule:
        """The pySigma rule after filters and pipeline (parsed again for a rule from the cache)."""
        if self._sigma is None:
            if self._sigma_loader is None:
                raise AttributeError(f"rule {self.id or self.title!r} has no pySigma form")
            self._sigma = self._sigma_loader()
        return self._sigma

    @property
    def constraints(self) -> Constraints:
        """The Channel/EventID values the condition requires (`detection.routing.constraints`)."""
        if self._constraints is None:
            from detection.routing import constraints

            self._constraints = constraints(self.node)
        return self._constraints

    @property
    def clauses(self) -> list[Clause]:
        """Necessary clauses of the condition (`detection.index.clauses`), most selective first
        (`detection.index.ranked`), computed once (the cache stores them in that order)."""
        if self._clauses is None:
            if self._encoded_clauses is not None:
                self._clauses = decode_clauses(orjson.loads(self._encoded_clauses))
                self._encoded_clauses = None
            else:
                from detection.index import clauses, ranked

                self._clauses = ranked(clauses(self.node))
        return self._clauses

    def matches(self, event: Mapping[str, Any]) -> bool:
        """True when the rule's condition holds for this (flat or nested) event.

        The condition only: whether the event is of the rule's logsource is the engine's question.
        """
        raw, low = build_view(event)
        return self.matcher(raw, low)

    def matches_view(self, raw: View, low: View) -> bool:
        """Match on a view already built by `detection.view.build_view` (the engine's fast path)."""
        return self.matcher(raw, low)


def compile_rule(rule: SigmaRule, *, source: Path | None = None) -> CompiledRule:
    """Compile a pySigma rule (filters and pipeline already applied).

    Raises `ir.CompileError` (or a pySigma `SigmaError`) when the rule cannot be evaluated; the
    loader turns either into a `RuleLoadError` for this rule only. The matcher is generated on
    first use (`CompiledRule.matcher`).
    """
    from detection.lowering import lower

    # Several conditions in one rule are OR-linked (Sigma specification, "Condition").
    trees = [lower(condition.parse()) for condition in rule.detection.parsed_condition]
    node: ir.Node = trees[0] if len(trees) == 1 else ir.Or(tuple(trees))
    _check_patterns(node)
    return CompiledRule(
        id=str(rule.id) if rule.id is not None else "",
        name=rule.name,
        title=rule.title,
        level=rule.level.name.lower() if rule.level is not None else None,
        tags=tuple(f"{tag.namespace}.{tag.name}" for tag in rule.tags),
        logsource=RuleLogsource.of(rule.logsource),
        source=source,
        node=node,
        sigma=rule,
        output=bool(getattr(rule, "_output", True)),
    )


def _check_patterns(node: ir.Node) -> None:
    """Compile every regular expression now, so a bad one fails the load, not the first match."""
    if isinstance(node, (ir.And, ir.Or)):
        for child in node.children:
            _check_patterns(child)
    elif isinstance(node, ir.Not):
        _check_patterns(node.child)
    elif isinstance(node, ir.Regex):
        try:
            re.compile(node.pattern, node.flags)
        except re.error as exc:
            raise ir.CompileError(f"invalid regular expression {node.pattern[:80]!r}: {exc}") from None
    elif isinstance(node, ir.Str) and node.kind == "glob":
        re.compile(node.regex, re.DOTALL)
