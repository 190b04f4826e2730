"""Rule management: `check_rules` (validation) and `run_rule_tests` (a rule's own test events).

Checks, in order: the rule loads and compiles (any `RuleLoadError`, which covers every construct
the engine does not support); pySigma's own validators (`sigma.validators.core`, minus the two that
download MITRE data, with the project's tag namespaces `mlps`, `gbt`, `datasoc` allowed); the
project's checks: fields of a rule on the normalized schema (`logsource.product: datasoc`) must be
fields of that schema after the pipeline (`datasoc.fields`: the Event model's fields plus the native
fields and families the parsers document there, one list shared with `collectors/`), and a rule the
candidate index cannot narrow is a warning.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from sigma.collection import SigmaCollection
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.validation import SigmaValidator
from sigma.validators.base import SigmaRuleValidator, SigmaValidationIssueSeverity
from sigma.validators.core import validators as core_validators
from sigma.validators.core.tags import NamespaceTagValidator

from datasoc.event import format_timestamp, parse_timestamp
from datasoc.fields import is_known_field
from datasoc.grants import GrantBook
from datasoc.winevent import flatten
from detection.bundle import RuleBundle
from detection.correlation import (
    CorrelationMatch,
    CorrelationRuleSet,
    compile_correlations,
)
from detection.engine import CompiledRule, Engine, LoadResult, RuleSet
from detection.errors import DetectionError
from detection.index import clauses
from detection.loader import TEST_SUFFIXES, rule_files
from detection.loop import DetectionLoop, Detections, GrantTracer, SequentialCorrelator
from detection.pipelines import resolve_pipeline
from detection.trace import MemoryUsage

Severity = Literal["error", "warning"]

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
    """Fields a `product: datasoc` rule names that no parser emits (`datasoc.fields.is_known_field`)."""
    if rule.logsource.product != "datasoc":
        return []
    names = {f for d in rule.detection.detections.values() for f in _fields(d)}
    return sorted(n for n in names if not is_known_field(n))


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


# -- correlation sequences ---------------------------------------------------------------------

#: Shorthand keys of a sequence event (rules/README.md, "Test events"): N copies, S seconds apart.
REPEAT, EVERY = "_repeat", "_every"
#: Upper bound on one shorthand's copies, so a typo cannot ask for millions of events.
MAX_REPEAT = 10_000


def expand_sequence(sequence: Any, where: str = "sequence") -> list[dict[str, Any]]:
    """A test sequence with `_repeat: N` / `_every: S` expanded and each event flattened.

    Every entry needs an RFC 3339 `@timestamp`; copy n (0-based) of an entry is `@timestamp + n*S`.
    Raises ValueError naming the entry on a malformed sequence.
    """
    if not isinstance(sequence, list) or not sequence:
        raise ValueError(f"{where}: a sequence must be a non-empty list of events")
    events: list[dict[str, Any]] = []
    for number, item in enumerate(sequence):
        at = f"{where}[{number}]"
        if not isinstance(item, dict):
            raise ValueError(f"{at}: expected an event object, got {type(item).__name__}")
        base = {k: v for k, v in item.items() if k not in (REPEAT, EVERY)}
        repeat, every = item.get(REPEAT, 1), item.get(EVERY, 0)
        if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= MAX_REPEAT:
            raise ValueError(f"{at}: {REPEAT} must be an integer from 1 to {MAX_REPEAT}, got {repeat!r}")
        if isinstance(every, bool) or not isinstance(every, int | float) or every < 0:
            raise ValueError(f"{at}: {EVERY} must be a non-negative number of seconds, got {every!r}")
        try:
            start = parse_timestamp(base.get("@timestamp"))
        except ValueError as exc:
            raise ValueError(f"{at}: @timestamp: {exc}") from None
        for n in range(repeat):
            stamp = format_timestamp(start + timedelta(seconds=every * n))
            events.append(flatten({**base, "@timestamp": stamp}))
    return events


@dataclass(frozen=True)
class CorrelationCase:
    """The `correlation:` sequences of one rule file's tests, expanded."""

    rule_file: Path
    positive: tuple[list[dict[str, Any]], ...]
    negative: tuple[list[dict[str, Any]], ...]

    @classmethod
    def from_spec(cls, rule_file: Path, spec: Any, where: Path) -> CorrelationCase | None:
        """The case of a parsed tests file, or None when it has no `correlation:` section."""
        section = spec.get("correlation") if isinstance(spec, dict) else None
        if section is None:
            return None
        if not isinstance(section, dict):
            raise ValueError(f"{where}: `correlation` must map positive and negative to lists of sequences")
        sequences: dict[str, tuple[list[dict[str, Any]], ...]] = {}
        for key in ("positive", "negative"):
            value = section.get(key, [])
            if not isinstance(value, list):
                raise ValueError(f"{where}: `correlation.{key}` must be a list of sequences")
            sequences[key] = tuple(
                expand_sequence(s, f"{where.name}: correlation.{key}[{i}]") for i, s in enumerate(value)
            )
        return cls(rule_file, sequences["positive"], sequences["negative"])


def correlation_cases(paths: Sequence[Path]) -> Iterator[CorrelationCase]:
    """Every rule file under `paths` whose tests file has a `correlation:` section."""
    for rule_file in rule_files(paths):
        spec_file = tests_file(rule_file)
        if spec_file is None:
            continue
        spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
        case = CorrelationCase.from_spec(rule_file, spec, spec_file)
        if case is not None:
            yield case


@dataclass(frozen=True)
class SequenceAlert:
    """One alert of `run_sequence`: the rule, and the input events (indexes into the list given)."""

    rule_id: str
    title: str
    level: str | None
    kind: str  # "single" or the correlation type
    event_indexes: tuple[int, ...]


def run_sequence(
    rules: Sequence[CompiledRule],
    correlations: CorrelationRuleSet,
    events: Sequence[Mapping[str, Any]],
    grants: GrantBook | None = None,
) -> list[SequenceAlert]:
    """Every alert `rules` and `correlations` raise over a finite list of events.

    The whole detection path as `datasoc detect --sort` runs it: events in `@timestamp` order (ties
    in list order) through the detection loop (`detection.loop`) with one sequential correlation
    engine, and a flush at the end. Base rules of correlations with `generate: false` stay silent.
    With `grants`, the loop also traces every data access against them (`detection.trace`).
    """
    bundle = RuleBundle({}, Engine(rules), correlations, {}, {})
    correlator = SequentialCorrelator(correlations, timedelta(0), keep_events=False)
    tracer = GrantTracer(grants, MemoryUsage()) if grants is not None else None
    loop, found = DetectionLoop(bundle, correlator, tracer=tracer), Detections()
    times = [parse_timestamp(e.get("@timestamp")) for e in events]
    alerts: list[SequenceAlert] = []
    for index in sorted(range(len(events)), key=lambda i: (times[i], i)):
        loop.event(index, events[index], times[index], found)
        alerts += _drain(found)
    correlator.flush(found)
    return alerts + _drain(found)


def _drain(found: Detections) -> list[SequenceAlert]:
    """The alerts in `found` (which is emptied); a rule that raised fails the test run."""
    for problem in found.problems:
        raise DetectionError(f"rule {problem.rule} raised on event {problem.position}: {problem.detail}")
    alerts = [
        SequenceAlert(s.rule.id or s.rule.title, s.rule.title, s.rule.level, "single", (s.position,))
        for s in found.singles
    ]
    for traced in found.traced:
        rule = traced.result.rule
        assert rule is not None
        alerts.append(SequenceAlert(rule.id, rule.title, rule.level, "trace", (traced.position,)))
    alerts += [_sequence_alert(c.match) for c in found.correlated]
    found.clear()
    return alerts


def _sequence_alert(match: CorrelationMatch) -> SequenceAlert:
    return SequenceAlert(
        match.rule_ref, match.title, match.level, match.correlation_type, match.event_indexes
    )


def _correlation_outcomes(
    rule_file: Path, loaded: LoadResult, case: CorrelationCase | None, require_tests: bool
) -> list[TestOutcome]:
    compiled = compile_correlations(loaded.correlations)
    outcomes = [
        TestOutcome("?", rule_file, "positive", -1, False, f"not loaded: {e.reason}") for e in compiled.errors
    ]
    own = sorted(s.id or s.title for s in compiled.specs if not s.references & compiled.suppressed)
    label = ",".join(own) or "?"
    if case is None or (require_tests and (not case.positive or not case.negative)):
        if case is not None or require_tests:
            reason = "needs `correlation:` with positive and negative sequences"
            outcomes.append(TestOutcome(label, rule_file, "positive", -1, False, reason))
        return outcomes
    if not own:
        outcomes.append(TestOutcome(label, rule_file, "positive", -1, False, "no alerting correlation"))
        return outcomes
    for index, sequence in enumerate(case.positive):
        fired = {a.rule_id for a in run_sequence(loaded.rules, compiled, sequence) if a.kind != "single"}
        hit = bool(fired & set(own))
        outcomes.append(
            TestOutcome(label, rule_file, "positive", index, hit, "" if hit else "no correlation")
        )
    for index, sequence in enumerate(case.negative):
        raised = run_sequence(loaded.rules, compiled, sequence)
        reason = "raised " + ", ".join(a.title for a in raised) if raised else ""
        outcomes.append(TestOutcome(label, rule_file, "negative", index, not raised, reason))
    return outcomes


def run_rule_tests(
    paths: Sequence[Path], *, pipeline_name: str, require_tests: bool = False
) -> list[TestOutcome]:
    """Run the tests file of every rule file: single-event lists, or correlation sequences.

    A file holding a correlation is tested with its `correlation:` sequences (a positive one must
    make one of the file's alerting correlations fire, a negative one must raise no alert at all);
    any other file with its `positive:` and `negative:` events against every rule in it. With
    `require_tests`, a rule file without a tests file (or with no positive or no negative) fails.
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
            case = CorrelationCase.from_spec(rule_file, spec, spec_file)
        except (OSError, yaml.YAMLError, ValueError) as exc:
            outcomes.append(TestOutcome("?", rule_file, "positive", -1, False, str(exc)))
            continue
        if loaded.correlations:
            if positives or negatives:
                reason = "a correlation file's tests are sequences under `correlation:`"
                outcomes.append(TestOutcome("?", rule_file, "positive", -1, False, reason))
            outcomes += _correlation_outcomes(rule_file, loaded, case, require_tests)
            continue
        if case is not None:
            reason = "`correlation:` tests but no correlation rule in the file"
            outcomes.append(TestOutcome("?", rule_file, "positive", -1, False, reason))
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
