"""One generated demo dataset per test session, written to disk and replayed through the real parsers."""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collectors.catalog import Catalog
from collectors.errors import ParseError
from collectors.parsers.base import CHINA_TZ
from datasoc.event import Event
from soc_api.demo import DemoDataset, generate, write_demo
from soc_api.demo.replay import replay

START = datetime(2026, 3, 2, 9, 30, tzinfo=CHINA_TZ)  # a Monday; generation starts at local midnight
SEED = 20260302


@pytest.fixture(scope="session")
def demo() -> DemoDataset:
    return generate(SEED, START)


@pytest.fixture(scope="session")
def demo_dir(demo: DemoDataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    write_demo(demo, out)
    return out


@pytest.fixture(scope="session")
def replayed(demo: DemoDataset, demo_dir: Path) -> list[tuple[str, int, Event | ParseError]]:
    ids = itertools.count()
    now = demo.start + timedelta(days=demo.days, hours=1)
    return [
        (r.file, r.position, r.result) for r in replay(demo_dir, now=now, new_id=lambda: f"id-{next(ids)}")
    ]


@pytest.fixture(scope="session")
def events(replayed: list[tuple[str, int, Event | ParseError]]) -> dict[tuple[str, int], Event]:
    """(file, line) to the event parsed from it."""
    return {(name, line): result for name, line, result in replayed if isinstance(result, Event)}


@pytest.fixture(scope="session")
def catalog(demo_dir: Path) -> Catalog:
    return Catalog.from_file(demo_dir / "catalog.json")


@pytest.fixture(scope="session")
def approvals(demo_dir: Path) -> dict[str, dict[str, Any]]:
    """The access plan (`requests.json`): each becomes a grant through the governance services."""
    return {a["id"]: a for a in json.loads((demo_dir / "requests.json").read_text("utf-8"))}


@pytest.fixture(scope="session")
def users(demo_dir: Path) -> dict[str, dict[str, Any]]:
    return {u["username"]: u for u in json.loads((demo_dir / "users.json").read_text("utf-8"))}


@pytest.fixture(scope="session")
def evidence(demo: DemoDataset) -> dict[tuple[str, int], str]:
    """(file, line) of every record that carries an incident, to the incident id."""
    return {
        (item["file"], line): incident["id"]
        for incident in demo.ground_truth["incidents"]
        for item in incident["evidence"]
        for line in item["lines"]
    }
