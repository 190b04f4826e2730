"""The compiled rule set the detection loop runs: single-event engine, correlations, and their links. Pure.

`compile_bundle(texts, pipeline)` builds one from rule texts by key (the stream job's rule changes);
`RuleBundle.from_loaded(loaded)` from rules already loaded (`datasoc detect`, the in-process detector).

Each correlation rule gets a `SpecContext`: its chain level (1: fed by single-event rules only; n: fed
by a correlation of level n - 1 at most), whether its own alerts are suppressed (an outer rule's
`generate: false`), the outer rules its matches feed, the bucket key of its chain, and a digest of all
of that: the rule *version*, under which the stream job keeps its windows (a changed rule starts with
fresh windows). The digest is taken over a canonical JSON form, so it is the same in every process.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detection.correlation import CorrelationRuleSet, CorrelationSpec, compile_correlations
from detection.engine import Engine, LoadResult, RuleSet
from detection.rule import CompiledRule

if TYPE_CHECKING:
    from sigma.processing.pipeline import ProcessingPipeline

#: Correlations over correlations are followed this many levels deep; deeper chains are rejected.
MAX_CHAIN = 3


@dataclass(frozen=True)
class SpecContext:
    """What the correlations need about one correlation rule beside its spec (see module docstring).

    `outers` are the keys of the correlation rules its matches feed; `chain`, for the rules of a chain,
    is one bucket key for all of them, so a chain's inputs stay together and in order (None: bucket by
    the rule's own group).
    """

    spec: CorrelationSpec
    digest: str
    level: int
    suppressed: bool
    outers: tuple[str, ...] = ()
    chain: str | None = None


@dataclass(frozen=True)
class RuleBundle:
    """The compiled active rule set: the single-event engine plus the correlations it feeds.

    `errors` maps a rule key to its load errors (rules that are not active); `targets` maps a
    single-event rule's id or name to the correlations it feeds; `contexts` holds every active
    correlation's context by spec key.
    """

    texts: Mapping[str, str]
    engine: Engine
    correlations: CorrelationRuleSet
    errors: Mapping[str, tuple[str, ...]]
    targets: Mapping[str, tuple[SpecContext, ...]]
    contexts: Mapping[str, SpecContext] = field(default_factory=dict)

    def alerting(self, rule: CompiledRule) -> bool:
        """Whether a single-event match of `rule` raises an alert of its own (Sigma `generate`)."""
        if not rule.output:
            return False
        return not any(self.correlations.is_suppressed(r) for r in (rule.id, rule.name) if r)

    @cached_property
    def feeding(self) -> Engine:
        """An engine over only the rules that feed correlations (a lane's view of other lanes' events)."""
        return Engine([r for r in self.engine.rules if r.id in self.targets or r.name in self.targets])

    @property
    def rule_count(self) -> int:
        """Active single-event and correlation rules."""
        return len(self.engine.rules) + len(self.correlations.specs)

    @classmethod
    def from_loaded(cls, loaded: LoadResult, texts: Mapping[str, str] | None = None) -> RuleBundle:
        """The bundle of rules loaded already; `texts` (key -> YAML) names where errors come from."""
        keys = texts or {}
        errors: dict[str, list[str]] = {}
        for error in loaded.errors:
            errors.setdefault(_key_of(error.file, keys), []).append(str(error))
        correlations = compile_correlations(loaded.correlations)
        for cerror in correlations.errors:
            errors.setdefault(_key_of(cerror.file, keys), []).append(str(cerror))
        levels = _levels(list(correlations.specs))
        specs: list[CorrelationSpec] = []
        for spec in correlations.specs:
            if levels[spec.key] > MAX_CHAIN:
                errors.setdefault(_key_of(Path(spec.path) if spec.path else None, keys), []).append(
                    f"correlation rule {spec.key!r}: chained deeper than {MAX_CHAIN} levels, or over a "
                    "correlation that is not active"
                )
                continue
            specs.append(spec)
        kept = CorrelationRuleSet(tuple(specs), correlations.errors, correlations.suppressed)
        fed_by: dict[str, list[CorrelationSpec]] = {}
        for spec in specs:
            for slot in spec.slots:
                for ref in slot.references:
                    fed_by.setdefault(ref, []).append(spec)
        outers_of = {
            spec.key: tuple(dict.fromkeys(o.key for r in sorted(spec.references) for o in fed_by.get(r, ())))
            for spec in specs
        }
        chains = _chains(specs, outers_of)
        contexts: dict[str, SpecContext] = {}
        for spec in specs:
            suppressed = bool(spec.references & kept.suppressed)
            placement = (levels[spec.key], suppressed, outers_of[spec.key], chains.get(spec.key))
            contexts[spec.key] = SpecContext(spec, _digest(spec, placement), *placement)
        return cls(
            texts=dict(keys),
            engine=Engine(loaded.rules),
            correlations=kept,
            errors={k: tuple(v) for k, v in errors.items()},
            targets={ref: tuple(contexts[s.key] for s in fed) for ref, fed in fed_by.items()},
            contexts=contexts,
        )


def compile_bundle(texts: Mapping[str, str], pipeline: ProcessingPipeline | None) -> RuleBundle:
    """Compile every rule text (key -> YAML); rules that fail are left out and listed in `errors`."""
    loaded = RuleSet.from_texts([(Path(k), t) for k, t in sorted(texts.items())], pipeline=pipeline)
    return RuleBundle.from_loaded(loaded, texts)


def _key_of(file: Path | None, keys: Mapping[str, str]) -> str:
    name = str(file) if file is not None else ""
    return name if name in keys else "<unknown>"


def _levels(specs: list[CorrelationSpec]) -> dict[str, int]:
    """Chain level of each spec (inner correlations first in `specs`, as the compiler orders them)."""
    by_ref: dict[str, CorrelationSpec] = {r: spec for spec in specs for r in spec.references}
    levels: dict[str, int] = {}
    for spec in specs:
        inner = [
            levels.get(by_ref[r].key, MAX_CHAIN + 1) if r in by_ref else MAX_CHAIN + 1
            for slot in spec.slots
            if slot.correlation
            for r in slot.references
        ]
        levels[spec.key] = 1 + max(inner, default=0)
    return levels


def _chains(specs: list[CorrelationSpec], outers_of: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """Chain name of every rule in a chain: the smallest key among the outermost rules it reaches."""

    def roots(key: str) -> set[str]:
        outers = outers_of.get(key, ())
        return {key} if not outers else set().union(*(roots(o) for o in outers))

    members = {s.key for s in specs if outers_of.get(s.key)} | {
        o for s in specs for o in outers_of.get(s.key, ())
    }
    return {key: "chain:" + min(roots(key)) for key in sorted(members)}


def _canonical(value: Any) -> Any:
    """A JSON-ready form with a fixed order: sets sorted, durations in seconds, enums by value."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(_canonical(v) for v in value)
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return value.value
    return value


def _digest(spec: CorrelationSpec, placement: tuple[Any, ...]) -> str:
    """The rule version: SHA-256 over the canonical spec and its placement (first 16 hex digits)."""
    form = asdict(spec)
    for where in ("path", "line"):  # where the rule is written is not what it is
        form.pop(where, None)
    text = json.dumps(_canonical([form, list(placement)]), sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
