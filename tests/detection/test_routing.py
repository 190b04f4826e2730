"""Logsource routing by the Channel and EventID values a rule's condition requires."""

from __future__ import annotations

import pytest

from detection.engine import Engine
from detection.routing import RoutedIndex, canonical, constraints
from detection.view import build_view
from tests.detection.conftest import rule_from

SYSMON = "microsoft-windows-sysmon/operational"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("4688", "4688"), ("04688", "4688"), ("4688.0", "4688"), ("1.50", "1.5"), ("Security", "Security")],
)
def test_canonical(text: str, expected: str) -> None:
    assert canonical(text) == expected


def test_constraints_from_and_or() -> None:
    rule = rule_from(
        f"sel:\n  Channel: '{SYSMON}'\n  EventID: [1, 4688]\n  Image|endswith: '\\\\x.exe'\ncondition: sel"
    )
    assert constraints(rule.node) == {"Channel": frozenset({SYSMON}), "EventID": frozenset({"1", "4688"})}
    either = rule_from("a:\n  EventID: 1\nb:\n  EventID: 2\n  Channel: x\ncondition: a or b")
    assert constraints(either.node) == {"EventID": frozenset({"1", "2"})}  # Channel only on one side
    negated = rule_from("a:\n  EventID: 1\ncondition: not a")
    assert constraints(negated.node) == {}


def test_routed_candidates_are_exact() -> None:
    pinned = rule_from(
        f"sel:\n  Channel: '{SYSMON}'\n  EventID: 1\n  Image|endswith: '\\\\cmd.exe'\ncondition: sel"
    )
    free = rule_from("sel:\n  Image|endswith: '\\\\cmd.exe'\ncondition: sel")
    index = RoutedIndex([pinned.node, free.node])
    sysmon_1 = {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Image": "a\\cmd.exe"}
    assert index.candidates(build_view(sysmon_1)[1]) == [0, 1]
    assert index.candidates(build_view({**sysmon_1, "EventID": "01"})[1]) == [0, 1]
    assert index.candidates(build_view({**sysmon_1, "EventID": 11})[1]) == [1]
    assert index.candidates(build_view({"Image": "a\\cmd.exe"})[1]) == [1]  # no Channel: pinned rule out
    assert index.candidates(build_view({**sysmon_1, "EventID": [11, 1]})[1]) == [0, 1]  # list: any element
    assert index.partitions == 2  # by rule subset: {pinned} and {}


def test_engine_with_routing_equals_naive() -> None:
    rules = [
        rule_from(
            f"sel:\n  Channel: '{SYSMON}'\n  EventID: 1\n  Image|endswith: '\\\\cmd.exe'\ncondition: sel"
        ),
        rule_from("sel:\n  EventID: 4688\n  CommandLine|contains: 'whoami'\ncondition: sel"),
        rule_from("sel:\n  EventID: 4688\ncondition: not sel"),
        rule_from("keywords:\n  - 'whoami'\ncondition: keywords"),
    ]
    engine = Engine(rules)
    events = [
        {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Image": "c:\\CMD.exe"},
        {"Channel": "Security", "EventID": 4688, "CommandLine": "WHOAMI /all"},
        {"Channel": "Security", "EventID": "4688.0", "CommandLine": "whoami"},
        {"Channel": "Security", "EventID": 4624},
        {"CommandLine": "whoami"},
    ]
    for event in events:
        assert engine.match(event) == engine.match_naive(event), event
