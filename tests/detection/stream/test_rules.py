"""Rule changes applied to the active rule texts (pure; no Flink)."""

from __future__ import annotations

import pytest

from detection.pipelines import resolve_pipeline
from detection.stream.rules import RuleChange, RuleChangeError, apply_change
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
