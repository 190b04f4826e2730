"""The literal a regular expression's matches must contain, and the `|re` prefilter built on it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection import ir
from detection.engine import LoadResult
from detection.literals import required_literal
from detection.matchers import _regex_test


@pytest.mark.parametrize(
    ("pattern", "flags", "expected"),
    [
        (r"\w+`(?:\w+|-|.)`[\w+|\s]", 0, ("`", False)),
        (r'"(?:\{\d\})+"\s*-f', 0, ("-f", False)),
        (r"(?i)\$\{`?e`?n`?v", 0, ("${", True)),
        (r"abc|def", 0, None),  # a top-level alternation: no literal every match has
        (r"(unclosed", 0, None),
        (r"x y  # comment", re.VERBOSE, ("xy", False)),
    ],
)
def test_required_literal(pattern: str, flags: int, expected: tuple[str, bool] | None) -> None:
    assert required_literal(pattern, flags) == expected


def _agree(pattern: str, flags: int, value: str) -> None:
    test = _regex_test(ir.Regex("f", pattern, flags))
    assert test(value) == (re.search(pattern, value, flags) is not None), (pattern, value)


PATTERNS = [
    (r"\w+`(?:\w+|-|.)`[\w+|\s]", 0),
    (r"(?i)IN`?V`?OKE", 0),  # letters, case-insensitive: searched without the prefilter
    (r"(?i)\$\{`?e`?n`?v`?:`?p`?a`?t`?h`?\}", 0),
    (r"ab+c-f", 0),
    (r"k\u212a", re.IGNORECASE),
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PATTERNS), st.text("abcKk\u212a`{}$-fenvINVOKE ", max_size=16))
def test_prefilter_never_changes_the_answer(pattern: tuple[str, int], value: str) -> None:
    _agree(pattern[0], pattern[1], value)


@pytest.mark.slow
def test_prefilter_agrees_on_every_sigmahq_regex_and_dev_value(
    sigma_rules: LoadResult, dev_events: list[dict[str, Any]]
) -> None:
    patterns: set[tuple[str, int]] = set()

    def walk(node: ir.Node) -> None:
        if isinstance(node, (ir.And, ir.Or)):
            for child in node.children:
                walk(child)
        elif isinstance(node, ir.Not):
            walk(node.child)
        elif isinstance(node, ir.Regex):
            patterns.add((node.pattern, node.flags))

    for rule in sigma_rules.rules:
        walk(rule.node)
    assert len(patterns) > 100
    values = sorted({v for e in dev_events for v in e.values() if isinstance(v, str) and len(v) > 3})[:3000]
    for pattern, flags in sorted(patterns):
        test, search = _regex_test(ir.Regex("f", pattern, flags)), re.compile(pattern, flags).search
        assert [v for v in values if test(v)] == [v for v in values if search(v)], pattern
