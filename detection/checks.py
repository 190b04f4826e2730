"""Rule management: `check_rules` (validation) and `run_rule_tests` (a rule's own test events).

Checks, in order: the rule loads and compiles (any `RuleLoadError`, which covers every construct
the engine does not support); pySigma's own validators (`sigma.validators.core`, minus the two that
download MITRE data, with the project's tag namespaces `mlps`, `gbt`, `datasoc` allowed); the
project's checks: fields of a rule on the normalized schema (`logsource.product: datasoc`) must be
fields of that schema after the pipeline, and a rule the candidate index cannot narrow is a warning.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from sigma.collection import SigmaCollection
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.validation import SigmaValidator
from sigma.validators.base import SigmaRuleValidator, SigmaValidationIssueSeverity
from sigma.validators.core import validators as core_validators
from sigma.validators.core.tags import NamespaceTagValidator

from datasoc.winevent import flatten
from detection.engine import RuleSet
from detection.index import clauses
from detection.loader import TEST_SUFFIXES, rule_files
from detection.pipelines import resolve_pipeline

Severity = Literal["error", "warning"]

#: Fields of the normalized event (ARCHITECTURE.md, "Normalized event") that rules may name.
DATASOC_FIELDS = frozenset(
    {
        "@timestamp",
        "event.id",
        "event.ingested",
        "event.action",
        "event.outcome",
        "event.category",
        "event.dataset",
        "observer.collector",
        "log.original",
        "datasoc.lifecycle",
        "datasoc.actor_role",
        "user.id",
        "user.name",
        "user.roles",
        "data.asset.id",
        "data.asset.name",
        "data.classification",
        "data.region",
        "data.records",
        "data.bytes",
        "approval.id",
        "message",
        "tags",
    }
)
#: ECS namespaces accepted wholesale (source.ip, url.path, user.target.name, ...).
DATASOC_NAMESPACES = (
    "source.",
    "destination.",
    "client.",
    "server.",
    "http.",
    "url.",
    "user_agent.",
    "host.",
    "process.",
    "file.",
    "related.",
    "user.target.",
    "user.changes.",
    "data.fields.",
    "data.payload.",
    "datasoc.",
    "approval.",
    "labels.",
)

#: pySigma validators that download MITRE ATT&CK / D3FEND data at first use: never run offline.
NETWORK_VALIDATORS = frozenset({"attacktag", "d3_fendtag"})

#: Tag namespaces of the project's pack: MLPS 2.0 (GB/T 22239-2019) clauses, other GB/T standards.
PROJECT_TAG_NAMESPACES = frozenset({"mlps", "gbt", "datasoc"})


class ProjectNamespaceTagValidator(NamespaceTagValidator):
    """pySigma's namespace check, also accepting the project's compliance namespaces."""

    allowed_namespace = NamespaceTagValidator.allowed_namespace | PROJECT_TAG_NAMESPACES


def _validators() -> list[type[SigmaRuleValidator]]:
    chosen: list[type[SigmaRuleValidator]] = []
    for name, validator in core_validators.items():
        if name in NETWORK_VALIDATORS:
            continue
        chosen.append(ProjectNamespaceTagValidator if validator is NamespaceTagValidator else validator)
    return chosen


_SEVERITY: dict[SigmaValidationIssueSeverity, Severity] = {
    SigmaValidationIssueSeverity.HIGH: "error",
    SigmaValidationIssueSeverity.MEDIUM: "warning",
    SigmaValidationIssueSeverity.LOW: "warning",
}


@dataclass(frozen=True)
class Finding:
    """One problem found in a rule file."""

    severity: Severity
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.where}: {self.message}"


def _fields(detection: SigmaDetection | SigmaDetectionItem) -> Iterator[str]:
    if isinstance(detection, SigmaDetectionItem):
        if detection.field is not None:
            yield detection.field
        return
    for item in detection.detection_items:
        yield from _fields(item)


def unknown_datasoc_fields(rule: SigmaRule) -> list[str]:
    """Fields a `product: datasoc` rule names that the normalized schema does not have."""
    if rule.logsource.product != "datasoc":
        return []
    names = {f for d in rule.detection.detections.values() for f in _fields(d)}
    return sorted(n for n in names if n not in DATASOC_FIELDS and not n.startswith(DATASOC_NAMESPACES))


def check_rules(paths: Sequence[Path], *, pipeline_name: str) -> list[Finding]:
    """All findings for the rule files under `paths`."""
    loaded = RuleSet.load(paths, pipeline=resolve_pipeline(pipeline_name))
    findings = [Finding("error", e.location, e.reason) for e in loaded.errors]
    for rule in loaded.rules:
        where = str(rule.source) if rule.source else rule.title
        for name in unknown_datasoc_fields(rule.sigma):
            findings.append(Finding("error", where, f"field {name!r} is not in the normalized schema"))
        if not clauses(rule.node):
            message = "no literal or field the index can use: the rule is tried on every event (slow)"
            findings.append(Finding("warning", where, message))
    collection = SigmaCollection.load_ruleset(list(rule_files(paths)), collect_errors=True)
    validator = SigmaValidator(_validators())
    issues = []
    for parsed in collection.rules:
        if parsed.errors:
            continue  # already reported as a load error
        try:
            issues.extend(validator.validate_rule(parsed))  # type: ignore[arg-type]
        except (AttributeError, TypeError, ValueError) as exc:
            findings.append(Finding("error", str(parsed.source or parsed.title), f"validator failed: {exc}"))
    issues.extend(validator.finalize())
    for issue in issues:
        where = ", ".join(str(r.source.path) if r.source else str(r.id) for r in issue.rules)
        findings.append(Finding(_SEVERITY.get(issue.severity, "warning"), where, str(issue.description)))
    return findings


@dataclass(frozen=True)
class TestOutcome:
    """Result of one test event against one rule."""

    rule: str
    file: Path
    kind: Literal["positive", "negative"]
    index: int
    passed: bool
    reason: str = ""

    def __str__(self) -> str:
        state = "PASS" if self.passed else "FAIL"
        tail = f" ({self.reason})" if self.reason else ""
        return f"{state} {self.file.name} {self.rule} {self.kind}[{self.index}]{tail}"


def tests_file(rule_file: Path) -> Path | None:
    """The sibling `<rule>.tests.yml` (or `.tests.yaml`) of a rule file, when there is one."""
    stem = rule_file.name.rsplit(".", 1)[0]
    for suffix in TEST_SUFFIXES:
        candidate = rule_file.with_name(stem + suffix)
        if candidate.is_file():
            return candidate
    return None


def _events(spec: Any, key: str, where: Path) -> list[dict[str, Any]]:
    values = spec.get(key, []) if isinstance(spec, dict) else []
    if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
        raise ValueError(f"{where}: `{key}` must be a list of event objects")
    return [flatten(v) for v in values]


def run_rule_tests(
    paths: Sequence[Path], *, pipeline_name: str, require_tests: bool = False
) -> list[TestOutcome]:
    """Run the positive and negative events of every rule file that has a tests file.

    With `require_tests`, a rule file without one (or with no positive or no negative event) fails.
    """
    outcomes: list[TestOutcome] = []
    for rule_file in rule_files(paths):
        spec_file = tests_file(rule_file)
        if spec_file is None:
            if require_tests:
                reason = f"no {rule_file.stem}.tests.yml next to the rule"
                outcomes.append(TestOutcome("?", rule_file, "positive", -1, False, reason))
            continue
        loaded = RuleSet.load([rule_file], pipeline=resolve_pipeline(pipeline_name))
        for error in loaded.errors:
            outcomes.append(TestOutcome("?", rule_file, "positive", -1, False, f"not loaded: {error.reason}"))
        try:
            spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
            positives = _events(spec, "positive", spec_file)
            negatives = _events(spec, "negative", spec_file)
        except (OSError, yaml.YAMLError, ValueError) as exc:
            outcomes.append(TestOutcome("?", rule_file, "positive", -1, False, str(exc)))
            continue
        if loaded.correlations:
            continue  # multi-event tests belong to the correlation engine (detection.correlation)
        if require_tests and (not positives or not negatives):
            outcomes.append(
                TestOutcome("?", rule_file, "positive", -1, False, "needs positive and negative events")
            )
        for rule in loaded.rules:
            label = rule.id or rule.title
            for index, event in enumerate(positives):
                hit = rule.matches(event)
                outcomes.append(
                    TestOutcome(label, rule_file, "positive", index, hit, "" if hit else "no match")
                )
            for index, event in enumerate(negatives):
                hit = rule.matches(event)
                outcomes.append(
                    TestOutcome(label, rule_file, "negative", index, not hit, "matched" if hit else "")
                )
    return outcomes
