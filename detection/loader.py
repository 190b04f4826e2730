"""Load Sigma rule files with pySigma and compile them once: `RuleSet.load` -> `LoadResult`.

pySigma parses (never hand-parsed YAML); each rule is then, in this order: given its Sigma filters
(meta filter rules, `SigmaFilter.apply_on_rule`), passed through the processing pipeline (field
mapping and logsource conditions), given the `expand` placeholder values from `config`, and compiled.
A broken rule or file becomes a `RuleLoadError` naming the file, the line when one is known, and the
reason; it never stops the other rules from loading.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.filters import SigmaFilter
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations import ValueListPlaceholderTransformation
from sigma.rule import SigmaRule

from detection import modifiers
from detection.errors import RuleLoadError
from detection.ir import CompileError
from detection.rule import CompiledRule, compile_rule

RULE_SUFFIXES = (".yml", ".yaml")
#: Sibling files holding a rule's own test events (`datasoc rules test`), never rules themselves.
TEST_SUFFIXES = (".tests.yml", ".tests.yaml")


@dataclass(frozen=True)
class LoadResult:
    """What `RuleSet.load` found.

    `rules`: compiled single-event rules, including the base rules correlations reference.
    `correlations`: pySigma `SigmaCorrelationRule` objects, references resolved, pipeline applied,
    not evaluated here. `errors`: one `RuleLoadError` per rule or file that could not be loaded.
    """

    rules: tuple[CompiledRule, ...]
    correlations: tuple[SigmaCorrelationRule, ...] = ()
    errors: tuple[RuleLoadError, ...] = ()
    by_key: Mapping[str, CompiledRule] = field(default_factory=dict, repr=False)

    def rule(self, key: str) -> CompiledRule:
        """A compiled rule by id or by Sigma `name` (KeyError when absent)."""
        return self.by_key[key]


def rule_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories to their `*.yml`/`*.yaml` files (sorted), skipping `*.tests.yml`."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = [p for p in path.rglob("*") if p.is_file() and p.name.endswith(RULE_SUFFIXES)]
            files.extend(sorted(found))
        else:
            files.append(path)
    return [f for f in files if not f.name.endswith(TEST_SUFFIXES)]


def _error(exc: BaseException, default_file: Path | None) -> RuleLoadError:
    if isinstance(exc, RuleLoadError):
        return exc
    line: int | None = None
    file = default_file
    if isinstance(exc, SigmaError) and isinstance(exc.source, SigmaRuleLocation):
        file = exc.source.path
        line = exc.source.line
        reason = str(exc.args[0]) if exc.args else type(exc).__name__
    elif isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        line = exc.problem_mark.line + 1
        reason = f"YAML: {exc.problem or exc}"
    else:
        reason = f"{type(exc).__name__}: {exc}"
    return RuleLoadError(file, line, reason)


_QUOTED = re.compile(r"'([^'\n]{2,80})'")
_RULE_ID = re.compile(r"^rule ([0-9a-f-]{36})")


def _locate(error: RuleLoadError, texts: Mapping[Path | None, str]) -> RuleLoadError:
    """Best-effort line for an error pySigma gave without one: the first line holding a name the
    message quotes (`Unknown modifier 'foo'` -> the line with `foo`), else the line of the rule id."""
    text = texts.get(error.file)
    if error.line is not None or text is None:
        return error
    lines = text.splitlines()
    needles = _QUOTED.findall(error.reason) + _RULE_ID.findall(error.reason)
    for needle in needles:
        for number, line in enumerate(lines, start=1):
            if needle in line:
                return RuleLoadError(error.file, number, error.reason)
    return error


def _placeholder_pipeline(config: Mapping[str, str] | None) -> ProcessingPipeline:
    # `|expand` placeholders (%name%) are filled by pySigma's own transformation from pipeline vars.
    return ProcessingPipeline(
        items=[ProcessingItem(ValueListPlaceholderTransformation(), identifier="datasoc_expand")],
        vars={name: [value] for name, value in (config or {}).items()},
    )


def _parse_file(path: Path, text: str) -> tuple[SigmaCollection | None, list[RuleLoadError]]:
    location = SigmaRuleLocation(path)
    try:
        collection = SigmaCollection.from_yaml(
            text, collect_errors=True, source=location, collect_filters=True, resolve_references=False
        )
    except (yaml.YAMLError, SigmaError, ValueError, TypeError, AttributeError) as exc:
        return None, [_error(exc, path)]
    errors = [_error(exc, path) for exc in collection.errors]
    return collection, errors


class RuleSet:
    """Entry point for loading rules: `RuleSet.load(paths, pipeline=..., config=...)`."""

    @staticmethod
    def load(
        paths: Sequence[Path],
        *,
        pipeline: ProcessingPipeline | None,
        config: Mapping[str, str] | None = None,
    ) -> LoadResult:
        """Load every rule file under `paths` (files or directories)."""
        sources: list[tuple[Path | None, str]] = []
        errors: list[RuleLoadError] = []
        for path in rule_files(paths):
            try:
                sources.append((path, path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                errors.append(RuleLoadError(path, None, f"cannot read: {exc}"))
        result = RuleSet.from_texts(sources, pipeline=pipeline, config=config)
        return LoadResult(result.rules, result.correlations, tuple(errors) + result.errors, result.by_key)

    @staticmethod
    def from_texts(
        sources: Sequence[tuple[Path | None, str]],
        *,
        pipeline: ProcessingPipeline | None,
        config: Mapping[str, str] | None = None,
    ) -> LoadResult:
        """Load rules from YAML texts, each with the file it came from (None for `<input>`)."""
        modifiers.register()
        errors: list[RuleLoadError] = []
        parsed, origin = _parse_all(sources, errors)
        merged = SigmaCollection(parsed, collect_filters=True, resolve_references=False)
        correlations = _resolve_correlations(merged, origin, errors)
        effective = (pipeline or ProcessingPipeline()) + _placeholder_pipeline(config)
        rules = _compile_all(merged, effective, origin, errors)
        by_key: dict[str, CompiledRule] = {}
        for compiled in rules:
            if compiled.id:
                by_key[compiled.id] = compiled
            if compiled.name:
                by_key[compiled.name] = compiled
        kept: list[SigmaCorrelationRule] = []
        # A correlation may reference base rules or other correlations (temporal over event_count).
        known = set(by_key) | {_key(c) for c in correlations} | {c.name for c in correlations if c.name}
        for correlation in correlations:
            references = correlation.rules or []
            missing = [ref.reference for ref in references if _key(ref.rule) not in known]
            try:
                if missing:
                    raise RuleLoadError(
                        origin.get(id(correlation)), None, f"references rules that did not load: {missing}"
                    )
                effective.apply(correlation)
                kept.append(correlation)
            except (SigmaError, RuleLoadError) as exc:
                errors.append(_error(exc, origin.get(id(correlation))))
        # pySigma reports a rule's error both on the rule and on its collection: keep one of each.
        texts = {path: text for path, text in sources}
        located = [_locate(e, texts) for e in errors]
        unique = list({(e.file, e.line, e.reason): e for e in located}.values())
        return LoadResult(tuple(rules), tuple(kept), tuple(unique), by_key)


def _key(rule: object) -> str:
    rule_id = getattr(rule, "id", None)
    return str(rule_id) if rule_id is not None else str(getattr(rule, "name", ""))


def _parse_all(
    sources: Sequence[tuple[Path | None, str]], errors: list[RuleLoadError]
) -> tuple[list[SigmaRule | SigmaCorrelationRule | SigmaFilter], dict[int, Path | None]]:
    parsed: list[SigmaRule | SigmaCorrelationRule | SigmaFilter] = []
    origin: dict[int, Path | None] = {}
    for path, text in sources:
        collection, file_errors = _parse_file(path or Path("<input>"), text)
        errors.extend(file_errors)
        if collection is None:
            continue
        for item in [*collection.rules, *collection.filters]:
            if item.errors:
                errors.extend(_error(exc, path) for exc in item.errors)
                continue
            origin[id(item)] = path
            parsed.append(item)
    return parsed, origin


def _resolve_correlations(
    merged: SigmaCollection, origin: Mapping[int, Path | None], errors: list[RuleLoadError]
) -> list[SigmaCorrelationRule]:
    correlations: list[SigmaCorrelationRule] = []
    for item in merged.rules:
        if isinstance(item, SigmaCorrelationRule):
            try:
                item.resolve_rule_references(merged)
            except SigmaError as exc:
                errors.append(_error(exc, origin.get(id(item))))
                continue
            correlations.append(item)
    return correlations


def _compile_all(
    merged: SigmaCollection,
    effective: ProcessingPipeline,
    origin: Mapping[int, Path | None],
    errors: list[RuleLoadError],
) -> list[CompiledRule]:
    """Filters, then the pipeline, then compilation, rule by rule; a failure costs that rule only."""
    rules: list[CompiledRule] = []
    for item in merged.rules:
        if not isinstance(item, SigmaRule):
            continue
        path = origin.get(id(item))
        try:
            rule = item
            for sigma_filter in merged.filters:
                filtered = sigma_filter.apply_on_rule(rule)
                if not isinstance(filtered, SigmaRule):
                    raise CompileError("a filter turned the rule into something else")
                rule = filtered
            effective.apply(rule)
            rules.append(compile_rule(rule, source=path))
        except (SigmaError, CompileError, ValueError, TypeError, KeyError) as exc:
            error = _error(exc, path)
            label = str(item.id) if item.id else repr(item.title)
            errors.append(RuleLoadError(error.file, error.line, f"rule {label}: {error.reason}"))
    return rules
