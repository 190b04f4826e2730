"""SigmaHQ rules apply unchanged to what the collector makes of `.evtx` files (all regression tests)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from collectors.inputs.evtx import parse_windows_file
from collectors.parsers.windows import WindowsEventParser
from datasoc.event import Event

SIGMA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "sigma"
NOW = datetime(2026, 3, 4, tzinfo=UTC)


@pytest.mark.slow
def test_regression_rules_fire_on_collected_evtx_events() -> None:
    if not (SIGMA / "regression_data").is_dir():
        pytest.skip(f"shared data absent: {SIGMA / 'regression_data'}")
    engine_module = pytest.importorskip("detection.engine")
    pipelines = pytest.importorskip("detection.pipelines")
    rules = engine_module.RuleSet.load(
        [SIGMA / "rules", SIGMA / "rules-emerging-threats", SIGMA / "rules-threat-hunting"],
        pipeline=pipelines.resolve_pipeline(pipelines.DEFAULT_WINDOWS_PIPELINE),
    )
    engine = engine_module.Engine(rules.rules)
    parser = WindowsEventParser(collector="file:winlog")
    ids = itertools.count()
    failures, checked = [], 0
    for info in sorted((SIGMA / "regression_data").rglob("info.yml")):
        meta = yaml.safe_load(info.read_text(encoding="utf-8"))
        rule = rules.by_key.get(str(meta["rule_metadata"][0]["id"]))
        for test in meta.get("regression_tests_info") or []:
            binary = SIGMA / Path(test["path"]).with_suffix(".evtx")
            results = parse_windows_file(binary, parser, now=NOW, new_id=lambda: f"id-{next(ids)}")
            events = [r.to_dict() for _, r in results if isinstance(r, Event)]
            fired = sum(1 for event in events if rule is not None and rule in engine.match(event))
            if fired < int(test.get("match_count", 1)):
                failures.append(f"{binary.name}: fired {fired}")
            checked += 1
    assert checked == 202
    assert failures == []
