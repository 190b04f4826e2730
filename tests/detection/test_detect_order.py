"""`datasoc detect --sort` and `--allowed-lateness`: correlations over input that is not in time order."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from soc_api.commands.detect import detect, evaluation_order

RULES = """\
title: failed login
id: 6f1d2a8e-4c1b-4b8e-9d55-000000000020
name: failed_login
logsource: {product: datasoc, category: authentication}
detection:
    selection:
        event.action: auth.login
        event.outcome: failure
    condition: selection
---
title: burst of failed logins
id: 6f1d2a8e-4c1b-4b8e-9d55-000000000021
correlation:
    type: event_count
    rules: [failed_login]
    group-by: [user.name]
    timespan: 1m
    condition: {gte: 3}
---
title: root login
id: 6f1d2a8e-4c1b-4b8e-9d55-000000000022
logsource: {product: datasoc, category: authentication}
detection:
    selection:
        user.name: root
    condition: selection
"""
BURST = "6f1d2a8e-4c1b-4b8e-9d55-000000000021"
ROOT = "6f1d2a8e-4c1b-4b8e-9d55-000000000022"


def _event(second: int, user: str = "a") -> dict[str, Any]:
    return {
        "@timestamp": f"2026-03-02T01:00:{second:02d}Z",
        "event.action": "auth.login",
        "event.outcome": "failure",
        "user.name": user,
    }


def _run(tmp_path: Path, events: list[dict[str, Any]], *options: str) -> tuple[list[dict[str, Any]], str]:
    (tmp_path / "rules.yml").write_text(RULES, encoding="utf-8")
    stdin = "".join(json.dumps(e) + "\n" for e in events)
    result = CliRunner().invoke(detect, ["--rules", str(tmp_path), "--events", "-", *options], input=stdin)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()], result.stderr


# Newest first: in file order the second and third failures arrive after a later one.
SHUFFLED = [_event(30), _event(0), _event(20), _event(10, "root")]


def test_file_order_makes_older_events_late(tmp_path: Path) -> None:
    lines, stderr = _run(tmp_path, SHUFFLED)
    assert [line["rule_id"] for line in lines] == [ROOT]
    assert "3 late" in stderr


def test_sort_feeds_event_time_and_keeps_input_positions(tmp_path: Path) -> None:
    lines, stderr = _run(tmp_path, SHUFFLED, "--sort")
    assert lines == [
        {"event_index": 3, "rule_id": ROOT, "rule_title": "root login"},  # 01:00:10, printed in time order
        {"event_index": [0, 1, 2], "rule_id": BURST, "rule_title": "burst of failed logins"},
    ]
    assert "late" not in stderr


def test_allowed_lateness_accepts_events_within_it(tmp_path: Path) -> None:
    lines, _ = _run(tmp_path, SHUFFLED, "--allowed-lateness", "30")
    assert {line["rule_id"] for line in lines} == {ROOT, BURST}
    burst = next(line for line in lines if line["rule_id"] == BURST)
    assert burst["event_index"] == [0, 1, 2]
    # Lateness smaller than the disorder: the event 30 s behind is still late.
    lines, stderr = _run(tmp_path, SHUFFLED, "--allowed-lateness", "15")
    assert BURST not in {line["rule_id"] for line in lines}
    assert "late" in stderr


def test_negative_lateness_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(RULES, encoding="utf-8")
    result = CliRunner().invoke(
        detect, ["--rules", str(tmp_path), "--events", "-", "--allowed-lateness", "-1"], input=""
    )
    assert result.exit_code == 2
    assert "--allowed-lateness" in result.output


def test_sort_is_stable_and_puts_untimed_events_last() -> None:
    t0, t1 = datetime(2026, 3, 2, 1, tzinfo=UTC), datetime(2026, 3, 2, 2, tzinfo=UTC)
    assert evaluation_order([t1, None, t0, t1, t0, None]) == [2, 4, 0, 3, 1, 5]
    assert evaluation_order([]) == []


@pytest.mark.parametrize("options", [(), ("--sort",)])
def test_sorted_input_gives_the_same_alerts_either_way(tmp_path: Path, options: tuple[str, ...]) -> None:
    events = [_event(0), _event(10), _event(20, "root"), _event(30)]
    lines, _ = _run(tmp_path, events, *options)
    assert lines == [
        {"event_index": 2, "rule_id": ROOT, "rule_title": "root login"},
        {"event_index": [0, 1, 3], "rule_id": BURST, "rule_title": "burst of failed logins"},
    ]
