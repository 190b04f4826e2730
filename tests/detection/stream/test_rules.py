"""Rule changes and compiled bundles (pure; no Flink)."""

from __future__ import annotations

import pickle

import pytest

from detection.pipelines import resolve_pipeline
from detection.stream.rules import MAX_CHAIN, RuleChange, RuleChangeError, apply_change, compile_bundle
from tests.detection.stream.conftest import NOW, make_event, rule_texts

PIPELINE = resolve_pipeline("default")
CORE = rule_texts("core_download.yml")["core_download.yml"]


def test_change_round_trips_through_json() -> None:
    change = RuleChange(version=3, put={"a.yml": "title: x"}, disable=("b.yml",))
    assert RuleChange.from_json(change.to_json()) == change


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("not json", "not JSON"),
        ("[]", "JSON object"),
        ('{"version": 0}', "positive integer"),
        ('{"version": true}', "positive integer"),
        ('{"version": 1, "put": {"a": 1}}', "put must map"),
        ('{"version": 1, "disable": "a"}', "disable must be a list"),
        ('{"version": 1, "drop": []}', "unknown keys"),
    ],
)
def test_bad_change_lines_are_named(line: str, problem: str) -> None:
    with pytest.raises(RuleChangeError, match=problem):
        RuleChange.from_json(line, where="rules-1.jsonl:1")


def test_failing_put_keeps_the_previous_version_and_others_apply() -> None:
    bundle, first = apply_change({}, RuleChange(1, put={"core.yml": CORE}), PIPELINE)
    assert first.accepted == ("core.yml",)
    assert not first.rejected
    broken = "title: broken\nlogsource: {}\ndetection: {}\n"
    other = CORE.replace("000000000001", "0000000000ff").replace("dataset.download", "dataset.share")
    bundle, second = apply_change(
        bundle.texts, RuleChange(2, put={"core.yml": broken, "share.yml": other}), PIPELINE
    )
    assert second.accepted == ("share.yml",)
    assert list(second.rejected) == ["core.yml"]
    assert "core.yml" in second.rejected["core.yml"][0]
    assert bundle.texts["core.yml"] == CORE  # previous version still active
    event = make_event("e1", NOW, "dataset.download", classification="core")
    assert [r.id for r in bundle.engine.match(event)] == ["5a0c1b9e-0d7e-4f43-9a11-000000000001"]


def test_disable_removes_the_rule() -> None:
    bundle, _ = apply_change({}, RuleChange(1, put={"core.yml": CORE}), PIPELINE)
    bundle, outcome = apply_change(bundle.texts, RuleChange(2, disable=("core.yml", "never.yml")), PIPELINE)
    assert outcome.disabled == ("core.yml",)
    assert bundle.engine.rules == ()


def test_bundle_routes_base_rules_to_their_correlations_and_suppresses_them() -> None:
    bundle = compile_bundle(rule_texts("failed_login.yml"), PIPELINE)
    (base,) = bundle.engine.rules
    assert not bundle.alerting(base)  # generate: false (Sigma default)
    assert [s.key for s in bundle.targets["failed_login"]] == ["5a0c1b9e-0d7e-4f43-9a11-000000000003"]
    assert set(bundle.spec_blobs) == set(bundle.spec_digests)


def _chain(depth: int) -> str:
    """A base rule and `depth` correlations, each over the one before."""
    parts = [
        "title: base\nname: base\nlogsource: {product: datasoc}\n"
        "detection: {sel: {event.action: x}, condition: sel}\nlevel: low\n"
    ]
    for n in range(1, depth + 1):
        inner = "base" if n == 1 else f"c{n - 1}"
        parts.append(
            f"title: c{n}\nname: c{n}\ncorrelation:\n  type: event_count\n  rules: [{inner}]\n"
            f"  group-by: [user.name]\n  timespan: 1m\n  condition: {{gte: 1}}\nlevel: high\n"
        )
    return "---\n".join(parts)


def test_chained_correlations_get_stages_and_too_deep_chains_are_rejected() -> None:
    bundle = compile_bundle({"chain.yml": _chain(MAX_CHAIN)}, resolve_pipeline("default"))
    assert sorted(bundle.levels.values()) == list(range(1, MAX_CHAIN + 1))
    assert not bundle.errors
    # Each level's context names the rule its matches feed, one stage on.
    inner = next(k for k, level in bundle.levels.items() if level == 1)
    context = pickle.loads(bundle.spec_blobs[inner])
    assert [link.level for link in context.outers] == [2]
    # The default `generate: false` of the outer rules suppresses the inner ones' own alerts.
    assert context.suppressed

    deep = compile_bundle({"chain.yml": _chain(MAX_CHAIN + 1)}, resolve_pipeline("default"))
    assert len(deep.levels) == MAX_CHAIN
    (error,) = deep.errors["chain.yml"]
    assert f"chained deeper than {MAX_CHAIN} levels" in error
