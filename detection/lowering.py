"""pySigma condition trees and values to IR nodes (`detection.ir`): `lower(tree)`.

Value semantics follow the Sigma specification (sigma-specification, "Sigma Rules Specification",
section "Value modifiers" and appendix "Modifiers"); the pySigma modifiers have already been applied
when a rule is parsed, so each value arrives as a typed pySigma value.
"""

from __future__ import annotations

import re
from typing import Any

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

from detection.ir import (
    And,
    Bool,
    Cidr,
    Compare,
    CompileError,
    Const,
    Exists,
    FieldRef,
    Node,
    Not,
    Null,
    Num,
    Or,
    Regex,
    Str,
    TimePart,
)

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
