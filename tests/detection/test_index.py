"""The candidate index never loses a match, and narrows the candidates."""

from __future__ import annotations

from typing import Any

import pytest

from detection import ir
from detection.engine import Engine, LoadResult
from detection.index import CandidateIndex, clauses, need, regex_literal
from detection.view import build_view
from tests.detection.conftest import rule_from


def test_need_of_and_picks_one_child_or_unions() -> None:
    rule = rule_from(
        "sel:\n  Image|endswith: '\\\\rundll32.exe'\n  CommandLine|contains: ['abc', 'xyz']\ncondition: sel"
    )
    assert need(rule.node) == frozenset({("sub", "Image", "\\rundll32.exe")})
    either = rule_from("a:\n  A: 'alpha'\nb:\n  B|contains: 'beta'\ncondition: a or b")
    assert need(either.node) == frozenset({("eq", "A", "alpha"), ("sub", "B", "beta")})


def test_unindexable_nodes() -> None:
    assert need(rule_from("sel:\n  A: 'a'\ncondition: not sel").node) is None
    assert need(rule_from("sel:\n  A: null\ncondition: sel").node) is None
    assert need(ir.Const(False)) == frozenset()


def test_short_literals_fall_back_to_field_presence() -> None:
    assert need(rule_from("sel:\n  A|contains: 'ab'\ncondition: sel").node) == frozenset({("has", "A", "")})
    assert need(rule_from("sel:\n  A|exists: false\ncondition: sel").node) is None


def test_and_keeps_several_clauses() -> None:
    rule = rule_from(
        "sel:\n  EventID: 4688\n  Image|endswith: '\\\\x.exe'\n  CommandLine|re: 'q'\ncondition: sel"
    )
    assert set(clauses(rule.node)) == {
        frozenset({("sub", "EventID", "4688")}),
        frozenset({("sub", "Image", "\\x.exe")}),
        frozenset({("has", "CommandLine", "")}),
    }
    index = CandidateIndex([rule.node])
    assert index.candidates(build_view({"EventID": 4688, "Image": "a\\x.exe", "CommandLine": "q"})[1]) == [0]
    # Field presence is only a fallback clause: not indexed when literal clauses exist.
    assert index.candidates(build_view({"EventID": 4688, "Image": "a\\x.exe"})[1]) == [0]
    assert index.candidates(build_view({"EventID": 4688, "CommandLine": "q"})[1]) == []
    assert index.candidates(build_view({"EventID": 1, "Image": "a\\x.exe", "CommandLine": "q"})[1]) == []


def test_regex_literal() -> None:
    assert regex_literal(r"abc[0-9]+Defgh(x|y)", 0) == "defgh"
    assert regex_literal(r"(a|b)c", 0) is None
    assert regex_literal(r"(unclosed", 0) is None


def test_keyword_and_list_valued_candidates() -> None:
    keyword = rule_from("keywords:\n  - 'mimikatz'\ncondition: keywords")
    listed = rule_from("sel:\n  Data|contains: 'hostapplication'\ncondition: sel")
    index = CandidateIndex([keyword.node, listed.node])
    _, low = build_view({"X": "Mimikatz!", "Data": ["a", "HostApplication=x"]})
    assert index.candidates(low) == [0, 1]
    _, low = build_view({"X": "nothing"})
    assert index.candidates(low) == []


def test_engine_equals_naive_on_crafted_events() -> None:
    rules = [
        rule_from("sel:\n  EventID: 4688\ncondition: sel"),
        rule_from(
            "sel:\n  Image|endswith: ['\\\\a.exe', '\\\\b.exe']\nf:\n  User: x\ncondition: sel and not f"
        ),
        rule_from("sel:\n  A|re: 'ev[i1]l'\ncondition: sel"),
    ]
    engine = Engine(rules)
    events = [
        {"EventID": "4688"},
        {"EventID": 4688.0},
        {"Image": "c:\\B.EXE"},
        {"Image": "c:\\B.EXE", "User": "X"},
        {"A": "very ev1l"},
        {"A": "EVIL"},
    ]
    for event in events:
        assert engine.match(event) == engine.match_naive(event), event


@pytest.mark.slow
def test_index_loses_nothing_on_dev_events(sigma_rules: LoadResult, dev_events: list[dict[str, Any]]) -> None:
    # Every 25th event against every SigmaHQ rule without the index: the naive side is slow.
    engine = Engine(sigma_rules.rules)
    assert engine.index.always < 100
    for event in dev_events[::25]:
        assert engine.match(event) == engine.match_naive(event)
