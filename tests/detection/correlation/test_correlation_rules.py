"""Compiling correlation rules: what is read from pySigma, per-rule load errors, `generate`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sigma.collection import SigmaCollection
from sigma.exceptions import SigmaCorrelationConditionError
from sigma.rule import SigmaRuleBase

from detection.correlation import (
    CorrelationEngine,
    CorrelationLoadError,
    CorrelationRuleSet,
    CorrelationType,
    CountCondition,
    compile_correlations,
)

FAILED_LOGIN_ID = "6f2b3f0c-3b1e-4c8e-9a51-0d7c1a9e5a01"


def test_valid_fixtures_compile_with_inner_correlations_first(ruleset: CorrelationRuleSet) -> None:
    names = [s.name for s in ruleset.specs]
    assert set(names) == {
        "brute_force_then_success",
        "error_and_connection",
        "exactly_three_exports",
        "failed_login_burst",
        "lone_export",
        "login_then_export",
        "many_datasets",
        "recon_sequence",
    }
    assert names.index("failed_login_burst") < names.index("brute_force_then_success")


def test_spec_reads_every_correlation_attribute(ruleset: CorrelationRuleSet) -> None:
    by_name = {s.name: s for s in ruleset.specs}
    burst = by_name["failed_login_burst"]
    assert burst.type is CorrelationType.EVENT_COUNT
    assert burst.timespan == timedelta(minutes=5)
    assert burst.condition == CountCondition("gte", 5)
    assert burst.group_by == ("user.name",)
    assert burst.slots[0].reference == FAILED_LOGIN_ID  # referenced by id ...
    assert burst.slots[0].references == {FAILED_LOGIN_ID, "failed_login"}  # ... resolved to id and name
    assert str(burst.path).endswith("mr_failed_login_burst.yml")

    datasets = by_name["many_datasets"]
    assert datasets.value_fields == ("data.asset.id",)
    assert datasets.generate is True

    recon = by_name["recon_sequence"]
    assert recon.condition == CountCondition("gte", 3)  # spec default: all referenced rules

    chain = by_name["brute_force_then_success"]
    assert [s.correlation for s in chain.slots] == [True, False]

    aliases = by_name["error_and_connection"]
    assert aliases.group_fields == (("destination.ip", "source.ip"), ("source.ip", "destination.ip"))


@pytest.mark.parametrize(
    ("op", "measure", "holds"),
    [
        ("gt", 3, False), ("gt", 4, True), ("gte", 2, False), ("gte", 3, True),
        ("lt", 3, False), ("lt", 2, True), ("lte", 4, False), ("lte", 3, True),
        ("eq", 2, False), ("eq", 3, True), ("neq", 3, False), ("neq", 4, True),
    ],
)  # fmt: skip
def test_condition_operators(op: str, measure: int, holds: bool) -> None:
    assert CountCondition(op, 3).holds(measure) is holds
    assert CountCondition(op, 3).time_driven is (op not in {"gt", "gte"})


def test_unknown_operator_is_rejected() -> None:
    with pytest.raises(ValueError, match="operator"):
        CountCondition("between", 3)


def test_broken_rules_fail_one_by_one_and_the_others_still_load(
    valid_rules: list[SigmaRuleBase], broken_rules: list[SigmaRuleBase]
) -> None:
    compiled = compile_correlations(valid_rules + broken_rules)
    assert len(compiled.specs) == 8  # every valid correlation still compiles
    reasons = {e.rule: (e.path or "", str(e)) for e in compiled.errors}
    expected = {
        "dangling": ("mr_dangling.yml", "referenced rule 'no_such_rule' is not in the rule set"),
        "bytes_sum": ("mr_value_sum.yml", "correlation type value_sum is not supported"),
        "whoami_not_net": ("mr_extended.yml", "extended (boolean expression) correlation conditions"),
        "bad_alias": ("mr_bad_alias.yml", "alias 'internal_ip' maps rule 'admin_login', which is not in"),
        "chain_by_host": ("mr_chain_field.yml", "host.name are not in the group-by of chained correlation"),
        "cycle_a": ("mr_cycle.yml", "cycle"),
        "cycle_b": ("mr_cycle.yml", "references correlation 'cycle_a' that failed"),
        "depends_on_dangling": ("mr_depends_on_broken.yml", "references correlation 'dangling' that failed"),
        "no_timespan": ("mr_no_timespan.yml", "without timespan"),
        "temporal_duplicate": ("mr_temporal_duplicate.yml", "listed twice in 'rules' of a temporal"),
    }
    assert set(reasons) == set(expected)
    for rule, (file, reason) in expected.items():
        assert reasons[rule][0].endswith(file), rule
        assert reason in reasons[rule][1], rule
    # The message an operator sees names file, rule and reason.
    message = str(next(e for e in compiled.errors if e.rule == "dangling"))
    for part in ("mr_dangling.yml", "'dangling'", "no_such_rule"):
        assert part in message


def test_load_error_carries_line_when_known() -> None:
    err = CorrelationLoadError("bad", rule="r", path="x.yml", line=7)
    assert str(err) == "x.yml:7: correlation rule 'r': bad"


def test_range_condition_is_rejected_by_pysigma() -> None:
    # The spec allows {gt: 100, lte: 200}; pySigma 1.5.1 refuses it, so it never reaches this engine.
    text = """
title: Range
name: range
correlation:
    type: event_count
    rules: [x]
    group-by: [user.name]
    timespan: 5m
    condition: {gt: 100, lte: 200}
"""
    with pytest.raises(SigmaCorrelationConditionError, match="exactly one condition item"):
        SigmaCollection.from_yaml(text, collect_errors=True, resolve_references=False)


def test_generate_false_suppresses_referenced_rules_by_id_and_name(ruleset: CorrelationRuleSet) -> None:
    assert ruleset.is_suppressed("failed_login")
    assert ruleset.is_suppressed(FAILED_LOGIN_ID)
    assert ruleset.is_suppressed("failed_login_burst")  # an inner correlation of a chain
    assert not ruleset.is_suppressed("dataset_read")  # only referenced with generate: true
    assert not ruleset.is_suppressed("admin_login")  # referenced by no correlation
    assert not ruleset.is_suppressed("brute_force_then_success")  # the outermost correlation alerts


def test_engine_suppression_follows_its_own_rules(ruleset: CorrelationRuleSet) -> None:
    full = CorrelationEngine(ruleset)
    assert full.suppressed_references == ruleset.suppressed
    alone = CorrelationEngine([s for s in ruleset.specs if s.name == "failed_login_burst"])
    assert alone.is_suppressed("failed_login")
    assert not alone.is_suppressed("failed_login_burst")


def test_negative_lateness_is_rejected(ruleset: CorrelationRuleSet) -> None:
    with pytest.raises(ValueError, match="allowed_lateness"):
        CorrelationEngine(ruleset, allowed_lateness=timedelta(seconds=-1))
