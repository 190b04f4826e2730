"""`datasoc detect` over replicated `dev.jsonl` with every SigmaHQ rule, as the bench runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from datasoc.winevent import flatten
from detection.engine import Engine, RuleSet
from soc_api.commands.detect import detect
from tests.detection.conftest import DEV_EVENTS, SIGMA, SIGMA_RULE_DIRS


@pytest.mark.slow
@pytest.mark.skipif(not SIGMA.is_dir() or not DEV_EVENTS.is_file(), reason="needs ../shared/data (README)")
def test_replicas_through_workers_give_the_engines_matches_and_no_other_product(tmp_path: Path) -> None:
    dev_events: list[dict[str, Any]] = [
        flatten(json.loads(line)) for line in DEV_EVENTS.open(encoding="utf-8")
    ]
    copies = 3
    replica = tmp_path / "dev-x3.jsonl"
    replica.write_bytes(DEV_EVENTS.read_bytes() * copies)
    loaded = RuleSet.load(SIGMA_RULE_DIRS, pipeline="default", cache=None)
    engine = Engine(loaded.rules)
    once = [(i, r.id) for i, event in enumerate(dev_events) for r in engine.match(event) if r.output]
    expected = [(i + n * len(dev_events), rule) for n in range(copies) for i, rule in once]
    rules = [str(d) for d in SIGMA_RULE_DIRS]
    args = ["--rules", *rules, "--events", str(replica), "--workers", "2", "--cache-dir", str(tmp_path / "c")]
    for _ in range(2):  # cold (compiled apart, into the cache), then warm
        result = CliRunner().invoke(detect, args)
        assert result.exit_code == 0, result.output
        lines = map(json.loads, result.stdout.splitlines())
        found = [(line["event_index"], line["rule_id"]) for line in lines]
        assert found == expected
    assert {loaded.rule(rule).logsource.product for _, rule in found} == {"windows"}
    assert len(found) == copies * 943
