"""Property tests: the index and the generated code agree with the plain closures on random events."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from detection.engine import Engine
from detection.matchers import build
from detection.view import build_view
from tests.detection.conftest import rule_from

RULES = [
    rule_from("sel:\n  Image|endswith: ['\\\\cmd.exe', '\\\\pwsh.exe']\n  EventID: 1\ncondition: sel"),
    rule_from(
        "sel:\n  CommandLine|contains|all: ['-enc', 'hid']\nf:\n  User: 'sys'\ncondition: sel and not f"
    ),
    rule_from("a:\n  Image|startswith: 'c:\\\\tmp'\nb:\n  CommandLine|re: 'ab+c'\ncondition: 1 of them"),
    rule_from("sel:\n  CommandLine|contains: ['xyz', 'evil', 'ab']\ncondition: sel"),
    rule_from("keywords:\n  - 'mimi'\ncondition: keywords"),
    rule_from("sel:\n  User: null\n  EventID|gt: 3\ncondition: sel"),
    rule_from("sel:\n  Image|fieldref: CommandLine\ncondition: sel"),
]
ALPHABET = "abcEVILximhd\\:.-0123 pwsxyzcmdtp"
values = st.one_of(
    st.text(ALPHABET, max_size=12),
    st.integers(-2, 12),
    st.none(),
    st.lists(st.text(ALPHABET, max_size=8), max_size=3),
)
events = st.dictionaries(st.sampled_from(["Image", "CommandLine", "User", "EventID", "Other"]), values)


@settings(max_examples=400, deadline=None)
@given(events)
def test_index_and_codegen_agree_with_closures(event: dict[str, object]) -> None:
    engine = Engine(RULES)
    raw, low = build_view(event)
    expected = [rule for rule in RULES if build(rule.node)(raw, low)]
    assert [rule for rule in RULES if rule.matcher(raw, low)] == expected
    assert engine.match(event) == expected
