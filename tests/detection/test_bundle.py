"""Compiled rule bundles: correlation contexts, chains, versions (pure)."""

from __future__ import annotations

import json
import subprocess
import sys

from detection.bundle import MAX_CHAIN, compile_bundle
from detection.pipelines import resolve_pipeline
from tests.detection.stream.conftest import rule_texts

PIPELINE = resolve_pipeline("default")


def test_bundle_routes_base_rules_to_their_correlations_and_suppresses_them() -> None:
    bundle = compile_bundle(rule_texts("failed_login.yml"), PIPELINE)
    (base,) = bundle.engine.rules
    assert not bundle.alerting(base)  # generate: false (Sigma default)
    assert [c.spec.key for c in bundle.targets["failed_login"]] == ["5a0c1b9e-0d7e-4f43-9a11-000000000003"]
    assert set(bundle.contexts) == {s.key for s in bundle.correlations.specs}


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


def test_chained_correlations_get_levels_and_too_deep_chains_are_rejected() -> None:
    bundle = compile_bundle({"chain.yml": _chain(MAX_CHAIN)}, resolve_pipeline("default"))
    assert sorted(c.level for c in bundle.contexts.values()) == list(range(1, MAX_CHAIN + 1))
    assert not bundle.errors
    # Each level's context names the rule its matches feed, one level on.
    (context,) = [c for c in bundle.contexts.values() if c.level == 1]
    assert [bundle.contexts[key].level for key in context.outers] == [2]
    # The default `generate: false` of the outer rules suppresses the inner ones' own alerts.
    assert context.suppressed
    # The rules of a chain share one bucket key, so the chain's inputs stay together.
    assert len({c.chain for c in bundle.contexts.values()}) == 1

    deep = compile_bundle({"chain.yml": _chain(MAX_CHAIN + 1)}, resolve_pipeline("default"))
    assert len(deep.contexts) == MAX_CHAIN
    (error,) = deep.errors["chain.yml"]
    assert f"chained deeper than {MAX_CHAIN} levels" in error


_DIGESTS = """
import json
from detection.bundle import compile_bundle
from detection.pipelines import resolve_pipeline
from tests.detection.stream.conftest import rule_texts
bundle = compile_bundle(rule_texts("failed_login.yml"), resolve_pipeline("default"))
print(json.dumps(sorted(c.digest for c in bundle.contexts.values())))
"""


def test_a_rule_version_has_the_same_digest_in_every_process() -> None:
    # Windows are kept by digest: a restored job (a new process, another hash seed) must find them.
    # The rule references its base rule by id and name, a set whose order follows the hash seed.
    seen = {
        subprocess.run(
            [sys.executable, "-c", _DIGESTS],
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(seen) == 1
    bundle = compile_bundle(rule_texts("failed_login.yml"), PIPELINE)
    assert set(json.loads(seen.pop())) == {c.digest for c in bundle.contexts.values()}
