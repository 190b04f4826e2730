"""`datasoc rules test` on correlation files: sequence expansion, outcomes, and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from detection.checks import correlation_cases, expand_sequence, run_rule_tests
from soc_api.commands.detect import rules

BASE_AND_CORRELATION = """\
title: failed login
id: 6f1d2a8e-4c1b-4b8e-9d55-000000000010
name: failed_login
logsource: {product: datasoc, category: authentication}
detection:
    selection:
        event.action: auth.login
        event.outcome: failure
    condition: selection
---
title: burst of failed logins
id: 6f1d2a8e-4c1b-4b8e-9d55-000000000011
correlation:
    type: event_count
    rules: [failed_login]
    group-by: [user.name]
    timespan: 1m
    condition: {gte: 3}
"""
FAILED = (
    "{'@timestamp': '2026-03-02T01:00:00Z', event.action: auth.login, event.outcome: failure, user.name: a"
)
GOOD_TESTS = f"""\
correlation:
  positive:
    - [{FAILED}', _repeat: 3, _every: 10}}]
  negative:
    # three failures, but 30 s apart: the third falls outside the minute of the first
    - [{FAILED}', _repeat: 3, _every: 31}}]
    # three failures of two users
    - [{FAILED}', _repeat: 2, _every: 1}}, {{'@timestamp': '2026-03-02T01:00:05Z', event.action: auth.login,
       event.outcome: failure, user.name: b}}]
"""


def _write(tmp_path: Path, tests: str | None) -> Path:
    (tmp_path / "burst.yml").write_text(BASE_AND_CORRELATION, encoding="utf-8")
    if tests is not None:
        (tmp_path / "burst.tests.yml").write_text(tests, encoding="utf-8")
    return tmp_path


def test_expand_repeats_at_the_given_interval() -> None:
    events = expand_sequence(
        [
            {"@timestamp": "2026-03-02T09:00:00+08:00", "user.name": "a", "_repeat": 3, "_every": 30},
            {"@timestamp": "2026-03-02T01:05:00Z", "user.name": "b"},
        ]
    )
    assert [e["@timestamp"] for e in events] == [
        "2026-03-02T01:00:00.000000Z",
        "2026-03-02T01:00:30.000000Z",
        "2026-03-02T01:01:00.000000Z",
        "2026-03-02T01:05:00.000000Z",
    ]
    assert [e["user.name"] for e in events] == ["a", "a", "a", "b"]
    assert all("_repeat" not in e and "_every" not in e for e in events)


@pytest.mark.parametrize(
    ("sequence", "message"),
    [
        ([], "non-empty list"),
        ([{"user.name": "a"}], r"seq\[0\]: @timestamp"),
        ([{"@timestamp": "2026-03-02T01:00:00"}], "no offset"),
        ([{"@timestamp": "2026-03-02T01:00:00Z", "_repeat": 0}], "_repeat must be"),
        ([{"@timestamp": "2026-03-02T01:00:00Z", "_repeat": 10**9}], "_repeat must be"),
        ([{"@timestamp": "2026-03-02T01:00:00Z", "_every": -1}], "_every must be"),
        (["not an event"], r"seq\[0\]: expected an event object"),
    ],
)
def test_expand_rejects_malformed_sequences(sequence: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expand_sequence(sequence, "seq")


def test_correlation_file_runs_its_sequences(tmp_path: Path) -> None:
    outcomes = run_rule_tests([_write(tmp_path, GOOD_TESTS)], pipeline_name="datasoc", require_tests=True)
    assert [(o.kind, o.index, o.passed) for o in outcomes] == [
        ("positive", 0, True),
        ("negative", 0, True),
        ("negative", 1, True),
    ]
    assert {o.rule for o in outcomes} == {"6f1d2a8e-4c1b-4b8e-9d55-000000000011"}
    (case,) = correlation_cases([tmp_path])
    assert [len(s) for s in case.positive] == [3]


def test_sequences_that_do_not_hold_fail(tmp_path: Path) -> None:
    swapped = (
        GOOD_TESTS.replace("positive:", "@@").replace("negative:", "positive:").replace("@@", "negative:")
    )
    outcomes = run_rule_tests([_write(tmp_path, swapped)], pipeline_name="datasoc")
    failed = {(o.kind, o.index): o.reason for o in outcomes if not o.passed}
    assert failed == {
        ("positive", 0): "no correlation",
        ("positive", 1): "no correlation",
        ("negative", 0): "raised burst of failed logins",
    }


def test_late_events_in_a_sequence_are_sorted_first(tmp_path: Path) -> None:
    # The same burst written newest first: the runner feeds events in event time, so it still fires.
    tests = """\
correlation:
  positive:
    - - {'@timestamp': '2026-03-02T01:00:20Z', event.action: auth.login, event.outcome: failure, user.name: a}
      - {'@timestamp': '2026-03-02T01:00:10Z', event.action: auth.login, event.outcome: failure, user.name: a}
      - {'@timestamp': '2026-03-02T01:00:00Z', event.action: auth.login, event.outcome: failure, user.name: a}
  negative:
    - - {'@timestamp': '2026-03-02T01:00:00Z', event.action: auth.login, event.outcome: success, user.name: a}
"""
    outcomes = run_rule_tests([_write(tmp_path, tests)], pipeline_name="datasoc", require_tests=True)
    assert all(o.passed for o in outcomes)
    assert len(outcomes) == 2


@pytest.mark.parametrize(
    ("tests", "reason"),
    [
        (None, "no burst.tests.yml"),
        ("correlation:\n  positive: []\n  negative: []\n", "needs `correlation:`"),
        ("positive:\n  - {event.action: auth.login}\n", "sequences under `correlation:`"),
        ("correlation:\n  positive: [[{user.name: a}]]\n", "@timestamp"),
    ],
)
def test_require_tests_covers_correlation_files(tmp_path: Path, tests: str | None, reason: str) -> None:
    outcomes = run_rule_tests([_write(tmp_path, tests)], pipeline_name="datasoc", require_tests=True)
    assert not all(o.passed for o in outcomes)
    assert any(reason in o.reason for o in outcomes if not o.passed), [str(o) for o in outcomes]


def test_correlation_tests_on_a_single_event_file_fail(tmp_path: Path) -> None:
    single = BASE_AND_CORRELATION.split("---")[0]
    (tmp_path / "single.yml").write_text(single, encoding="utf-8")
    (tmp_path / "single.tests.yml").write_text(GOOD_TESTS, encoding="utf-8")
    outcomes = run_rule_tests([tmp_path], pipeline_name="datasoc")
    assert [o.reason for o in outcomes if not o.passed] == [
        "`correlation:` tests but no correlation rule in the file"
    ]


def test_cli_rules_test_runs_correlation_sequences(tmp_path: Path) -> None:
    _write(tmp_path, GOOD_TESTS)
    result = CliRunner().invoke(rules, ["test", "--require-tests", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "PASS burst.yml 6f1d2a8e-4c1b-4b8e-9d55-000000000011 positive[0]" in result.stdout
    assert "3 passed, 0 failed" in result.stderr
    (tmp_path / "burst.tests.yml").write_text(GOOD_TESTS.replace("_every: 10", "_every: 40"), "utf-8")
    result = CliRunner().invoke(rules, ["test", str(tmp_path)])
    assert result.exit_code == 1
    assert "FAIL burst.yml 6f1d2a8e-4c1b-4b8e-9d55-000000000011 positive[0] (no correlation)" in result.stdout
