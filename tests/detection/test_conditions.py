"""Condition forms (Sigma specification, "Condition"), each with a matching and a non-matching event."""

from __future__ import annotations

import pytest

from tests.detection.conftest import rule_from

SELECTIONS = """
sel_a:
  A: 'a'
sel_b:
  B: 'b'
filter_c:
  C: 'c'
_private:
  D: 'd'
"""


def _rule(condition: str):  # type: ignore[no-untyped-def]
    return rule_from(SELECTIONS + f"condition: {condition}")


@pytest.mark.parametrize(
    ("condition", "yes", "no"),
    [
        ("sel_a and sel_b", {"A": "a", "B": "b"}, {"A": "a"}),
        ("sel_a or sel_b", {"B": "b"}, {"C": "c"}),
        ("not sel_a", {"A": "x"}, {"A": "a"}),
        ("sel_a and not filter_c", {"A": "a"}, {"A": "a", "C": "c"}),
        ("sel_a and (sel_b or filter_c)", {"A": "a", "C": "c"}, {"A": "a", "D": "d"}),
        ("(sel_a and sel_b) or filter_c", {"C": "c"}, {"A": "a"}),
        ("not (sel_a or sel_b)", {"C": "c"}, {"B": "b"}),
        ("1 of sel_*", {"B": "b"}, {"C": "c"}),
        ("any of sel_*", {"A": "a"}, {"C": "c"}),
        ("all of sel_*", {"A": "a", "B": "b"}, {"A": "a", "C": "c"}),
        ("1 of sel_* and not 1 of filter_*", {"A": "a"}, {"A": "a", "C": "c"}),
        ("1 of them", {"C": "c"}, {"D": "d"}),  # _private is not part of `them`
        ("all of them", {"A": "a", "B": "b", "C": "c"}, {"A": "a", "B": "b"}),
        (
            "all of them and _private",
            {"A": "a", "B": "b", "C": "c", "D": "d"},
            {"A": "a", "B": "b", "C": "c"},
        ),
    ],
)
def test_condition(condition: str, yes: dict[str, str], no: dict[str, str]) -> None:
    rule = _rule(condition)
    assert rule.matches(yes)
    assert not rule.matches(no)


def test_all_of_them_ignores_underscore_identifiers() -> None:
    rule = _rule("all of them")
    assert rule.matches({"A": "a", "B": "b", "C": "c"})  # D (in _private) not required


def test_map_items_are_and_and_list_of_maps_is_or() -> None:
    rule = rule_from(
        """
        sel:
          - A: 'a'
            B: 'b'
          - C: 'c'
        condition: sel
        """
    )
    assert rule.matches({"A": "a", "B": "b"})
    assert rule.matches({"C": "c"})
    assert not rule.matches({"A": "a"})


def test_not_of_missing_field_is_true() -> None:
    rule = rule_from("sel:\n  A: 'a'\nfilter:\n  Z: 'z'\ncondition: sel and not filter")
    assert rule.matches({"A": "a"})
    assert not rule.matches({"A": "a", "Z": "Z"})


def test_operator_precedence_not_and_or() -> None:
    # `not` binds tighter than `and`, which binds tighter than `or`.
    rule = _rule("sel_a or sel_b and not filter_c")
    assert rule.matches({"A": "a", "C": "c"})
    assert not rule.matches({"B": "b", "C": "c"})


def test_list_of_conditions_is_or() -> None:
    rule = rule_from(SELECTIONS + "condition:\n  - sel_a and sel_b\n  - filter_c")
    assert rule.matches({"C": "c"})
    assert rule.matches({"A": "a", "B": "b"})
    assert not rule.matches({"A": "a"})
