"""SigmaHQ's regression tests: each rule fires at least `match_count` times on its own events.

Layout: `regression_data/<rules-dir>/<product>/<category>/<rule>/info.yml` naming the rule id and
`regression_tests_info: [{name, type, match_count?, path}]`; the `.json` next to the `.evtx` holds
evtx_dump objects back to back (read with a raw_decode loop).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from datasoc.winevent import flatten
from detection.engine import Engine, LoadResult
from tests.detection.conftest import SIGMA


def _records(path: Path) -> Iterator[Any]:
    text, decoder, position = path.read_text(encoding="utf-8"), json.JSONDecoder(), 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return
        value, position = decoder.raw_decode(text, position)
        yield value


def _cases() -> list[tuple[str, str, Path, int]]:
    cases = []
    for info in sorted((SIGMA / "regression_data").rglob("info.yml")):
        meta = yaml.safe_load(info.read_text(encoding="utf-8"))
        rule_id = str(meta["rule_metadata"][0]["id"])
        for test in meta.get("regression_tests_info") or []:
            events = SIGMA / Path(test["path"]).with_suffix(".json")
            cases.append((rule_id, test.get("name", ""), events, int(test.get("match_count", 1))))
    return cases


CASES = _cases() if (SIGMA / "regression_data").is_dir() else []


def test_all_regression_tests_are_found(shared_data: Path) -> None:
    assert len(CASES) == 202


@pytest.mark.slow
@pytest.mark.parametrize("rules_fixture", ["sigma_rules", "sigma_rules_no_pipeline"])
def test_every_regression_test_passes(rules_fixture: str, request: pytest.FixtureRequest) -> None:
    """Under the default Windows pipeline (`sysmon`) and with no pipeline at all."""
    sigma_rules: LoadResult = request.getfixturevalue(rules_fixture)
    engine = Engine(sigma_rules.rules)
    failures = []
    for rule_id, name, events_path, match_count in CASES:
        rule = sigma_rules.by_key.get(rule_id)
        if rule is None:
            failures.append(f"{rule_id}: rule not loaded")
            continue
        events = [flatten(record) for record in _records(events_path)]
        fired = sum(1 for event in events if rule in engine.match(event))
        if fired < match_count:
            failures.append(f"{rule_id} ({rule.title}, {name}): {fired} < {match_count} on {events_path}")
    assert failures == []
