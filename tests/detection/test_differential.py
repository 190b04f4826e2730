"""Differential test: the engine against pySigma's SQLite backend (Zircolite's method).

Over `dev.jsonl` with every active SigmaHQ rule and the same pipeline on both sides (`sysmon`, the
default for Windows events, see `detection.pipelines`):

- for the rules of product `windows` that the backend can convert (it refuses keyword rules and a
  few others; those are still evaluated by the engine and covered by the unit tests), the set of
  (event index, rule id) matches must be the reference's. Every difference would be listed in
  `REFERENCE_WRONG` with its own test saying why the reference is wrong by the Sigma specification;
  since the engine routes rules by logsource there is none left;
- no rule of another product matches a Windows event (the reference has no notion of logsource: its
  Zeek, Cisco, macOS, Linux and database rules fire on Windows events that happen to contain their
  words, or, like `Publicly Accessible RDP Service` (`condition: not selection`), on every event);
- routing removes nothing else: with `logsource=False` the engine finds exactly the matches it
  finds routed plus matches of rules of other logsources.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from detection.engine import Engine, LoadResult
from detection.pipelines import DEFAULT_WINDOWS_PIPELINE, resolve_pipeline
from tests.detection.conftest import SIGMA_RULE_DIRS, rule_from

ZEEK_DNS_Z_FLAG = "ede05abc-2c9e-4624-9944-9ff17fdc0bf5"  # rules/network/zeek/zeek_dns_susp_zbit_flag.yml
#: (event index in dev.jsonl, rule id) of windows rules found by the reference only.
REFERENCE_WRONG: set[tuple[int, str]] = set()
#: Matches of rules of other products the reference finds and the engine would not even unrouted.
REFERENCE_ONLY = {(585, ZEEK_DNS_Z_FLAG), (590, ZEEK_DNS_Z_FLAG)}


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


def _matches(engine: Engine, events: list[dict[str, Any]]) -> set[tuple[int, str]]:
    return {(index, rule.id) for index, event in enumerate(events) for rule in engine.match(event)}


@pytest.fixture(scope="module")
def ours(sigma_rules: LoadResult, dev_events: list[dict[str, Any]]) -> set[tuple[int, str]]:
    return _matches(Engine(sigma_rules.rules), dev_events)


@pytest.fixture(scope="module")
def windows_rules(sigma_rules: LoadResult) -> set[str]:
    return {rule.id for rule in sigma_rules.rules if rule.logsource.product == "windows"}


@pytest.mark.slow
def test_engine_equals_reference_on_windows_rules(
    ours: set[tuple[int, str]], reference: tuple[set[tuple[int, str]], set[str]], windows_rules: set[str]
) -> None:
    found, converted = reference
    assert len(converted) > 3600
    comparable = converted & windows_rules
    assert len(comparable) > 2700
    mine = {(i, r) for i, r in ours if r in comparable}
    theirs = {(i, r) for i, r in found if r in comparable}
    assert len(mine) > 900
    assert mine - theirs == set()
    assert theirs - mine == REFERENCE_WRONG


@pytest.mark.slow
def test_no_rule_of_another_product_matches_a_windows_event(
    ours: set[tuple[int, str]], sigma_rules: LoadResult
) -> None:
    products = {sigma_rules.rule(rule_id).logsource.product for _, rule_id in ours}
    assert products == {"windows"}


@pytest.mark.slow
def test_routing_removes_only_rules_of_other_logsources(
    ours: set[tuple[int, str]],
    reference: tuple[set[tuple[int, str]], set[str]],
    sigma_rules: LoadResult,
    dev_events: list[dict[str, Any]],
) -> None:
    unrouted = _matches(Engine(sigma_rules.rules, logsource=False), dev_events)
    assert ours <= unrouted
    removed = unrouted - ours
    assert len(removed) > 5400  # the RDP rule alone matches every one of the 5,407 events
    assert {sigma_rules.rule(r).logsource.product for _, r in removed} <= {
        "zeek",
        "cisco",
        "macos",
        "linux",
        None,
    }
    # What the reference matches beyond the windows rules is what routing removed.
    found, _ = reference
    elsewhere = {(i, r) for i, r in found if sigma_rules.rule(r).logsource.product != "windows"}
    assert elsewhere - removed == REFERENCE_ONLY


@pytest.mark.slow
def test_reference_wrong_zeek_dns_z_flag_on_sysmon_wmi_events(
    dev_events: list[dict[str, Any]], reference: tuple[set[tuple[int, str]], set[str]]
) -> None:
    """Rule ede05abc (Zeek DNS Z bit) on Sysmon EventID 19 records 585 and 590 (WMI filter events).

    Found by the reference only, and not a windows rule: the engine's logsource routing keeps it off
    Windows events altogether, and even without routing it would not match. The rule needs
    `query|contains: '.'` (Zeek's dns.log field `query`); these events have no `query` field, only
    Sysmon's `Query` (the WMI query text). Event field names are JSON keys and
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
