"""A Sigma rule compiled once into a matcher: `CompiledRule` and `compile_rule`.

A rule loaded from the compiled-rule cache (`detection.cache`) carries its condition encoded
(`detection.codec`): the node is decoded the first time the index or a matcher needs it, and the
matcher is generated the first time the rule is a candidate, so start-up costs what the metadata
costs and a rule no event ever reaches costs nothing more.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from detection import ir
from detection.codec import decode, decode_clauses
from detection.logsource import RuleLogsource
from detection.matchers import Matcher, build
from detection.view import View, build_view

if TYPE_CHECKING:
    from sigma.rule import SigmaRule

    from detection.index import Clause
    from detection.routing import Constraints


class _Lazy:
    """A dataclass field computed on first read when it was not given (a data descriptor: the
    dataclass machinery calls `__set__` from `__init__` and `__get__` on every read, and takes the
    class-level read, None, as the field's default). `compute(rule)` makes the value."""

    def __init__(self, compute: Callable[[CompiledRule], Any]) -> None:
        self._compute = compute
        self._slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._slot = "_" + name

    def __get__(self, rule: CompiledRule | None, owner: type | None = None) -> Any:
        if rule is None:
            return None
        value = rule.__dict__.get(self._slot)
        if value is None:
            value = rule.__dict__[self._slot] = self._compute(rule)
        return value

    def __set__(self, rule: CompiledRule, value: Any) -> None:
        rule.__dict__[self._slot] = value


def _node(rule: CompiledRule) -> ir.Node:
    if rule.encoded is None:
        raise ValueError(f"rule {rule.id or rule.title!r} has neither its node nor its encoded node")
    return decode(orjson.loads(rule.encoded))


def _sigma(rule: CompiledRule) -> SigmaRule:
    if rule.sigma_loader is None:
        raise AttributeError(f"rule {rule.id or rule.title!r} has no pySigma form")
    return rule.sigma_loader()


def _matcher(rule: CompiledRule) -> Matcher:
    from detection.codegen import generate

    return generate(rule.node)


def _constraints(rule: CompiledRule) -> Constraints:
    from detection.routing import constraints

    return constraints(rule.node)


# The lazy fields of `CompiledRule` (typed as their values: the dataclass reads them through `_Lazy`).
_LAZY_NODE: Any = _Lazy(_node)
_LAZY_SIGMA: Any = _Lazy(_sigma)
_LAZY_MATCHER: Any = _Lazy(_matcher)
_LAZY_CONSTRAINTS: Any = _Lazy(_constraints)

#: Evaluations of a rule by closures (`detection.matchers.build`, cheap to make) before its condition
#: is compiled to one Python function (`detection.codegen`: faster, but a compile away). Most rules
#: never see most inputs; a few see nearly every event. Generating costs about as much as a few
#: hundred evaluations by closures.
PROMOTE_AFTER = 200


@dataclass(frozen=True, eq=False, repr=False)
class CompiledRule:
    """One single-event Sigma rule, ready to match events.

    `id` is the rule id as a string ("" when the rule has none), `name` the Sigma `name` field that
    correlation rules reference, `output` False when a correlation rule with `generate: false`
    (the default) uses this rule: it still matches, but should not raise an alert on its own.
    `logsource` is the rule's logsource after the processing pipeline, lower-cased (what the
    engine routes by, `detection.logsource`). `node` is the condition in IR form (what the
    candidate index reads; decoded on first read from `encoded` for a rule from the compiled-rule
    cache); `sigma` the pySigma rule after filters and the processing pipeline (parsed again by
    `sigma_loader` on first read for a rule from the cache); `matcher(raw, low)` the compiled
    condition over an event view (`detection.view.build_view`), generated on first read;
    `constraints` the Channel/EventID values the condition requires (`detection.routing`).
    """

    id: str
    name: str | None
    title: str
    level: str | None
    tags: tuple[str, ...]
    logsource: RuleLogsource
    source: Path | None
    node: ir.Node = _LAZY_NODE
    sigma: SigmaRule = _LAZY_SIGMA
    output: bool = True
    matcher: Matcher = _LAZY_MATCHER
    encoded: bytes | None = field(default=None, repr=False)
    encoded_clauses: bytes | None = field(default=None, repr=False)
    constraints: Constraints = _LAZY_CONSTRAINTS
    sigma_loader: Callable[[], SigmaRule] | None = field(default=None, repr=False)

    def __repr__(self) -> str:  # the lazy fields stay unread
        return f"CompiledRule(id={self.id!r}, title={self.title!r}, logsource={self.logsource!r})"

    def __post_init__(self) -> None:
        if not isinstance(self.logsource, RuleLogsource):  # a pySigma SigmaLogSource, or alike
            object.__setattr__(self, "logsource", RuleLogsource.of(self.logsource))

    @property
    def clauses(self) -> list[Clause]:
        """Necessary clauses of the condition (`detection.index.clauses`), most selective first
        (`detection.index.ranked`), computed once (the cache stores them in that order)."""
        found: list[Clause] | None = self.__dict__.get("_clauses")
        if found is None:
            if self.encoded_clauses is not None:
                found = decode_clauses(orjson.loads(self.encoded_clauses))
            else:
                from detection.index import clauses, ranked

                found = ranked(clauses(self.node))
            self.__dict__["_clauses"] = found
        return found

    def matches(self, event: Mapping[str, Any]) -> bool:
        """True when the rule's condition holds for this (flat or nested) event.

        The condition only: whether the event is of the rule's logsource is the engine's question.
        """
        raw, low = build_view(event)
        return self.matches_view(raw, low)

    def matches_view(self, raw: View, low: View) -> bool:
        """Match on a view already built by `detection.view.build_view` (the engine's fast path):
        by closures for the first `PROMOTE_AFTER` calls, then by the generated `matcher`."""
        state = self.__dict__
        matcher = state.get("_matcher")
        if matcher is None:
            uses = state["_uses"] = state.get("_uses", 0) + 1
            if uses < PROMOTE_AFTER:
                matcher = state.get("_closure")
                if matcher is None:
                    matcher = state["_closure"] = build(self.node)
            else:
                state.pop("_closure", None)
                matcher = self.matcher
        return matcher(raw, low)

    def promoted(self) -> Matcher | None:
        """The generated matcher if the rule has one by now (what an engine may call directly)."""
        matcher: Matcher | None = self.__dict__.get("_matcher")
        return matcher


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
