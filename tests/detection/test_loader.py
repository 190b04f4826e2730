"""Loading: per-rule errors with location, Sigma filters, correlation hand-over, directories."""

from __future__ import annotations

from pathlib import Path

import pytest
from sigma.correlations import SigmaCorrelationRule

from detection.engine import Engine, RuleSet
from detection.errors import DetectionError, RuleLoadError
from detection.pipelines import resolve_pipeline

GOOD = """\
title: good rule
id: 0c7f9d3c-1111-4aaa-8aaa-000000000001
name: good_rule
level: high
tags: [attack.t1059]
logsource: {product: windows, category: process_creation}
detection:
    sel:
        Image|endswith: '\\\\cmd.exe'
    condition: sel
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_metadata_of_compiled_rule(tmp_path: Path) -> None:
    result = RuleSet.load([_write(tmp_path, "good.yml", GOOD)], pipeline=None)
    (rule,) = result.rules
    assert (rule.id, rule.name, rule.title, rule.level) == (
        "0c7f9d3c-1111-4aaa-8aaa-000000000001",
        "good_rule",
        "good rule",
        "high",
    )
    assert rule.tags == ("attack.t1059",)
    assert rule.logsource.category == "process_creation"
    assert rule.source == tmp_path / "good.yml"
    assert result.rule("good_rule") is rule
    assert rule.matches({"Image": "C:\\Windows\\System32\\cmd.exe"})


def test_broken_rules_do_not_stop_the_others(tmp_path: Path) -> None:
    _write(tmp_path, "a_good.yml", GOOD)
    _write(tmp_path, "b_yaml.yml", "title: x\ndetection:\n  sel: [unclosed\n")
    _write(tmp_path, "c_modifier.yml", GOOD.replace("Image|endswith", "Image|nosuchmodifier"))
    _write(tmp_path, "d_condition.yml", GOOD.replace("condition: sel", "condition: sel and missing"))
    _write(tmp_path, "e_regex.yml", GOOD.replace("Image|endswith: '\\\\cmd.exe'", "Image|re: '(unclosed'"))
    result = RuleSet.load([tmp_path], pipeline=None)
    assert [r.title for r in result.rules] == ["good rule"]
    by_file = {e.file.name if e.file else "": e for e in result.errors}
    assert set(by_file) == {"b_yaml.yml", "c_modifier.yml", "d_condition.yml", "e_regex.yml"}
    assert by_file["b_yaml.yml"].line == 4
    assert "YAML" in by_file["b_yaml.yml"].reason
    assert "nosuchmodifier" in by_file["c_modifier.yml"].reason
    assert by_file["c_modifier.yml"].line == 9  # located from the quoted name: pySigma gives no line
    assert by_file["e_regex.yml"].line == 9
    assert "missing" in by_file["d_condition.yml"].reason
    assert all(isinstance(e, DetectionError) for e in result.errors)
    assert str(by_file["b_yaml.yml"]).startswith(str(tmp_path / "b_yaml.yml") + ":4: ")


def test_unreadable_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "binary.yml"
    path.write_bytes(b"\xff\xfe\x00bad")
    result = RuleSet.load([path], pipeline=None)
    assert result.rules == ()
    assert result.errors[0].file == path


def test_rule_load_error_location() -> None:
    error = RuleLoadError(Path("r.yml"), 7, "bad")
    assert str(error) == "r.yml:7: bad"
    assert RuleLoadError(None, None, "bad").location == "<input>"


def test_tests_files_are_not_rules(tmp_path: Path) -> None:
    _write(tmp_path, "good.yml", GOOD)
    _write(tmp_path, "good.tests.yml", "positive: []\n")
    result = RuleSet.load([tmp_path], pipeline=None)
    assert len(result.rules) == 1
    assert result.errors == ()


def test_sigma_filter_applies_to_its_rule(tmp_path: Path) -> None:
    _write(tmp_path, "good.yml", GOOD)
    _write(
        tmp_path,
        "filter.yml",
        """\
title: ignore admin tools
logsource: {product: windows, category: process_creation}
filter:
    rules:
        - good_rule
    selection:
        ParentImage|endswith: '\\\\admin_tool.exe'
    condition: not selection
""",
    )
    (rule,) = RuleSet.load([tmp_path], pipeline=None).rules
    assert rule.matches({"Image": "x\\cmd.exe", "ParentImage": "x\\explorer.exe"})
    assert not rule.matches({"Image": "x\\cmd.exe", "ParentImage": "x\\admin_tool.exe"})


def test_correlations_are_handed_over_with_their_base_rules(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "corr.yml",
        GOOD
        + """\
---
title: many cmd
id: 0c7f9d3c-1111-4aaa-8aaa-000000000002
correlation:
    type: event_count
    rules:
        - good_rule
    group-by:
        - Computer
    timespan: 5m
    condition:
        gte: 3
""",
    )
    result = RuleSet.load([tmp_path], pipeline=None)
    (correlation,) = result.correlations
    assert isinstance(correlation, SigmaCorrelationRule)
    referenced = correlation.rules[0].rule
    assert result.rule(str(referenced.id)).name == "good_rule"
    assert result.rule("good_rule").output is False  # generate: false (the default)


def test_correlation_with_unknown_rule_is_an_error(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "corr.yml",
        """\
title: dangling
correlation:
    type: event_count
    rules: [no_such_rule]
    group-by: [Computer]
    timespan: 5m
    condition: {gte: 3}
""",
    )
    result = RuleSet.load([tmp_path], pipeline=None)
    assert result.correlations == ()
    assert "no_such_rule" in result.errors[0].reason


def test_pipeline_adds_logsource_conditions(tmp_path: Path) -> None:
    path = _write(tmp_path, "good.yml", GOOD)
    plain = RuleSet.load([path], pipeline=None).rules[0]
    sysmon = RuleSet.load([path], pipeline=resolve_pipeline("sysmon")).rules[0]
    security_4688 = {"Channel": "Security", "EventID": 4688, "Image": "x\\cmd.exe"}
    sysmon_1 = {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Image": "x\\cmd.exe"}
    assert plain.matches(security_4688)
    assert plain.matches(sysmon_1)
    assert not sysmon.matches(security_4688)
    assert sysmon.matches(sysmon_1)
    assert Engine([sysmon]).match(sysmon_1) == [sysmon]


def test_unknown_pipeline_lists_known_names() -> None:
    with pytest.raises(DetectionError, match=r"unknown pipeline 'nope'; known: .*none.*sysmon"):
        resolve_pipeline("nope")


def test_datasoc_pipeline_maps_generic_fields() -> None:
    text = (
        "title: t\nlogsource: {product: datasoc}\n"
        "detection:\n  sel:\n    SourceIp: 10.1.1.1\n  condition: sel\n"
    )
    (rule,) = RuleSet.from_texts([(None, text)], pipeline=resolve_pipeline("datasoc")).rules
    assert rule.matches({"source": {"ip": "10.1.1.1"}})
    assert not rule.matches({"SourceIp": "10.1.1.1"})


def test_default_pipeline_serves_windows_and_datasoc_rules(tmp_path: Path) -> None:
    windows = _write(tmp_path, "good.yml", GOOD)
    datasoc = _write(
        tmp_path,
        "ds.yml",
        "title: t\nlogsource: {product: datasoc}\n"
        "detection:\n  sel:\n    SourceIp: 10.1.1.1\n  condition: sel\n",
    )
    loaded = RuleSet.load([windows, datasoc], pipeline=resolve_pipeline("default"))
    by_title = {rule.title: rule for rule in loaded.rules}
    assert not by_title["good rule"].matches({"Channel": "Security", "EventID": 4688, "Image": "x\\cmd.exe"})
    assert by_title["good rule"].matches(
        {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1, "Image": "x\\cmd.exe"}
    )
    assert by_title["t"].matches({"source": {"ip": "10.1.1.1"}})


def test_correlation_over_a_rule_that_did_not_compile_is_an_error(tmp_path: Path) -> None:
    # Parses, but fails at load time: an `expand` placeholder with no value configured.
    broken_base = GOOD.replace("Image|endswith: '\\\\cmd.exe'", "Image|expand: '%admin_tools%'")
    _write(
        tmp_path,
        "corr.yml",
        broken_base
        + """\
---
title: many cmd
correlation:
    type: event_count
    rules: [good_rule]
    group-by: [Computer]
    timespan: 5m
    condition: {gte: 3}
""",
    )
    result = RuleSet.load([tmp_path], pipeline=None)
    assert result.correlations == ()
    assert any("did not load" in e.reason and "good_rule" in e.reason for e in result.errors)
