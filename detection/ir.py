"""Intermediate form of a rule's condition: pySigma's condition tree, reduced to what matching needs.

`detection.lowering.lower()` turns the postprocessed pySigma tree (`SigmaCondition.parse()`:
ConditionAND/OR/NOT over ConditionFieldEqualsValueExpression and ConditionValueExpression) into
these frozen nodes. The matcher builder (`detection.matchers`) and the candidate index
(`detection.index`) both read them, so what is indexed is exactly what is evaluated. This module
imports nothing from pySigma: rules loaded from the compiled-rule cache (`detection.cache`) never
need it.

Value semantics follow the Sigma specification (sigma-specification, "Sigma Rules Specification",
section "Value modifiers" and appendix "Modifiers"); the pySigma modifiers have already been applied
when a rule is parsed, so each value arrives as a typed pySigma value.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Literal

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


def lower(tree: Any) -> Node:
    """Convert a postprocessed pySigma condition tree into IR nodes (`detection.lowering.lower`)."""
    from detection.lowering import lower as _lower

    return _lower(tree)
