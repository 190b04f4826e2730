"""Sigma string and value semantics (Sigma specification, "Value types", "Wildcards", "Escaping")."""

from __future__ import annotations

import pytest

from tests.detection.conftest import rule_from


def test_case_insensitive_by_default() -> None:
    rule = rule_from("sel:\n  User: 'SYSTEM'\ncondition: sel")
    assert rule.matches({"User": "system"})
    assert not rule.matches({"User": "systemd"})


@pytest.mark.parametrize(
    ("pattern", "yes", "no"),
    [
        ("a*c", "abbbc", "abbbd"),
        ("a?c", "abc", "abbc"),
        ("*\\\\evil?.exe", "C:\\x\\evil1.exe", "C:\\x\\evil.exe"),
        ("a*b*c", "a1b2c", "a1c2b"),
    ],
)
def test_wildcards(pattern: str, yes: str, no: str) -> None:
    rule = rule_from(f"sel:\n  F: '{pattern}'\ncondition: sel")
    assert rule.matches({"F": yes})
    assert not rule.matches({"F": no})


@pytest.mark.parametrize(
    ("pattern", "yes", "no"),
    [
        ("a\\*c", "a*c", "abc"),  # escaped star is a literal star
        ("a\\?c", "a?c", "abc"),  # escaped question mark
        ("a\\\\*", "a\\anything", "ab"),  # escaped backslash, then a wildcard
        ("C:\\Windows\\x.exe", "c:\\windows\\x.exe", "c:\\windowsx.exe"),  # lone backslash is literal
    ],
)
def test_escapes(pattern: str, yes: str, no: str) -> None:
    rule = rule_from(f"sel:\n  F: '{pattern}'\ncondition: sel")
    assert rule.matches({"F": yes})
    assert not rule.matches({"F": no})


def test_null_means_missing_or_null_not_empty() -> None:
    rule = rule_from("sel:\n  ParentImage: null\ncondition: sel")
    assert rule.matches({"Image": "x"})
    assert rule.matches({"ParentImage": None})
    assert not rule.matches({"ParentImage": ""})


def test_empty_string_matches_only_empty() -> None:
    rule = rule_from("sel:\n  F: ''\ncondition: sel")
    assert rule.matches({"F": ""})
    assert not rule.matches({"F": None})
    assert not rule.matches({})


def test_number_against_string_and_int() -> None:
    rule = rule_from("sel:\n  EventID: 4688\ncondition: sel")
    assert rule.matches({"EventID": 4688})
    assert rule.matches({"EventID": "4688"})
    assert not rule.matches({"EventID": 4689})
    assert not rule.matches({"EventID": "44688"})


def test_string_number_against_int_event() -> None:
    rule = rule_from("sel:\n  EventID: '4688'\ncondition: sel")
    assert rule.matches({"EventID": 4688})
    assert not rule.matches({"EventID": 468})


def test_bool_values() -> None:
    rule = rule_from("sel:\n  Initiated: 'true'\ncondition: sel")
    assert rule.matches({"Initiated": True})
    assert rule.matches({"Initiated": "true"})
    assert not rule.matches({"Initiated": False})


def test_list_valued_field_matches_any_element() -> None:
    rule = rule_from("sel:\n  Data|contains: 'HostApplication=powershell'\ncondition: sel")
    assert rule.matches({"Data": ["NewEngineState=Available", "HostApplication=PowerShell -enc x"]})
    assert not rule.matches({"Data": ["NewEngineState=Available", "HostApplication=cmd"]})


def test_list_valued_field_with_all_may_use_different_elements() -> None:
    rule = rule_from("sel:\n  Data|contains|all: ['alpha', 'beta']\ncondition: sel")
    assert rule.matches({"Data": ["alpha", "beta"]})
    assert not rule.matches({"Data": ["alpha", "gamma"]})


def test_nested_event_read_by_dotted_name() -> None:
    rule = rule_from("sel:\n  user.name: 'alice'\ncondition: sel")
    assert rule.matches({"user": {"name": "Alice"}})
    assert rule.matches({"user.name": "alice"})
    assert not rule.matches({"user": {"id": "alice"}})


def test_keywords_search_all_values() -> None:
    rule = rule_from("keywords:\n  - 'mimikatz'\n  - 'sekurlsa'\ncondition: keywords")
    assert rule.matches({"A": "x", "B": "run Mimikatz now"})
    assert rule.matches({"C": ["y", "sekurlsa::logonpasswords"]})
    assert not rule.matches({"A": "mimi", "mimikatz": "field names are not searched"})


def test_keywords_with_wildcards() -> None:
    rule = rule_from("keywords:\n  - 'evil*payload'\ncondition: keywords")
    assert rule.matches({"A": "an evil big payload here"})
    assert not rule.matches({"A": "evil", "B": "payload"})


def test_keyword_all() -> None:
    rule = rule_from("keywords:\n  '|all':\n    - 'alpha'\n    - 'beta'\ncondition: keywords")
    assert rule.matches({"A": "alpha", "B": "beta"})
    assert not rule.matches({"A": "alpha"})


def test_field_names_are_case_sensitive() -> None:
    rule = rule_from("sel:\n  query|contains: '.'\ncondition: sel")
    assert rule.matches({"query": "a.b"})
    assert not rule.matches({"Query": "a.b"})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1", True),
        ("01", True),
        ("1.0", True),
        (1, True),
        ("11", False),
        ("10", False),
        ("", False),
        ("x", False),
    ],
)
def test_number_spellings(value: object, expected: bool) -> None:
    rule = rule_from("sel:\n  EventID: 1\ncondition: sel")
    assert rule.matches({"EventID": value}) is expected


def test_number_in_list_valued_field() -> None:
    rule = rule_from("sel:\n  Codes: 5\ncondition: sel")
    assert rule.matches({"Codes": [3, "5"]})
    assert not rule.matches({"Codes": [3, 55]})


def test_nested_objects_and_lists_of_objects() -> None:
    exists = rule_from("sel:\n  user|exists: true\ncondition: sel")
    assert exists.matches({"user": {"name": "a"}})
    assert not exists.matches({"other": 1})
    not_null = rule_from("sel:\n  user: null\ncondition: sel")
    assert not not_null.matches({"user": {"name": "a"}})
    listed = rule_from("sel:\n  data.fields.name: 'mobile'\ncondition: sel")
    assert listed.matches({"data": {"fields": [{"name": "resident_id"}, {"name": "MOBILE"}]}})
    assert not listed.matches({"data": {"fields": [{"name": "resident_id"}]}})


def test_empty_list_is_present_but_matches_no_value() -> None:
    assert rule_from("sel:\n  Data|exists: true\ncondition: sel").matches({"Data": []})
    assert not rule_from("sel:\n  Data: null\ncondition: sel").matches({"Data": []})
    assert not rule_from("sel:\n  Data|contains: ''\ncondition: sel").matches({"Data": []})
