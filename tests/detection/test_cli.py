"""`datasoc detect`, `datasoc rules check|test` (the click commands in soc_api.commands.detect)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from soc_api.commands.detect import detect, rules

RULE = """\
title: Bulk export of core data
id: 6f1d2a8e-4c1b-4b8e-9d55-000000000001
status: experimental
description: Export of many records of core data.
author: datasoc
date: 2026-11-28
level: high
tags:
    - attack.exfiltration
    - mlps.8-1-4-3
logsource:
    product: datasoc
    category: data_access
detection:
    selection:
        event.action: export
        data.classification: core
        data.records|gte: 10000
    condition: selection
"""
TESTS = """\
positive:
  - {event: {action: export}, data: {classification: core, records: 20000}}
negative:
  - {event: {action: export}, data: {classification: core, records: 20}}
  - {event: {action: read}, data: {classification: core, records: 20000}}
"""
EVTX = {
    "Event": {
        "System": {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational"},
        "EventData": {"Image": "C:\\Windows\\System32\\cmd.exe"},
    }
}
CMD_RULE = """\
title: cmd
id: 6f1d2a8e-4c1b-4b8e-9d55-000000000002
logsource: {product: windows, category: process_creation}
detection:
    sel:
        Image|endswith: '\\\\cmd.exe'
    condition: sel
"""


def _pack(tmp_path: Path) -> Path:
    (tmp_path / "export_core.yml").write_text(RULE, encoding="utf-8")
    (tmp_path / "export_core.tests.yml").write_text(TESTS, encoding="utf-8")
    return tmp_path


def test_detect_normalized_events_from_stdin(tmp_path: Path) -> None:
    events = [
        {"event": {"action": "read"}},
        {"event": {"action": "export"}, "data": {"classification": "core", "records": 50000}},
    ]
    stdin = "".join(json.dumps(e) + "\n" for e in events)
    result = CliRunner().invoke(detect, ["--rules", str(_pack(tmp_path)), "--events", "-"], input=stdin)
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.output.splitlines()] == [
        {
            "event_index": 1,
            "rule_id": "6f1d2a8e-4c1b-4b8e-9d55-000000000001",
            "rule_title": "Bulk export of core data",
        }
    ]


def test_detect_evtx_dump_objects_back_to_back(tmp_path: Path) -> None:
    (tmp_path / "cmd.yml").write_text(CMD_RULE, encoding="utf-8")
    events = tmp_path / "events.json"
    other = {"Event": {"System": {"EventID": 1, "Channel": "x"}, "EventData": {"Image": "a.exe"}}}
    events.write_text(json.dumps(other, indent=1) + json.dumps(EVTX, indent=1), encoding="utf-8")
    result = CliRunner().invoke(detect, ["--rules", str(tmp_path / "cmd.yml"), "--events", str(events)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["event_index"] for line in result.output.splitlines()] == [1]


def test_detect_reports_broken_rules_and_continues(tmp_path: Path) -> None:
    (tmp_path / "cmd.yml").write_text(CMD_RULE, encoding="utf-8")
    (tmp_path / "broken.yml").write_text(CMD_RULE.replace("endswith", "bogus"), encoding="utf-8")
    runner = CliRunner()
    args = ["--rules", str(tmp_path), "--events", "-", "--pipeline", "none"]
    result = runner.invoke(detect, args, input=json.dumps(EVTX))
    assert result.exit_code == 0
    assert "broken.yml" in result.stderr
    assert json.loads(result.stdout)["rule_title"] == "cmd"
    assert runner.invoke(detect, [*args, "--strict"], input=json.dumps(EVTX)).exit_code == 1


def test_detect_bad_json_names_the_event(tmp_path: Path) -> None:
    (tmp_path / "cmd.yml").write_text(CMD_RULE, encoding="utf-8")
    result = CliRunner().invoke(
        detect, ["--rules", str(tmp_path), "--events", "-"], input='{"a": 1}\n{oops\n'
    )
    assert result.exit_code != 0
    assert "event 1" in result.output


def test_detect_unknown_pipeline(tmp_path: Path) -> None:
    (tmp_path / "cmd.yml").write_text(CMD_RULE, encoding="utf-8")
    args = ["--rules", str(tmp_path), "--events", "-", "--pipeline", "nope"]
    result = CliRunner().invoke(detect, args, input="{}")
    assert result.exit_code != 0
    assert "known: " in result.output


def test_rules_test_passes_and_fails(tmp_path: Path) -> None:
    pack = _pack(tmp_path)
    result = CliRunner().invoke(rules, ["test", str(pack)])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("PASS") == 3
    (pack / "export_core.tests.yml").write_text(TESTS.replace("records: 20}", "records: 20000}"))
    failed = CliRunner().invoke(rules, ["test", str(pack)])
    assert failed.exit_code == 1
    assert "FAIL export_core.yml" in failed.stdout


def test_rules_check_flags_unknown_fields_and_load_errors(tmp_path: Path) -> None:
    pack = _pack(tmp_path)
    clean = CliRunner().invoke(rules, ["check", str(pack)])
    assert clean.exit_code == 0, clean.stdout
    assert "error" not in clean.stdout, clean.stdout
    assert "namespace" not in clean.stdout  # mlps is a project tag namespace
    (pack / "export_core.yml").write_text(RULE.replace("data.records|gte", "data.recrods|gte"))
    (pack / "broken_rule.yml").write_text(RULE.replace("condition: selection", "condition: nothing"))
    result = CliRunner().invoke(rules, ["check", str(pack)])
    assert result.exit_code == 1
    assert "'data.recrods' is not in the normalized schema" in result.stdout
    assert "broken_rule.yml" in result.stdout


def test_rules_check_warns_about_rules_the_index_cannot_narrow(tmp_path: Path) -> None:
    slow = RULE.replace("condition: selection", "condition: not selection")
    (tmp_path / "export_not_core.yml").write_text(slow, encoding="utf-8")
    result = CliRunner().invoke(rules, ["check", str(tmp_path)])
    assert "tried on every event" in result.stdout, result.stdout


def test_rules_test_can_require_tests(tmp_path: Path) -> None:
    pack = _pack(tmp_path)
    (pack / "untested_rule.yml").write_text(RULE.replace("000000000001", "000000000009"), encoding="utf-8")
    assert CliRunner().invoke(rules, ["test", str(pack)]).exit_code == 0
    strict = CliRunner().invoke(rules, ["test", "--require-tests", str(pack)])
    assert strict.exit_code == 1
    assert "no untested_rule.tests.yml" in strict.stdout


CORRELATION = """\
title: failed login
id: 6f1d2a8e-4c1b-4b8e-9d55-000000000010
name: failed_login
logsource: {product: datasoc, category: authentication}
detection:
    selection:
        event.action: login
        event.outcome: failure
    condition: selection
---
title: credential stuffing
id: 6f1d2a8e-4c1b-4b8e-9d55-000000000011
correlation:
    type: event_count
    rules: [failed_login]
    group-by: [user.name]
    timespan: 1m
    condition: {gte: 3}
"""


def test_detect_correlation_names_all_its_events(tmp_path: Path) -> None:
    (tmp_path / "stuffing.yml").write_text(CORRELATION, encoding="utf-8")

    def login(second: int, user: str) -> str:
        event = {
            "@timestamp": f"2026-01-01T00:00:{second:02d}Z",
            "event": {"action": "login", "outcome": "failure"},
            "user": {"name": user},
        }
        return json.dumps(event) + "\n"

    stdin = login(0, "a") + login(10, "b") + login(20, "a") + login(30, "a")
    result = CliRunner().invoke(detect, ["--rules", str(tmp_path), "--events", "-"], input=stdin)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    # The base rule is generate: false (default), so only the correlation is printed.
    assert lines == [
        {
            "event_index": [0, 2, 3],
            "rule_id": "6f1d2a8e-4c1b-4b8e-9d55-000000000011",
            "rule_title": "credential stuffing",
        }
    ]
