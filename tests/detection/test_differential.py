"""Differential test: the engine against pySigma's SQLite backend (Zircolite's method).

Over `dev.jsonl` with every active SigmaHQ rule and the same pipeline on both sides (`sysmon`, the
default for Windows events, see `detection.pipelines`), the set of (event index, rule id) matches
must be the reference's, restricted to the rules the backend can convert (it refuses keyword rules
and a few others; those are still evaluated by the engine and covered by the unit tests). Every
remaining difference is listed in `REFERENCE_WRONG` and has its own test saying why the reference is
wrong by the Sigma specification.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from detection.engine import Engine, LoadResult
from detection.pipelines import DEFAULT_WINDOWS_PIPELINE, resolve_pipeline
from tests.detection.conftest import SIGMA_RULE_DIRS, rule_from

ZEEK_DNS_Z_FLAG = "ede05abc-2c9e-4624-9944-9ff17fdc0bf5"  # rules/network/zeek/zeek_dns_susp_zbit_flag.yml
#: (event index in dev.jsonl, rule id) found by the reference only.
REFERENCE_WRONG = {(585, ZEEK_DNS_Z_FLAG), (590, ZEEK_DNS_Z_FLAG)}


@pytest.fixture(scope="module")
def reference(shared_data: Path, dev_events: list[dict[str, Any]]) -> tuple[set[tuple[int, str]], set[str]]:
    """The reference's matches and the ids of the rules it converted (about 30 s, once per module)."""
    pytest.importorskip("sigma.backends.sqlite", reason="pysigma-backend-sqlite (dev extra) is needed")
    from benchmarks.reference import SqliteReference, convert, load_rules

    conversion = convert(load_rules(SIGMA_RULE_DIRS), resolve_pipeline(DEFAULT_WINDOWS_PIPELINE))
    table = SqliteReference(dev_events)
    found = {(row, rule_id) for rule_id, sql in conversion.queries.items() for row in table.query(sql)}
    table.close()
    return found, set(conversion.queries)


@pytest.fixture(scope="module")
def ours(sigma_rules: LoadResult, dev_events: list[dict[str, Any]]) -> set[tuple[int, str]]:
    engine = Engine(sigma_rules.rules)
    return {(index, rule.id) for index, event in enumerate(dev_events) for rule in engine.match(event)}


@pytest.mark.slow
def test_engine_equals_reference(
    ours: set[tuple[int, str]], reference: tuple[set[tuple[int, str]], set[str]]
) -> None:
    found, converted = reference
    assert len(converted) > 3600
    comparable = {(i, r) for i, r in ours if r in converted}
    assert len(comparable) > 6000
    assert comparable - found == set()
    assert found - comparable == REFERENCE_WRONG


@pytest.mark.slow
def test_reference_wrong_zeek_dns_z_flag_on_sysmon_wmi_events(
    dev_events: list[dict[str, Any]], reference: tuple[set[tuple[int, str]], set[str]]
) -> None:
    """Rule ede05abc (Zeek DNS Z bit) on Sysmon EventID 19 records 585 and 590 (WMI filter events).

    The rule needs `query|contains: '.'` (Zeek's dns.log field `query`); these events have no `query`
    field, only Sysmon's `Query` (the WMI query text). Event field names are JSON keys and
    case-sensitive; SQLite column names are not, so the reference reads `Query` as `query` and fires a
    Zeek DNS rule on a Windows WMI event. The rest of the condition is negations of absent fields,
    true for both.
    """
    found, _ = reference
    for index in (585, 590):
        event = dev_events[index]
        assert (index, ZEEK_DNS_Z_FLAG) in found
        assert event["EventID"] == 19
        assert "query" not in event
        assert "." in event["Query"]
    rule = rule_from("sel:\n  query|contains: '.'\ncondition: sel")
    assert not rule.matches({"Query": "a.b"})
    assert rule.matches({"query": "a.b"})
