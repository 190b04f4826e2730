"""Every value modifier, each with an event that matches and one that does not.

Sigma specification, appendix "Modifiers"; values as pySigma applies them (sigma.modifiers).
"""

from __future__ import annotations

import base64

import pytest

from tests.detection.conftest import load_yaml, rule_from


def test_contains() -> None:
    rule = rule_from("sel:\n  CommandLine|contains: 'mimikatz'\ncondition: sel")
    assert rule.matches({"CommandLine": "run MimiKatz.exe now"})
    assert not rule.matches({"CommandLine": "run mimi katz"})


def test_startswith() -> None:
    rule = rule_from("sel:\n  Image|startswith: 'C:\\Temp\\'\ncondition: sel")
    assert rule.matches({"Image": "c:\\temp\\x.exe"})
    assert not rule.matches({"Image": "D:\\c:\\temp\\x.exe"})


def test_endswith() -> None:
    rule = rule_from("sel:\n  Image|endswith: '\\cmd.exe'\ncondition: sel")
    assert rule.matches({"Image": "C:\\Windows\\System32\\CMD.EXE"})
    assert not rule.matches({"Image": "C:\\Windows\\System32\\cmd.exe.bak"})


def test_all_requires_every_value() -> None:
    rule = rule_from("sel:\n  CommandLine|contains|all: ['-enc', 'hidden']\ncondition: sel")
    assert rule.matches({"CommandLine": "powershell -w hidden -enc AAA"})
    assert not rule.matches({"CommandLine": "powershell -enc AAA"})


def test_list_without_all_is_or() -> None:
    rule = rule_from("sel:\n  Image|endswith: ['\\a.exe', '\\b.exe']\ncondition: sel")
    assert rule.matches({"Image": "x\\b.exe"})
    assert not rule.matches({"Image": "x\\c.exe"})


@pytest.mark.parametrize(
    ("modifiers", "value", "positive", "negative"),
    [
        ("re", "ab+c", "xxabbbcxx", "xxABBCxx"),  # unanchored, case-sensitive
        ("re|i", "ab+c", "xxABBCxx", "xxacxx"),
        ("re|m", "^line2$", "line1\nline2\nline3", "line1 line2"),
        ("re|s", "a.b", "a\nb", "a\n\nb"),
    ],
)
def test_re_flags(modifiers: str, value: str, positive: str, negative: str) -> None:
    rule = rule_from(f"sel:\n  F|{modifiers}: '{value}'\ncondition: sel")
    assert rule.matches({"F": positive})
    assert not rule.matches({"F": negative})


def test_re_is_unanchored() -> None:
    rule = rule_from("sel:\n  F|re: 'b'\ncondition: sel")
    assert rule.matches({"F": "abc"})


@pytest.mark.parametrize(
    ("network", "inside", "outside"),
    [
        ("10.0.0.0/8", "10.20.30.40", "11.0.0.1"),
        ("192.168.1.0/24", "192.168.1.255", "192.168.2.1"),
        ("fe80::/10", "fe80::1", "fec0::1"),
        ("2001:db8::/32", "2001:db8:1::5", "2001:db9::1"),
    ],
)
def test_cidr(network: str, inside: str, outside: str) -> None:
    rule = rule_from(f"sel:\n  DestinationIp|cidr: '{network}'\ncondition: sel")
    assert rule.matches({"DestinationIp": inside})
    assert not rule.matches({"DestinationIp": outside})
    assert not rule.matches({"DestinationIp": "not an address"})


def test_base64() -> None:
    rule = rule_from("sel:\n  Payload|base64: 'secret'\ncondition: sel")
    assert rule.matches({"Payload": base64.b64encode(b"secret").decode()})
    assert not rule.matches({"Payload": "secret"})


@pytest.mark.parametrize("prefix", [b"", b"a", b"ab"])
def test_base64offset_finds_value_at_every_offset(prefix: bytes) -> None:
    rule = rule_from("sel:\n  Payload|base64offset|contains: 'http://'\ncondition: sel")
    encoded = base64.b64encode(prefix + b"http://evil.example/x").decode()
    assert rule.matches({"Payload": encoded})


def test_base64offset_negative() -> None:
    rule = rule_from("sel:\n  Payload|base64offset|contains: 'http://'\ncondition: sel")
    assert not rule.matches({"Payload": base64.b64encode(b"ftp://nothing here").decode()})


@pytest.mark.parametrize(
    ("modifier", "encoding"), [("wide", "utf-16le"), ("utf16le", "utf-16le"), ("utf16be", "utf-16be")]
)
def test_utf16_family(modifier: str, encoding: str) -> None:
    rule = rule_from(f"sel:\n  Payload|{modifier}|base64offset|contains: 'cmd'\ncondition: sel")
    assert rule.matches({"Payload": base64.b64encode("run cmd now".encode(encoding)).decode()})
    assert not rule.matches({"Payload": base64.b64encode("run sh now".encode(encoding)).decode()})


def test_utf16_with_bom() -> None:
    rule = rule_from("sel:\n  Payload|utf16|base64: 'ab'\ncondition: sel")
    assert rule.matches({"Payload": base64.b64encode("\ufeffab".encode("utf-16le")).decode()})
    assert not rule.matches({"Payload": base64.b64encode(b"ab").decode()})


@pytest.mark.parametrize("dash", ["-", "/", "\u2013", "\u2014", "\u2015"])
def test_windash_variants(dash: str) -> None:
    rule = rule_from("sel:\n  CommandLine|windash|contains: ' -exec '\ncondition: sel")
    assert rule.matches({"CommandLine": f"tool.exe {dash}exec bypass"})


def test_windash_negative_and_all_stays_or_within_expansion() -> None:
    rule = rule_from("sel:\n  CommandLine|windash|contains|all: [' -a ', ' -b ']\ncondition: sel")
    assert rule.matches({"CommandLine": "t /a -b x"})
    assert not rule.matches({"CommandLine": "t /a x"})


def test_exists() -> None:
    present = rule_from("sel:\n  ParentImage|exists: true\ncondition: sel")
    absent = rule_from("sel:\n  ParentImage|exists: false\ncondition: sel")
    assert present.matches({"ParentImage": ""})
    assert not present.matches({"Image": "x"})
    assert not present.matches({"ParentImage": None})
    assert absent.matches({"Image": "x"})
    assert not absent.matches({"ParentImage": "x"})


@pytest.mark.parametrize(
    ("modifier", "limit", "yes", "no"),
    [("lt", 10, 9, 10), ("lte", 10, 10, 11), ("gt", 10, 11, 10), ("gte", 10, 10, 9)],
)
def test_numeric_comparisons(modifier: str, limit: int, yes: int, no: int) -> None:
    rule = rule_from(f"sel:\n  data.records|{modifier}: {limit}\ncondition: sel")
    assert rule.matches({"data.records": yes})
    assert rule.matches({"data.records": str(yes)})
    assert not rule.matches({"data.records": no})
    assert not rule.matches({"data.records": "many"})


def test_neq_negates_the_item() -> None:
    rule = rule_from("sel:\n  Status|neq: 'ok'\n  Kind: 'x'\ncondition: sel")
    assert rule.matches({"Status": "failed", "Kind": "x"})
    assert not rule.matches({"Status": "OK", "Kind": "x"})


def test_cased() -> None:
    rule = rule_from("sel:\n  Name|cased: 'Admin'\ncondition: sel")
    assert rule.matches({"Name": "Admin"})
    assert not rule.matches({"Name": "admin"})


def test_cased_with_wildcard() -> None:
    rule = rule_from("sel:\n  Name|cased|contains: 'Adm'\ncondition: sel")
    assert rule.matches({"Name": "xAdmy"})
    assert not rule.matches({"Name": "xadmy"})


@pytest.mark.parametrize(
    ("modifiers", "positive", "negative"),
    [
        ("fieldref", {"A": "Bob", "B": "bob"}, {"A": "bob", "B": "alice"}),
        ("fieldref|startswith", {"A": "bobby", "B": "bob"}, {"A": "xbob", "B": "bob"}),
        ("fieldref|endswith", {"A": "xbob", "B": "bob"}, {"A": "bobby", "B": "bob"}),
        ("fieldref|contains", {"A": "xbobx", "B": "bob"}, {"A": "xbox", "B": "bob"}),
    ],
)
def test_fieldref(modifiers: str, positive: dict[str, str], negative: dict[str, str]) -> None:
    rule = rule_from(f"sel:\n  A|{modifiers}: B\ncondition: sel")
    assert rule.matches(positive)
    assert not rule.matches(negative)
    assert not rule.matches({"A": "bob"})  # the referenced field is missing


def test_expand_from_config() -> None:
    rule = rule_from("sel:\n  Computer|expand: '%dc%'\ncondition: sel", config={"dc": "DC01"})
    assert rule.matches({"Computer": "dc01"})
    assert not rule.matches({"Computer": "DC02"})


def test_expand_unfilled_placeholder_fails_that_rule_only() -> None:
    result = load_yaml(
        """
        title: needs placeholder
        logsource: {product: test}
        detection:
            sel:
                Computer|expand: '%domain_controllers%'
            condition: sel
        ---
        title: plain
        logsource: {product: test}
        detection:
            sel:
                Computer: x
            condition: sel
        """
    )
    assert [r.title for r in result.rules] == ["plain"]
    assert len(result.errors) == 1
    assert "domain_controllers" in result.errors[0].reason


@pytest.mark.parametrize(
    ("modifier", "value", "yes", "no"),
    [
        ("hour", 23, "2024-05-01T23:10:00Z", "2024-05-01T22:59:59Z"),
        ("minute", 5, "2024-05-01T23:05:00+08:00", "2024-05-01T23:06:00+08:00"),
        ("day", 1, "2024-05-01T00:00:00Z", "2024-05-02T00:00:00Z"),
        ("month", 5, "2024-05-01T00:00:00Z", "2024-06-01T00:00:00Z"),
        ("year", 2024, "2024-05-01T00:00:00Z", "2025-05-01T00:00:00Z"),
        ("week", 18, "2024-05-01T00:00:00Z", "2024-05-08T00:00:00Z"),
    ],
)
def test_timestamp_parts(modifier: str, value: int, yes: str, no: str) -> None:
    rule = rule_from(f"sel:\n  '@timestamp|{modifier}': {value}\ncondition: sel")
    assert rule.matches({"@timestamp": yes})
    assert not rule.matches({"@timestamp": no})
    assert not rule.matches({"@timestamp": "yesterday"})
