"""Which rules a search engine can pre-select for a retro-hunt, converted by pySigma's backends.

A hunt over OpenSearch or Elasticsearch asks the engine for candidate events with the query
pySigma's backend makes of each rule (`pysigma-backend-opensearch`, `pysigma-backend-elasticsearch`,
Lucene syntax), then lets datasoc's own engine decide on each candidate. That gives Sigma's exact
semantics as long as every query finds at least the events the rule matches (a superset). The
index template (`datasoc.store.search.mapping`) makes string fields case-insensitive keywords, so
plain values, wildcards, `null`, numbers and booleans keep that promise. These do not, and a rule
using one is evaluated by scanning the hunt's time range instead (`Conversion.reason` says why):

- keywords (values without a field): the backends search every indexed field, unlike the engine;
- `|re`: Lucene regular expressions are case-sensitive on lower-cased terms and lack `(?i)`;
- `|gt`, `|gte`, `|lt`, `|lte` on a field the template does not map as a number (native values
  are keywords, compared as text);
- `|cidr` on a field the template does not map as an IP address;
- field references (`|fieldref`), which the Lucene backends do not convert;
- correlation rules, which the Lucene backends do not convert: their base rules are pre-selected
  and the correlation engine runs over the candidates.

Pure apart from reading rule files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sigma.collection import SigmaCollection
from sigma.conversion.base import TextQueryBackend
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaRegularExpression,
)

#: Schema fields the index template maps as numbers and as IP addresses.
NUMERIC_FIELDS: Final = frozenset({"data.records", "data.bytes"})
IP_FIELDS: Final = frozenset({"source.ip"})
DIALECTS: Final = ("opensearch", "elasticsearch")
_SUFFIXES: Final = (".yml", ".yaml")
_TEST_SUFFIXES: Final = (".tests.yml", ".tests.yaml")


@dataclass(frozen=True, slots=True)
class Conversion:
    """A rule's engine query (`query`), or None and why it is scanned instead (`reason`)."""

    rule_id: str
    title: str
    query: str | None
    reason: str


def _backend(dialect: str, pipeline: ProcessingPipeline | None) -> TextQueryBackend:
    if dialect == "opensearch":
        from sigma.backends.opensearch.opensearch import OpensearchLuceneBackend

        return OpensearchLuceneBackend(processing_pipeline=pipeline)
    if dialect == "elasticsearch":
        from sigma.backends.elasticsearch.elasticsearch_lucene import LuceneBackend

        return LuceneBackend(processing_pipeline=pipeline)
    raise ValueError(f"unknown dialect {dialect!r}; use one of {', '.join(DIALECTS)}")


def _items(detection: SigmaDetection) -> Iterator[SigmaDetectionItem]:
    for item in detection.detection_items:
        if isinstance(item, SigmaDetection):
            yield from _items(item)
        else:
            yield item


def _values(values: Iterable[Any]) -> Iterator[Any]:
    for value in values:
        if isinstance(value, SigmaExpansion):
            yield from _values(value.values)
        else:
            yield value


def unsupported(rule: SigmaRule) -> str | None:
    """Why the engines cannot pre-select this rule's events exactly enough, or None (see module doc)."""
    for detection in rule.detection.detections.values():
        for item in _items(detection):
            field = item.field
            if field is None:
                return "keywords (values without a field) search every field in the engines"
            for value in _values(item.value):
                if isinstance(value, SigmaRegularExpression):
                    return f"{field}|re: Lucene regular expressions are case-sensitive"
                if isinstance(value, SigmaFieldReference):
                    return f"{field}|fieldref: not converted by the Lucene backends"
                if isinstance(value, SigmaCompareExpression) and field not in NUMERIC_FIELDS:
                    return f"{field}: a numeric comparison on a field indexed as text"
                if isinstance(value, SigmaCIDRExpression) and field not in IP_FIELDS:
                    return f"{field}|cidr: not indexed as an IP address"
    return None


def rule_files(paths: Sequence[Path]) -> list[Path]:
    """Rule files under `paths` (files, or directories searched recursively), tests files left out."""
    files: list[Path] = []
    for path in paths:
        found = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        files.extend(p for p in found if p.name.endswith(_SUFFIXES) and not p.name.endswith(_TEST_SUFFIXES))
    return files


def convert_rules(
    paths: Sequence[Path], dialect: str, pipeline_factory: Callable[[], ProcessingPipeline | None]
) -> dict[str, Conversion]:
    """Each single-event rule under `paths`, by id, converted for `dialect` or with its reason.

    `pipeline_factory()` gives a fresh processing pipeline (the one the engine loads rules with):
    the backend applies it to the rule, so queries name the fields the stored events carry.
    """
    conversions: dict[str, Conversion] = {}
    for path in rule_files(paths):
        try:
            collection = SigmaCollection.from_yaml(
                path.read_text(encoding="utf-8"), collect_errors=True, resolve_references=False
            )
        except (OSError, UnicodeDecodeError, SigmaError, ValueError) as exc:
            conversions[str(path)] = Conversion(str(path), path.name, None, f"not parsed: {exc}")
            continue
        for rule in collection.rules:
            if isinstance(rule, SigmaCorrelationRule) or not isinstance(rule, SigmaRule):
                continue
            rule_id = str(rule.id) if rule.id is not None else (rule.name or rule.title)
            reason = unsupported(rule)
            if reason is not None:
                conversions[rule_id] = Conversion(rule_id, rule.title, None, reason)
                continue
            try:
                queries = _backend(dialect, pipeline_factory()).convert_rule(rule)
            except (SigmaError, NotImplementedError, ValueError, TypeError) as exc:
                conversions[rule_id] = Conversion(rule_id, rule.title, None, f"backend: {exc}")
                continue
            if not queries or not all(isinstance(q, str) and q for q in queries):
                conversions[rule_id] = Conversion(rule_id, rule.title, None, "backend gave no query")
                continue
            query = queries[0] if len(queries) == 1 else " OR ".join(f"({q})" for q in queries)
            conversions[rule_id] = Conversion(rule_id, rule.title, query, "converted")
    return conversions
