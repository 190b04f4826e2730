"""The pack's rules carry logsources the parsers produce, so routing by logsource loses none of them."""

from __future__ import annotations

from pathlib import Path

import yaml

from collectors.parsers.logsource import CATEGORIES
from datasoc.logsource import DATASOC_CATEGORIES, DATASOC_SERVICES
from detection.engine import Engine
from tests.rules.conftest import Demo, Pack


def test_every_logsource_is_one_the_parsers_write(pack: Pack) -> None:
    for rule in pack.loaded.rules:
        source = rule.logsource
        assert source.product == "datasoc", rule.title
        assert source.service is None or source.service in DATASOC_SERVICES, rule.title
        assert source.category is None or source.category in DATASOC_CATEGORIES, rule.title


def _positive_actions(rule_file: Path) -> set[str]:
    tests = rule_file.with_name(rule_file.stem + ".tests.yml")
    if not tests.is_file():
        return set()
    data = yaml.safe_load(tests.read_text(encoding="utf-8")) or {}
    events = list(data.get("positive") or [])
    for sequence in (data.get("correlation") or {}).get("positive") or []:
        events.extend(sequence)
    return {e["event.action"] for e in events if isinstance(e, dict) and "event.action" in e}


def test_a_rule_of_one_category_selects_actions_of_that_category(pack: Pack) -> None:
    checked = 0
    for rule in pack.loaded.rules:
        if rule.logsource.category is None or rule.source is None:
            continue
        for action in _positive_actions(rule.source):
            assert CATEGORIES[action] == rule.logsource.category, (rule.title, action)
            checked += 1
    assert checked > 20


def test_routing_loses_no_match_on_the_replayed_demo(pack: Pack, demo: Demo) -> None:
    routed, unrouted = Engine(pack.loaded.rules), Engine(pack.loaded.rules, logsource=False)
    found = 0
    for event in demo.events:
        assert event["datasoc.logsource.product"] == "datasoc"
        matched = routed.match(event)
        assert matched == unrouted.match(event), event["event.action"]
        found += len(matched)
    assert found > 2000
