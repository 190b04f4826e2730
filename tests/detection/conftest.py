"""Fixtures for the detection tests: rules from YAML snippets, and the shared data location."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from datasoc.winevent import flatten
from detection.engine import CompiledRule, LoadResult, RuleSet
from detection.pipelines import DEFAULT_WINDOWS_PIPELINE, resolve_pipeline

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
SIGMA = SHARED / "sigma"
DEV_EVENTS = SHARED / "evtx-attack" / "dev.jsonl"
SIGMA_RULE_DIRS = [SIGMA / "rules", SIGMA / "rules-emerging-threats", SIGMA / "rules-threat-hunting"]


def load_yaml(text: str, *, config: Mapping[str, str] | None = None) -> LoadResult:
    """Load rules from one YAML text (no pipeline)."""
    return RuleSet.from_texts([(None, textwrap.dedent(text))], pipeline=None, config=config)


def rule_from(detection: str, *, config: Mapping[str, str] | None = None) -> CompiledRule:
    """One rule whose `detection:` block is `detection` (indented YAML, without the key)."""
    body = textwrap.indent(textwrap.dedent(detection).strip("\n"), "    ")
    text = (
        "title: test rule\nid: 5d2c5f8e-0000-4000-8000-000000000001\n"
        f"logsource:\n    product: test\ndetection:\n{body}\n"
    )
    result = RuleSet.from_texts([(None, text)], pipeline=None, config=config)
    assert not result.errors, [str(e) for e in result.errors]
    assert len(result.rules) == 1
    return result.rules[0]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`<repo>/../shared/data`, or skip."""
    if not SIGMA.is_dir() or not DEV_EVENTS.is_file():
        pytest.skip(
            f"shared data absent at {SHARED}: clone https://github.com/SigmaHQ/sigma into sigma/ and "
            "convert EVTX-ATTACK-SAMPLES to evtx-attack/dev.jsonl (see ../shared/data/README.md)"
        )
    return SHARED


@pytest.fixture(scope="session")
def sigma_rules(shared_data: Path) -> LoadResult:
    """Every active SigmaHQ rule under the default Windows pipeline (loaded once: about 10 s)."""
    return RuleSet.load(SIGMA_RULE_DIRS, pipeline=resolve_pipeline(DEFAULT_WINDOWS_PIPELINE))


@pytest.fixture(scope="session")
def sigma_rules_no_pipeline(shared_data: Path) -> LoadResult:
    """Every active SigmaHQ rule, no pipeline."""
    return RuleSet.load(SIGMA_RULE_DIRS, pipeline=None)


@pytest.fixture(scope="session")
def dev_events(shared_data: Path) -> list[dict[str, Any]]:
    """`dev.jsonl`, flattened."""
    with DEV_EVENTS.open(encoding="utf-8") as handle:
        return [flatten(json.loads(line)) for line in handle if line.strip()]
