"""The benchmark and the SQLite reference on small inputs (the full runs are `datasoc bench detect`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.detect import BenchResult, replicate, run

pytest.importorskip("sigma.backends.sqlite", reason="pysigma-backend-sqlite (dev extra) is needed")

from benchmarks.reference import SqliteReference, convert, load_rules

RULE = """\
title: cmd from temp
id: 7a1e0c52-0000-4000-8000-0000000000aa
logsource: {product: windows, category: process_creation}
detection:
    sel:
        Image|endswith: '\\\\cmd.exe'
        Initiated: 'true'
    filter:
        User: admin
    condition: sel and not filter
"""


def test_replicate() -> None:
    assert len(replicate([{"a": 1}, {"a": 2}], 10)) == 10
    assert replicate([], 10) == []


def test_reference_semantics(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text(RULE, encoding="utf-8")
    conversion = convert(load_rules([tmp_path]), None)
    (query,) = conversion.queries.values()
    events = [
        {"Image": "C:\\x\\CMD.EXE", "Initiated": True},  # bool stored as 'true', NOCASE LIKE
        {"Image": "C:\\x\\cmd.exe", "Initiated": "true", "User": "ADMIN"},  # filtered
        {"Image": "C:\\x\\cmd.exe.bak", "Initiated": "true"},
        {"Data": ["a", "b"], "Image": "y\\cmd.exe", "Initiated": "true"},  # User column absent here
    ]
    table = SqliteReference(events)
    assert table.query(query) == {0, 3}
    table.close()


def test_bench_run_on_small_input(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yml").write_text(RULE, encoding="utf-8")
    events = tmp_path / "events.jsonl"
    record = {
        "Event": {
            "System": {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational"},
            "EventData": {"Image": "c:\\cmd.exe", "Initiated": "true"},
        }
    }
    events.write_text(json.dumps(record) + "\n" + json.dumps({"Image": "x"}) + "\n", encoding="utf-8")
    result = run([rules], events, target=100)
    assert isinstance(result, BenchResult)
    assert (result.rules, result.events, result.matches) == (1, 100, 50)
    assert result.baseline_events == 2
    assert result.baseline_rules == 1
    assert any(line.startswith("ratio:") for line in result.lines())
