"""Rule changes for the broadcast stream and the compiled bundle each operator evaluates. Pure.

A rule change is one JSON line written by the rule store (`detection.stream.bridge.RuleChangeWriter`):

    {"version": 7, "put": {"<rule key>": "<Sigma YAML>", ...}, "disable": ["<rule key>", ...]}

`put` adds or replaces rules, `disable` removes them. Keys are the rule store's names (a file name,
a rule id); they are also the `file` of every load error, so an error always names its rule.
Per-rule validation: a put whose rule fails to load (or whose correlation cannot run in the stream)
is rejected with its error and the previous version of that rule, if any, stays active; the other
rules of the change still apply. Nothing is dropped silently: every rejection is in the outcome.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigma.processing.pipeline import ProcessingPipeline

from detection.correlation import CorrelationRuleSet, CorrelationSpec, compile_correlations
from detection.engine import Engine, RuleSet
from detection.errors import DetectionError
from detection.rule import CompiledRule


class RuleChangeError(DetectionError, ValueError):
    """A rule-change line is not valid; names the position in the change stream."""


@dataclass(frozen=True)
class RuleChange:
    """One change of the active rule set (see module docstring)."""

    version: int
    put: Mapping[str, str] = field(default_factory=dict)
    disable: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, line: str, *, where: str = "rule change") -> RuleChange:
        """Parse and check one JSON line; raises `RuleChangeError` naming what is wrong."""
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise RuleChangeError(f"{where}: not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise RuleChangeError(f"{where}: must be a JSON object")
        unknown = sorted(set(data) - {"version", "put", "disable"})
        if unknown:
            raise RuleChangeError(f"{where}: unknown keys {unknown}")
        version = data.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise RuleChangeError(f"{where}: version must be a positive integer, got {version!r}")
        put = data.get("put", {})
        if not isinstance(put, dict) or not all(
            isinstance(k, str) and k and isinstance(v, str) for k, v in put.items()
        ):
            raise RuleChangeError(f"{where}: put must map rule keys to YAML texts")
        disable = data.get("disable", [])
        if not isinstance(disable, list) or not all(isinstance(k, str) and k for k in disable):
            raise RuleChangeError(f"{where}: disable must be a list of rule keys")
        return cls(version=version, put=dict(put), disable=tuple(disable))

    def to_json(self) -> str:
        """The one-line wire form."""
        return json.dumps(
            {"version": self.version, "put": dict(self.put), "disable": list(self.disable)},
            ensure_ascii=False,
            sort_keys=True,
        )


@dataclass(frozen=True)
class ChangeOutcome:
    """What a change did: accepted and disabled keys, and each rejected key with its errors."""

    version: int
    accepted: tuple[str, ...]
    disabled: tuple[str, ...]
    rejected: Mapping[str, tuple[str, ...]]

    def to_dict(self) -> dict[str, Any]:
        """Wire form for the job's health output."""
        return {
            "kind": "rule_change",
            "version": self.version,
            "accepted": list(self.accepted),
            "disabled": list(self.disabled),
            "rejected": {k: list(v) for k, v in sorted(self.rejected.items())},
        }


@dataclass(frozen=True)
class RuleBundle:
    """The compiled active rule set: the single-event engine plus the correlations it feeds.

    `errors` maps a rule key to its load errors (rules that are not active); `targets` maps a
    single-event rule's id or name to the correlations (by spec key) it feeds; `spec_blobs` are
    the pickled `SpecContext`s shipped with correlation inputs, so the keyed correlation operator needs
    no broadcast state of its own (and no ordering between two broadcast inputs); `levels` the stage
    of each correlation.
    """

    texts: Mapping[str, str]
    engine: Engine
    correlations: CorrelationRuleSet
    errors: Mapping[str, tuple[str, ...]]
    targets: Mapping[str, tuple[CorrelationSpec, ...]]
    spec_blobs: Mapping[str, bytes]
    spec_digests: Mapping[str, str]
    levels: Mapping[str, int] = field(default_factory=dict)
    chains: Mapping[str, str] = field(default_factory=dict)

    def alerting(self, rule: CompiledRule) -> bool:
        """Whether a single-event match of `rule` raises an alert of its own (Sigma `generate`)."""
        if not rule.output:
            return False
        return not any(self.correlations.is_suppressed(r) for r in (rule.id, rule.name) if r)

    @property
    def rule_count(self) -> int:
        """Active single-event and correlation rules."""
        return len(self.engine.rules) + len(self.correlations.specs)


def _key_of(file: Path | None, keys: Mapping[str, str]) -> str:
    name = str(file) if file is not None else ""
    return name if name in keys else "<unknown>"


#: Correlations over correlations run in stages, one keyed operator per level; deeper chains are rejected.
MAX_CHAIN = 3


@dataclass(frozen=True)
class ChainLink:
    """An outer correlation fed by the matches of an inner one: its key, stage and pickled context."""

    key: str
    level: int
    digest: str
    blob: bytes


@dataclass(frozen=True)
class SpecContext:
    """What the keyed correlation operator needs about one correlation rule, shipped with its inputs.

    `level` is the stage that evaluates it (1: fed by single-event rules only; n: fed by a correlation
    of level n - 1 at most). `suppressed`: its matches feed outer rules but raise no alert of their own
    (Sigma `generate: false` on an outer rule). `outers`: the rules its matches feed. `chain`: see there.
    """

    spec: CorrelationSpec
    level: int
    suppressed: bool
    outers: tuple[ChainLink, ...]
    #: For the rules of a chain: one bucket key for all of them, so the inputs of a whole chain keep
    #: their order through the stages (None: bucket by the rule's own group).
    chain: str | None = None


def _levels(specs: list[CorrelationSpec]) -> dict[str, int]:
    """Stage of each spec (inner correlations first in `specs`, as the compiler orders them)."""
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


def _chains(specs: list[CorrelationSpec], outers_of: Mapping[str, list[str]]) -> dict[str, str]:
    """Chain name of every rule in a chain: the smallest key among the outermost rules it reaches."""

    def roots(key: str) -> set[str]:
        outers = outers_of.get(key, [])
        return {key} if not outers else set().union(*(roots(o) for o in outers))

    members = {s.key for s in specs if outers_of.get(s.key)} | {
        o for s in specs for o in outers_of.get(s.key, [])
    }
    return {key: "chain:" + min(roots(key)) for key in sorted(members)}


def compile_bundle(texts: Mapping[str, str], pipeline: ProcessingPipeline | None) -> RuleBundle:
    """Compile every rule text (key -> YAML); rules that fail are left out and listed in `errors`.

    Chained correlations (a correlation over another correlation) run in stages (`SpecContext`); a
    chain deeper than `MAX_CHAIN`, or over a correlation that is not active, is rejected here.
    """
    loaded = RuleSet.from_texts([(Path(k), t) for k, t in sorted(texts.items())], pipeline=pipeline)
    errors: dict[str, list[str]] = {}
    for error in loaded.errors:
        errors.setdefault(_key_of(error.file, texts), []).append(str(error))
    correlations = compile_correlations(loaded.correlations)
    for cerror in correlations.errors:
        errors.setdefault(_key_of(cerror.file, texts), []).append(str(cerror))
    levels = _levels(list(correlations.specs))
    specs: list[CorrelationSpec] = []
    for spec in correlations.specs:
        if levels[spec.key] > MAX_CHAIN:
            key = spec.path if spec.path in texts else "<unknown>"
            errors.setdefault(str(key), []).append(
                f"correlation rule {spec.key!r}: chained deeper than {MAX_CHAIN} levels, or over a "
                "correlation that is not active"
            )
            continue
        specs.append(spec)
    kept = CorrelationRuleSet(tuple(specs), correlations.errors, correlations.suppressed)
    targets: dict[str, list[CorrelationSpec]] = {}
    for spec in specs:
        for slot in spec.slots:
            for ref in slot.references:
                targets.setdefault(ref, []).append(spec)
    blobs: dict[str, bytes] = {}
    digests: dict[str, str] = {}
    outers_of = {
        spec.key: list(dict.fromkeys(o.key for r in sorted(spec.references) for o in targets.get(r, ())))
        for spec in specs
    }
    chains = _chains(specs, outers_of)
    # Outer rules first, so each context can carry its outers' pickled contexts.
    for spec in sorted(specs, key=lambda s: -levels[s.key]):
        outers = tuple(ChainLink(k, levels[k], digests[k], blobs[k]) for k in outers_of[spec.key])
        suppressed = bool(spec.references & kept.suppressed)
        context = SpecContext(spec, levels[spec.key], suppressed, outers, chains.get(spec.key))
        blobs[spec.key] = pickle.dumps(context, protocol=pickle.HIGHEST_PROTOCOL)
        digests[spec.key] = hashlib.sha256(blobs[spec.key]).hexdigest()[:16]
    return RuleBundle(
        texts=dict(texts),
        engine=Engine(loaded.rules),
        correlations=kept,
        errors={k: tuple(v) for k, v in errors.items()},
        targets={k: tuple(v) for k, v in targets.items()},
        spec_blobs=blobs,
        spec_digests=digests,
        levels={spec.key: levels[spec.key] for spec in specs},
        chains=chains,
    )


def apply_change(
    current: Mapping[str, str], change: RuleChange, pipeline: ProcessingPipeline | None
) -> tuple[RuleBundle, ChangeOutcome]:
    """Apply `change` to the active texts; a put that fails keeps the previous version of its rule."""
    candidate = {k: v for k, v in current.items() if k not in change.disable}
    candidate.update(change.put)
    bundle = compile_bundle(candidate, pipeline)
    rejected = {k: bundle.errors[k] for k in change.put if k in bundle.errors}
    if rejected:
        for key in rejected:
            if key in current:
                candidate[key] = current[key]
            else:
                del candidate[key]
        bundle = compile_bundle(candidate, pipeline)
    outcome = ChangeOutcome(
        version=change.version,
        accepted=tuple(sorted(k for k in change.put if k not in rejected)),
        disabled=tuple(sorted(k for k in change.disable if k in current)),
        rejected=rejected,
    )
    return bundle, outcome
