"""Intermediate form of a rule's condition: pySigma's condition tree, reduced to what matching needs.

`lower()` turns the postprocessed pySigma tree (`SigmaCondition.parse()`: ConditionAND/OR/NOT over
ConditionFieldEqualsValueExpression and ConditionValueExpression) into these frozen nodes. The
matcher builder (`detection.matchers`) and the candidate index (`detection.index`) both read them,
so what is indexed is exactly what is evaluated.

Value semantics follow the Sigma specification (sigma-specification, "Sigma Rules Specification",
section "Value modifiers" and appendix "Modifiers"); the pySigma modifiers have already been applied
when a rule is parsed, so each value arrives as a typed pySigma value.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Literal

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
    TimestampPart,
)

StrKind = Literal["eq", "prefix", "suffix", "contains", "glob", "any"]


class CompileError(ValueError):
    """A rule uses something the engine cannot evaluate; the message says what."""


@dataclass(frozen=True)
class Str:
    """String match. `field` None means a keyword (search every value).

    `kind` is the shape of the Sigma wildcard pattern: `eq` (no wildcard), `prefix` (`abc*`),
    `suffix` (`*abc`), `contains` (`*abc*`), `any` (`*`: any non-null value) or `glob` (anything
    else, matched by `regex`). `texts` holds the literal(s), lowered unless `cased`.
    """

    field: str | None
    kind: StrKind
    texts: tuple[str, ...]
    cased: bool
    regex: str = ""


@dataclass(frozen=True)
class Regex:
    """`|re`: unanchored search, case-sensitive unless the `i` flag is set."""

    field: str | None
    pattern: str
    flags: int


@dataclass(frozen=True)
class Num:
    """A number: equal when the event value's decimal form (or numeric value) is equal."""

    field: str | None
    number: int | float


@dataclass(frozen=True)
class TimePart:
    """`|minute`, `|hour`, `|day`, `|week`, `|month`, `|year`: a part of the field's timestamp.

    The value is read as ISO 8601 / RFC 3339 (`2024-05-01T23:10:00Z`) in the offset it carries
    (UTC for the normalized schema's `@timestamp`); `day` is the day of the month, `week` the ISO week.
    """

    field: str
    unit: str
    number: int


@dataclass(frozen=True)
class Bool:
    """A boolean value."""

    field: str
    value: bool


@dataclass(frozen=True)
class Null:
    """`null`: the field is missing or null (an empty string is not null)."""

    field: str


@dataclass(frozen=True)
class Exists:
    """`|exists`: the field is present (with a non-null value) when `value`, absent otherwise."""

    field: str
    value: bool


@dataclass(frozen=True)
class Cidr:
    """`|cidr`: the value is an IP address inside the network (IPv4 or IPv6)."""

    field: str
    network: ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Compare:
    """`|lt`, `|lte`, `|gt`, `|gte` (and numeric not-equal): numeric comparison."""

    field: str
    op: str
    number: int | float


@dataclass(frozen=True)
class FieldRef:
    """`|fieldref`: the value equals (or starts/ends with, or contains) another field's value."""

    field: str
    other: str
    starts: bool
    ends: bool


@dataclass(frozen=True)
class Const:
    """A constant (an empty detection)."""

    value: bool


@dataclass(frozen=True)
class And:
    """All children hold."""

    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """At least one child holds."""

    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """The child does not hold (a missing field makes a selection false, so its negation true)."""

    child: Node


Leaf = Str | Regex | Num | TimePart | Bool | Null | Exists | Cidr | Compare | FieldRef | Const
Node = Leaf | And | Or | Not

_COMPARE_OPS = {
    CompareOperators.LT: "lt",
    CompareOperators.LTE: "lte",
    CompareOperators.GT: "gt",
    CompareOperators.GTE: "gte",
    CompareOperators.NEQ: "neq",
}

_TIME_UNITS = {
    TimestampPart.MINUTE: "minute",
    TimestampPart.HOUR: "hour",
    TimestampPart.DAY: "day",
    TimestampPart.WEEK: "week",
    TimestampPart.MONTH: "month",
    TimestampPart.YEAR: "year",
}


def lower(tree: Any) -> Node:
    """Convert a postprocessed pySigma condition tree into IR nodes."""
    if tree is None:
        return Const(False)
    if isinstance(tree, ConditionAND):
        return And(tuple(lower(arg) for arg in tree.args if arg is not None))
    if isinstance(tree, ConditionOR):
        return Or(tuple(lower(arg) for arg in tree.args if arg is not None))
    if isinstance(tree, ConditionNOT):
        return Not(lower(tree.args[0]))
    if isinstance(tree, ConditionFieldEqualsValueExpression):
        return value_node(tree.field, tree.value)
    if isinstance(tree, ConditionValueExpression):
        return value_node(None, tree.value)
    raise CompileError(f"unsupported condition element {type(tree).__name__}")


def string_node(field: str | None, value: SigmaString) -> Str:
    """Classify a Sigma string pattern (wildcards `*` and `?`, escapes already resolved by pySigma)."""
    cased = isinstance(value, SigmaCasedString)
    parts = value.s
    for part in parts:
        if isinstance(part, Placeholder):
            raise CompileError(f"unfilled placeholder %{part.name}% (set it in the detection configuration)")
    norm: list[str | SpecialChars] = []
    for part in parts:
        if isinstance(part, str):
            text = part if cased else part.lower()
            if norm and isinstance(norm[-1], str):
                norm[-1] += text
            else:
                norm.append(text)
        elif isinstance(part, SpecialChars):
            norm.append(part)
    multi = SpecialChars.WILDCARD_MULTI
    strs = [p for p in norm if isinstance(p, str)]
    if all(isinstance(p, str) for p in norm):
        return Str(field, "eq", (strs[0] if strs else "",), cased)
    if norm == [multi]:
        return Str(field, "any", (), cased)
    if len(norm) == 2 and norm[1] == multi and isinstance(norm[0], str):
        return Str(field, "prefix", (norm[0],), cased)
    if len(norm) == 2 and norm[0] == multi and isinstance(norm[1], str):
        return Str(field, "suffix", (norm[1],), cased)
    if len(norm) == 3 and norm[0] == multi and norm[2] == multi and isinstance(norm[1], str):
        return Str(field, "contains", (norm[1],), cased)
    pattern = "".join(re.escape(p) if isinstance(p, str) else (".*" if p == multi else ".") for p in norm)
    return Str(field, "glob", tuple(strs), cased, regex=pattern)


def value_node(field: str | None, value: Any) -> Node:
    """One field/value pair (or keyword value) as an IR node."""
    if isinstance(value, SigmaExpansion):
        # Expansions (windash, base64offset) are OR-linked even under `|all` (pySigma types.py).
        return Or(tuple(value_node(field, v) for v in value.values))
    if isinstance(value, SigmaString):
        return string_node(field, value)
    if isinstance(value, SigmaRegularExpression):
        if value.regexp.contains_placeholder():
            raise CompileError("unfilled placeholder in regular expression")
        flags = 0
        for flag in value.flags:
            flags |= SigmaRegularExpression.sigma_to_python_flags[flag]
        return Regex(field, str(value.regexp), flags)
    if isinstance(value, SigmaTimestampPart):  # before SigmaNumber: it is a subclass
        if field is None:
            raise CompileError("a timestamp part modifier needs a field")
        return TimePart(field, _TIME_UNITS[value.timestamp_part], int(value.number))
    if isinstance(value, SigmaBool):
        if field is None:
            raise CompileError("a boolean value needs a field")
        return Bool(field, bool(value.boolean))
    if isinstance(value, SigmaNumber):
        return Num(field, value.number)
    if isinstance(value, SigmaNull):
        if field is None:
            raise CompileError("null needs a field")
        return Null(field)
    if isinstance(value, SigmaExists):
        if field is None:
            raise CompileError("|exists needs a field")
        return Exists(field, bool(value.exists))
    if isinstance(value, SigmaCIDRExpression):
        if field is None:
            raise CompileError("|cidr needs a field")
        return Cidr(field, value.network)
    if isinstance(value, SigmaCompareExpression):
        if field is None:
            raise CompileError("comparison needs a field")
        return Compare(field, _COMPARE_OPS[value.op], value.number.number)
    if isinstance(value, SigmaFieldReference):
        if field is None:
            raise CompileError("|fieldref needs a field")
        return FieldRef(field, value.field, value.starts_with, value.ends_with)
    raise CompileError(f"unsupported value type {type(value).__name__}")
