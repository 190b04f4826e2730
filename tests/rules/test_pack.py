"""The rule pack `rules/`: it loads, its metadata follows rules/README.md, every rule passes its own tests."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import yaml
from sigma.rule import SigmaRule

from detection.checks import (
    CorrelationCase,
    check_rules,
    correlation_cases,
    run_rule_tests,
    unknown_datasoc_fields,
)
from detection.loader import rule_files
from tests.rules.conftest import PACK, PIPELINE, Pack

LEVELS = {"informational", "low", "medium", "high", "critical"}
# A title is "中文 / English": CJK before the slash, ASCII letters after it.
TITLE = re.compile(r"^(?P<zh>[^/]*[\u4e00-\u9fff][^/]*) / (?P<en>[A-Za-z][\x20-\x7e]*)$")
COMPLIANCE = re.compile(r"^(?:mlps\.8\.1\.\d+\.\d+|gbt\.\d+(?:\.[a-z0-9-]+)?)$")
MLPS = re.compile(r"^mlps\.8\.1\.\d+\.\d+$")
CASES = list(correlation_cases([PACK]))


def _alerting(pack: Pack) -> list[tuple[str, str, str | None, tuple[str, ...]]]:
    """(id, title, level, tags) of every rule that raises alerts: outputting rules and correlations."""
    suppressed = pack.correlations.suppressed
    singles = [(r.id, r.title, r.level, r.tags) for r in pack.loaded.rules if r.output]
    correlated = [
        (s.id or "", s.title, s.level, s.tags)
        for s in pack.correlations.specs
        if not s.references & suppressed
    ]
    return singles + correlated


def test_pack_loads_without_errors(pack: Pack) -> None:
    assert pack.loaded.errors == ()
    assert pack.correlations.errors == ()
    assert len(pack.loaded.rules) >= 30
    # Every rule is a data-lifecycle rule on the normalized schema.
    assert {r.logsource.product for r in pack.loaded.rules} == {"datasoc"}


def test_pack_has_at_least_thirty_alerting_rules(pack: Pack) -> None:
    alerting = _alerting(pack)
    assert len(alerting) >= 30, [a[1] for a in alerting]


def test_ids_are_unique_uuids(pack: Pack) -> None:
    ids = [r.id for r in pack.loaded.rules] + [s.id or "" for s in pack.correlations.specs]
    assert len(ids) == len(set(ids))
    for rule_id in ids:
        assert str(uuid.UUID(rule_id)) == rule_id


def test_every_rule_has_level_bilingual_title_and_compliance_tag(pack: Pack) -> None:
    entries = [(r.id, r.title, r.level, r.tags) for r in pack.loaded.rules]
    entries += [(s.id or "", s.title, s.level, s.tags) for s in pack.correlations.specs]
    for rule_id, title, level, tags in entries:
        assert level in LEVELS, (rule_id, level)
        assert TITLE.match(title), (rule_id, title)
        assert any(MLPS.match(t) for t in tags), (rule_id, tags)
        assert all(COMPLIANCE.match(t) for t in tags if not t.startswith("attack.")), (rule_id, tags)


def test_rules_on_data_access_name_attack_techniques(pack: Pack) -> None:
    # Base rules of correlations are plumbing; every alerting rule names the ATT&CK tactic it fights.
    for rule_id, title, _, tags in _alerting(pack):
        assert any(t.startswith("attack.") for t in tags), (rule_id, title)


def test_every_rule_file_has_positive_and_negative_tests() -> None:
    for rule_file in rule_files([PACK]):
        spec_file = rule_file.with_name(rule_file.stem + ".tests.yml")
        assert spec_file.is_file(), f"{rule_file} has no {spec_file.name}"
        spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
        section = spec.get("correlation", spec)
        assert section.get("positive"), spec_file
        assert section.get("negative"), spec_file


def test_every_rule_file_passes_its_own_tests() -> None:
    """What `datasoc rules test --require-tests rules/` runs: single-event lists and correlation sequences."""
    outcomes = run_rule_tests([PACK], pipeline_name=PIPELINE, require_tests=True)
    failed = [str(o) for o in outcomes if not o.passed]
    assert not failed
    assert {o.file for o in outcomes} == set(rule_files([PACK]))
    sequences = sum(len(c.positive) + len(c.negative) for c in CASES)
    assert sum(1 for o in outcomes if o.file in {c.rule_file for c in CASES}) == sequences
    assert len(outcomes) >= 100


@pytest.mark.parametrize("case", CASES, ids=[c.rule_file.stem for c in CASES])
def test_correlation_rules_pass_their_own_sequences(case: CorrelationCase) -> None:
    pack = Pack.load([case.rule_file])
    assert pack.loaded.errors == ()
    assert pack.correlations.errors == ()
    own = {s.id for s in pack.correlations.specs if s.id not in pack.correlations.suppressed}
    assert own, "a correlation file needs an alerting correlation"
    assert case.positive
    assert case.negative
    for number, sequence in enumerate(case.positive):
        fired = {a.rule_id for a in pack.run(sequence) if a.kind != "single"}
        assert fired & own, f"positive[{number}] raised nothing"
    for number, sequence in enumerate(case.negative):
        alerts = pack.run(sequence)
        assert alerts == [], f"negative[{number}] raised {[a.title for a in alerts]}"


def test_correlation_cases_cover_every_correlation(pack: Pack) -> None:
    files = {str(s.path) for s in pack.correlations.specs}
    assert {str(c.rule_file) for c in CASES} == {f for f in files if f}
    assert len(CASES) >= 8


def test_rule_fields_are_known_fields() -> None:
    """A misspelt field never matches and never errors: every field is known to the schema or a parser."""
    for rule_file in rule_files([PACK]):
        for document in yaml.safe_load_all(rule_file.read_text(encoding="utf-8")):
            if "detection" not in document:
                continue
            assert unknown_datasoc_fields(SigmaRule.from_dict(document)) == [], rule_file.name


def test_rules_check_reports_no_errors() -> None:
    findings = check_rules([PACK], pipeline_name=PIPELINE)
    assert [str(f) for f in findings if f.severity == "error"] == []
    assert [str(f) for f in findings if f.severity == "warning"] == []


def test_rules_check_flags_a_misspelt_field(tmp_path: Path) -> None:
    source = (PACK / "datasoc" / "export" / "bulk_download_core_important.yml").read_text(encoding="utf-8")
    assert "data.classification" in source
    (tmp_path / "datasoc_typo_bulk_download.yml").write_text(
        source.replace("data.classification", "data.clasification"), "utf-8"
    )
    errors = [f for f in check_rules([tmp_path], pipeline_name=PIPELINE) if f.severity == "error"]
    assert [f.message for f in errors] == ["field 'data.clasification' is not in the normalized schema"]


def test_readme_lists_every_rule(pack: Pack) -> None:
    readme = (PACK / "README.md").read_text(encoding="utf-8")
    for rule_id, title, _, _ in _alerting(pack):
        assert rule_id in readme, title


def test_pack_rules_stay_plain_sigma() -> None:
    """No custom top-level attributes: the pack works in any Sigma tool (tests live beside the rules)."""
    allowed = {
        "title",
        "id",
        "name",
        "status",
        "description",
        "author",
        "date",
        "modified",
        "references",
        "tags",
        "logsource",
        "detection",
        "correlation",
        "falsepositives",
        "level",
        "fields",
    }
    for rule_file in rule_files([PACK]):
        for document in yaml.safe_load_all(rule_file.read_text(encoding="utf-8")):
            assert set(document) <= allowed, (rule_file.name, set(document) - allowed)
