"""Compile pySigma correlation rules into frozen, validated `CorrelationSpec` objects.

Follows the Sigma correlation rules specification v2.0 ("Correlation section"): `type`, `rules` (by id or
`name`), `aliases`, `group-by`, `timespan`, `condition` and `generate`. pySigma parses the YAML; this
module only checks what the engine needs and turns each rule into plain data. Compilation is per rule:
a broken correlation is reported as a `CorrelationLoadError` and never stops the others.

Not supported, rejected with a load error naming the rule: the pySigma extensions `value_sum`,
`value_avg`, `value_percentile`, `value_median`, extended (boolean string) conditions of temporal rules,
and a list-valued `field`. A range such as `{gt: 100, lte: 200}` is rejected by pySigma 1.5.1 itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from detection.correlation.errors import CorrelationLoadError

if TYPE_CHECKING:  # imported where used: a rule set without correlations never needs pySigma here
    from sigma.correlations import SigmaCorrelationRule
    from sigma.rule import SigmaRuleBase


class CorrelationType(StrEnum):
    """The four correlation types of the Sigma specification v2.0."""

    EVENT_COUNT = "event_count"
    VALUE_COUNT = "value_count"
    TEMPORAL = "temporal"
    TEMPORAL_ORDERED = "temporal_ordered"


def _from_sigma(kind: object) -> CorrelationType | None:
    from sigma.correlations import SigmaCorrelationType

    known: dict[object, CorrelationType] = {
        SigmaCorrelationType.EVENT_COUNT: CorrelationType.EVENT_COUNT,
        SigmaCorrelationType.VALUE_COUNT: CorrelationType.VALUE_COUNT,
        SigmaCorrelationType.TEMPORAL: CorrelationType.TEMPORAL,
        SigmaCorrelationType.TEMPORAL_ORDERED: CorrelationType.TEMPORAL_ORDERED,
    }
    return known.get(kind)


# Conditions that can be decided as soon as an event arrives: the measures are monotone (adding events
# never lowers them), so once `gt`/`gte` holds it keeps holding. The others need the window to close.
_ON_ARRIVAL_OPS = frozenset({"gt", "gte"})
_OPS = frozenset({"gt", "gte", "lt", "lte", "eq", "neq"})

_Fail = Callable[[str], CorrelationLoadError]


@dataclass(frozen=True)
class CountCondition:
    """`condition:` of a correlation rule: one operator and a threshold (spec: "Condition")."""

    op: str
    threshold: int

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"unknown correlation condition operator {self.op!r}")

    @property
    def time_driven(self) -> bool:
        """True when the condition is decided when the window closes (lt, lte, eq, neq)."""
        return self.op not in _ON_ARRIVAL_OPS

    def holds(self, measure: int) -> bool:
        """Whether `measure` (count, distinct values or distinct rules) satisfies the condition."""
        n = self.threshold
        return {
            "gt": measure > n,
            "gte": measure >= n,
            "lt": measure < n,
            "lte": measure <= n,
            "eq": measure == n,
            "neq": measure != n,
        }[self.op]


@dataclass(frozen=True)
class RuleSlot:
    """One entry of the correlation's `rules:` list, resolved to the rule's id and name."""

    position: int
    reference: str
    references: frozenset[str]
    correlation: bool


@dataclass(frozen=True)
class CorrelationSpec:
    """A compiled correlation rule: plain data the engine's state machines work from."""

    key: str
    id: str | None
    name: str | None
    title: str
    level: str | None
    tags: tuple[str, ...]
    type: CorrelationType
    slots: tuple[RuleSlot, ...]
    group_by: tuple[str, ...]
    # Per slot position, the event field of each `group-by` entry (aliases already resolved).
    group_fields: tuple[tuple[str, ...], ...]
    # Per slot position, the field whose distinct values `value_count` counts (None for other types).
    value_fields: tuple[str | None, ...]
    timespan: timedelta
    condition: CountCondition
    generate: bool
    path: str | None = field(default=None, compare=False)
    line: int | None = field(default=None, compare=False)

    @property
    def references(self) -> frozenset[str]:
        """The strings other rules may use to reference this one (id and name)."""
        return frozenset(r for r in (self.id, self.name) if r)

    @classmethod
    def from_sigma(cls, rule: SigmaCorrelationRule, lookup: Mapping[str, SigmaRuleBase]) -> CorrelationSpec:
        """Compile one pySigma correlation rule; `lookup` maps rule ids and names to parsed rules.

        Raises `CorrelationLoadError` naming the rule, file, line and reason.
        """
        from sigma.correlations import SigmaCorrelationCondition

        label = _label(rule)
        path, line = _location(rule)

        def fail(reason: str) -> CorrelationLoadError:
            return CorrelationLoadError(reason, rule=label, path=path, line=line)

        if rule.errors:
            raise fail("; ".join(str(e) for e in rule.errors))
        ctype = _from_sigma(rule.type)
        if ctype is None:
            raise fail(f"correlation type {rule.type!s} is not supported (spec v2.0 defines four types)")
        if not isinstance(rule.condition, SigmaCorrelationCondition):
            raise fail("extended (boolean expression) correlation conditions are not supported")
        if rule.rules is None or not rule.rules:
            raise fail("no referenced rules")
        condition = CountCondition(rule.condition.op.name.lower(), rule.condition.count)

        slots = tuple(_slot(i, ref.reference, lookup, fail) for i, ref in enumerate(rule.rules))
        if ctype is CorrelationType.TEMPORAL:
            # temporal counts distinct rules; a rule listed twice would count one event twice. (In
            # temporal_ordered a repeat is meaningful: A, then B, then A again.)
            seen: set[str] = set()
            for slot in slots:
                if slot.references & seen:
                    raise fail(
                        f"rule {slot.reference!r} is listed twice in 'rules' of a temporal correlation"
                    )
                seen |= slot.references
        alias_fields = _aliases(rule, slots, lookup, fail)
        group_by = tuple(rule.group_by or ())
        group_fields = tuple(
            tuple(alias_fields.get(name, {}).get(slot.position, name) for name in group_by) for slot in slots
        )
        for name in group_by:
            if name in alias_fields and len(alias_fields[name]) != len(slots):
                missing = [s.reference for s in slots if s.position not in alias_fields[name]]
                raise fail(f"alias {name!r} names no field for rule(s) {', '.join(missing)}")

        value_fields: tuple[str | None, ...] = tuple(None for _ in slots)
        _check_chained_fields(slots, group_fields, lookup, fail)
        if ctype is CorrelationType.VALUE_COUNT:
            value_field = rule.condition.fieldref
            if not isinstance(value_field, str) or not value_field:
                raise fail("value_count needs one field name in condition.field")
            value_fields = tuple(
                alias_fields.get(value_field, {}).get(s.position, value_field) for s in slots
            )
            _check_chained_fields(slots, tuple((f,) if f else () for f in value_fields), lookup, fail)
        elif rule.condition.fieldref is not None:
            raise fail(f"condition.field is only meaningful for value_count, not {ctype.value}")

        ident = str(rule.id) if rule.id is not None else None
        return cls(
            key=ident or rule.name or label,
            id=ident,
            name=rule.name,
            title=rule.title,
            level=str(rule.level) if rule.level is not None else None,
            tags=tuple(str(t) for t in rule.tags),
            type=ctype,
            slots=slots,
            group_by=group_by,
            group_fields=group_fields,
            value_fields=value_fields,
            timespan=timedelta(seconds=rule.timespan.seconds),
            condition=condition,
            generate=bool(rule.generate),
            path=path,
            line=line,
        )


@dataclass(frozen=True)
class CorrelationRuleSet:
    """The compiled correlations of a rule set, in dependency order, plus per-rule load errors."""

    specs: tuple[CorrelationSpec, ...]
    errors: tuple[CorrelationLoadError, ...]
    # Ids and names of rules (base or correlation) whose own alerts are suppressed (`generate: false`).
    suppressed: frozenset[str]

    def is_suppressed(self, reference: str) -> bool:
        """Whether a rule, named by id or name, must not raise alerts of its own.

        Spec "Generate": the rules a correlation refers to are not output on their own unless the
        correlation says `generate: true`. As in pySigma, one referencing correlation without
        `generate: true` is enough to suppress the rule.
        """
        return reference in self.suppressed


def compile_correlations(rules: Iterable[SigmaRuleBase]) -> CorrelationRuleSet:
    """Compile every correlation rule among `rules` (parsed by pySigma); never raises for a bad rule.

    `rules` is either the whole parsed rule set (base rules and correlations; parse it with
    `resolve_references=False` so one dangling reference does not fail the whole collection, it becomes
    a load error of that correlation here), or correlations whose references pySigma already resolved,
    such as `detection.loader.LoadResult.correlations`.
    """
    from sigma.correlations import SigmaCorrelationRule
    from sigma.rule import SigmaRule

    all_rules = list(rules)
    lookup: dict[str, SigmaRuleBase] = {}
    for r in all_rules:
        if isinstance(r, (SigmaRule, SigmaCorrelationRule)):
            for ref in _refs_of(r):
                lookup[ref] = r
    for r in all_rules:
        if isinstance(r, SigmaCorrelationRule):
            for reference in r.rules or ():
                # Set by pySigma's `resolve_rule_references` (e.g. `detection.loader.LoadResult`).
                target = getattr(reference, "rule", None)
                if isinstance(target, (SigmaRule, SigmaCorrelationRule)):
                    lookup.setdefault(reference.reference, target)
                    for ref in _refs_of(target):
                        lookup.setdefault(ref, target)
    compiled: dict[int, CorrelationSpec] = {}
    errors: list[CorrelationLoadError] = []
    failed: set[int] = set()
    correlations = [r for r in all_rules if isinstance(r, SigmaCorrelationRule)]
    for rule in correlations:
        try:
            compiled[id(rule)] = CorrelationSpec.from_sigma(rule, lookup)
        except CorrelationLoadError as exc:
            errors.append(exc)
            failed.add(id(rule))

    ordered = _dependency_order(correlations, compiled, lookup, failed, errors)
    suppressed: set[str] = set()
    for spec in ordered:
        if not spec.generate:
            for slot in spec.slots:
                suppressed |= slot.references
    return CorrelationRuleSet(tuple(ordered), tuple(errors), frozenset(suppressed))


def _dependency_order(
    correlations: list[SigmaCorrelationRule],
    compiled: dict[int, CorrelationSpec],
    lookup: Mapping[str, SigmaRuleBase],
    failed: set[int],
    errors: list[CorrelationLoadError],
) -> list[CorrelationSpec]:
    """Order specs so that a chained (inner) correlation comes before the ones that reference it.

    A correlation that references a broken one, or sits on a reference cycle, fails with a load error.
    """
    from sigma.correlations import SigmaCorrelationRule

    ordered: list[CorrelationSpec] = []
    state: dict[int, str] = {}  # "visiting" | "done" | "failed"

    def visit(rule: SigmaCorrelationRule) -> bool:
        rid = id(rule)
        if rid in failed or state.get(rid) == "failed":
            return False
        if state.get(rid) == "done":
            return True
        spec = compiled[rid]
        if state.get(rid) == "visiting":
            state[rid] = "failed"
            errors.append(_spec_error(spec, "correlation rules reference each other in a cycle"))
            return False
        state[rid] = "visiting"
        for slot in spec.slots:
            inner = lookup[slot.reference]
            if isinstance(inner, SigmaCorrelationRule) and not visit(inner):
                if state.get(rid) != "failed":
                    errors.append(_spec_error(spec, f"references correlation {slot.reference!r} that failed"))
                state[rid] = "failed"
                return False
        if state.get(rid) == "failed":
            return False
        state[rid] = "done"
        ordered.append(spec)
        return True

    for rule in correlations:
        if id(rule) not in failed:
            visit(rule)
    return ordered


def _spec_error(spec: CorrelationSpec, reason: str) -> CorrelationLoadError:
    return CorrelationLoadError(
        reason, rule=spec.name or spec.id or spec.title, path=spec.path, line=spec.line
    )


def _check_chained_fields(
    slots: tuple[RuleSlot, ...],
    fields_per_slot: tuple[tuple[str, ...], ...],
    lookup: Mapping[str, SigmaRuleBase],
    fail: _Fail,
) -> None:
    """A chained correlation's matches carry only its own group-by values, so only those can be read."""
    from sigma.correlations import SigmaCorrelationRule

    for slot, fields in zip(slots, fields_per_slot, strict=False):
        inner = lookup[slot.reference]
        if not isinstance(inner, SigmaCorrelationRule):
            continue
        known = set(inner.group_by or ())
        unknown = [f for f in fields if f not in known]
        if unknown:
            raise fail(
                f"field(s) {', '.join(unknown)} are not in the group-by of chained correlation "
                f"{slot.reference!r}, so its matches cannot carry them"
            )


def _slot(position: int, reference: str, lookup: Mapping[str, SigmaRuleBase], fail: _Fail) -> RuleSlot:
    from sigma.correlations import SigmaCorrelationRule

    target = lookup.get(reference)
    if target is None:
        raise fail(f"referenced rule {reference!r} is not in the rule set")
    refs = frozenset(r for r in (str(target.id) if target.id else None, target.name) if r)
    return RuleSlot(position, reference, refs, isinstance(target, SigmaCorrelationRule))


def _aliases(
    rule: SigmaCorrelationRule, slots: tuple[RuleSlot, ...], lookup: Mapping[str, SigmaRuleBase], fail: _Fail
) -> dict[str, dict[int, str]]:
    """Spec "Field Name Aliases": alias -> {slot position: field in that rule's events}."""
    out: dict[str, dict[int, str]] = {}
    for alias in rule.aliases:
        per_slot: dict[int, str] = {}
        for ref, field_name in alias.mapping.items():
            target = lookup.get(ref.reference)
            names = _refs_of(target) if target is not None else frozenset({ref.reference})
            positions = [s.position for s in slots if s.references & names]
            if not positions:
                raise fail(f"alias {alias.alias!r} maps rule {ref.reference!r}, which is not in 'rules'")
            for p in positions:
                per_slot[p] = str(field_name)
        out[alias.alias] = per_slot
    return out


def _refs_of(rule: SigmaRuleBase) -> frozenset[str]:
    return frozenset(r for r in (str(rule.id) if rule.id else None, rule.name) if r)


def _label(rule: SigmaRuleBase) -> str:
    return rule.name or (str(rule.id) if rule.id else None) or rule.title or "<untitled>"


def _location(rule: SigmaRuleBase) -> tuple[str | None, int | None]:
    source = rule.source
    if source is None:
        return None, None
    return str(source.path), source.line
