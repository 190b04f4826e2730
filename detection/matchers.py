"""Build fast Python closures from IR nodes (`detection.ir`).

A matcher takes the two views of one event (`detection.view.build_view`): `raw` (original case) and
`low` (lowered), and answers True or False. Closures, not an interpreter loop: each leaf captures its
field name and precomputed pattern, and same-shape leaves under one OR (a Sigma value list such as
`Image|endswith: [...]`) are merged into one `str.endswith(tuple)`, one set lookup or one
Aho-Corasick automaton, so a 1,000-value list costs one call.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import lru_cache

import ahocorasick

from detection.ir import (
    And,
    Bool,
    Cidr,
    Compare,
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
    StrKind,
    TimePart,
)
from detection.literals import required_literal
from detection.view import FieldValue, View

Matcher = Callable[[View, View], bool]

#: Above this many `contains` literals in one list, an Aho-Corasick automaton beats a Python loop.
AUTOMATON_MIN = 12
_MERGEABLE = ("eq", "prefix", "suffix", "contains")


def _values(view: View) -> Iterator[str]:
    for value in view.values():
        if value.__class__ is str:
            yield value
        else:
            yield from value


def _any_value(value: FieldValue, test: Callable[[str], bool]) -> bool:
    if value.__class__ is str:
        return test(value)
    return any(test(v) for v in value)


def _str_test(node: Str) -> Callable[[str], bool]:
    """A predicate on one string, already lowered unless the node is cased."""
    texts = node.texts
    if node.field is None and node.kind != "glob":
        # Keywords search anywhere inside every value (full-text semantics).
        if node.kind == "any":
            return lambda v: True
        return _contains_test(texts)
    if node.kind == "eq":
        if len(texts) == 1:
            text = texts[0]
            return text.__eq__
        return frozenset(texts).__contains__
    if node.kind == "prefix":
        return lambda v: v.startswith(texts)
    if node.kind == "suffix":
        return lambda v: v.endswith(texts)
    if node.kind == "contains":
        return _contains_test(texts)
    if node.kind == "any":
        return lambda v: True
    pattern = re.compile(node.regex, re.DOTALL)
    if node.field is None:
        return lambda v: pattern.search(v) is not None
    return lambda v: pattern.fullmatch(v) is not None


def _contains_test(texts: tuple[str, ...]) -> Callable[[str], bool]:
    if len(texts) == 1:
        text = texts[0]
        return lambda v: text in v
    if len(texts) < AUTOMATON_MIN:
        return lambda v: any(t in v for t in texts)
    automaton = ahocorasick.Automaton()
    for text in texts:
        automaton.add_word(text, text)
    automaton.make_automaton()
    # Lists of non-ASCII literals (emoji, homoglyphs) cannot occur in an ASCII value: skip the scan.
    only_non_ascii = all(not text.isascii() for text in texts)

    def test(v: str) -> bool:
        if only_non_ascii and v.isascii():
            return False
        for _ in automaton.iter(v):
            return True
        return False

    return test


def _field_matcher(field: str | None, test: Callable[[str], bool], *, cased: bool) -> Matcher:
    if field is None:
        if cased:
            return lambda raw, low: any(test(v) for v in _values(raw))
        return lambda raw, low: any(test(v) for v in _values(low))

    def on_raw(raw: View, low: View) -> bool:
        value = raw.get(field)
        if value is None:
            return False
        if value.__class__ is str:
            return test(value)
        return any(test(v) for v in value)

    def on_low(raw: View, low: View) -> bool:
        value = low.get(field)
        if value is None:
            return False
        if value.__class__ is str:
            return test(value)
        return any(test(v) for v in value)

    return on_raw if cased else on_low


def _num_test(number: int | float) -> Callable[[str], bool]:
    text = str(number)

    def test(v: str) -> bool:
        if v == text:
            return True
        try:
            return float(v) == number
        except ValueError:
            return False

    return test


@lru_cache(maxsize=4096)
def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _to_float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "neq": lambda a, b: a != b,
}


@lru_cache(maxsize=4096)
def _timestamp(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return None


_TIME_PARTS: dict[str, Callable[[datetime], int]] = {
    "minute": lambda t: t.minute,
    "hour": lambda t: t.hour,
    "day": lambda t: t.day,
    "week": lambda t: t.isocalendar().week,
    "month": lambda t: t.month,
    "year": lambda t: t.year,
}


def _time_part(node: TimePart) -> Matcher:
    part, number = _TIME_PARTS[node.unit], node.number

    def test(v: str) -> bool:
        moment = _timestamp(v)
        return moment is not None and part(moment) == number

    return _field_matcher(node.field, test, cased=True)


def _fieldref(node: FieldRef) -> Matcher:
    field, other, starts, ends = node.field, node.other, node.starts, node.ends

    def pair(a: str, b: str) -> bool:
        if starts and ends:
            return b in a
        if starts:
            return a.startswith(b)
        if ends:
            return a.endswith(b)
        return a == b

    def match(raw: View, low: View) -> bool:
        mine, theirs = low.get(field), low.get(other)
        if mine is None or theirs is None:
            return False
        mine_t = (mine,) if mine.__class__ is str else mine
        theirs_t = (theirs,) if theirs.__class__ is str else theirs
        return any(pair(a, b) for a in mine_t for b in theirs_t)

    return match


def _regex_test(node: Regex) -> Callable[[str], bool]:
    """`|re`: an unanchored search, after a substring test for the literal every match contains."""
    search = re.compile(node.pattern, node.flags).search
    needed = required_literal(node.pattern, node.flags)
    if needed is None:
        return lambda v: search(v) is not None
    text, ignores_case = needed
    if ignores_case and text.lower() != text.upper():
        # Case-insensitive letters: Unicode folding (`ſ` matches `s`) makes a substring test unsafe.
        return lambda v: search(v) is not None
    return lambda v: text in v and search(v) is not None


def _leaf(node: Node) -> Matcher:
    if isinstance(node, Str):
        return _field_matcher(node.field, _str_test(node), cased=node.cased)
    if isinstance(node, Regex):
        return _field_matcher(node.field, _regex_test(node), cased=True)
    if isinstance(node, Num):
        if node.field is None:
            text = str(node.number)
            return _field_matcher(None, lambda v: text in v, cased=False)
        return _field_matcher(node.field, _num_test(node.number), cased=False)
    if isinstance(node, Bool):
        text = "true" if node.value else "false"
        return _field_matcher(node.field, text.__eq__, cased=False)
    if isinstance(node, Null):
        field = node.field
        return lambda raw, low: field not in raw
    if isinstance(node, Exists):
        field, wanted = node.field, node.value
        return lambda raw, low: (field in raw) is wanted
    if isinstance(node, Cidr):
        network = node.network

        def in_network(v: str) -> bool:
            address = _ip(v)
            return address is not None and address.version == network.version and address in network

        return _field_matcher(node.field, in_network, cased=True)
    if isinstance(node, Compare):
        compare, number = _COMPARE[node.op], node.number

        def numeric(v: str) -> bool:
            value = _to_float(v)
            return value is not None and compare(value, number)

        return _field_matcher(node.field, numeric, cased=True)
    if isinstance(node, FieldRef):
        return _fieldref(node)
    if isinstance(node, TimePart):
        return _time_part(node)
    if isinstance(node, Const):
        constant = node.value
        return lambda raw, low: constant
    raise TypeError(f"not a leaf: {node!r}")


def merge_or(children: tuple[Node, ...]) -> list[Node]:
    """Merge same-field, same-shape string leaves of an OR into one leaf with several texts."""
    groups: dict[tuple[str | None, StrKind, bool], list[str]] = {}
    out: list[Node] = []
    order: list[tuple[str | None, StrKind, bool]] = []
    for child in children:
        if isinstance(child, Str) and child.kind in _MERGEABLE:
            key = (child.field, child.kind, child.cased)
            if key not in groups:
                groups[key] = []
                order.append(key)
            groups[key].extend(child.texts)
        else:
            out.append(child)
    merged: list[Node] = [
        Str(field, kind, tuple(dict.fromkeys(groups[(field, kind, cased)])), cased)
        for field, kind, cased in order
    ]
    return merged + out


def build(node: Node) -> Matcher:
    """Turn an IR tree into one matcher closure."""
    if isinstance(node, And):
        parts = [build(child) for child in node.children]
        if not parts:
            return lambda raw, low: True
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2:
            a, b = parts
            return lambda raw, low: a(raw, low) and b(raw, low)
        return lambda raw, low: all(p(raw, low) for p in parts)
    if isinstance(node, Or):
        parts = [build(child) for child in merge_or(node.children)]
        if not parts:
            return lambda raw, low: False
        if len(parts) == 1:
            return parts[0]
        if len(parts) == 2:
            a, b = parts
            return lambda raw, low: a(raw, low) or b(raw, low)
        return lambda raw, low: any(p(raw, low) for p in parts)
    if isinstance(node, Not):
        inner = build(node.child)
        return lambda raw, low: not inner(raw, low)
    return _leaf(node)
