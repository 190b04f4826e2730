"""Retro-hunt finds the same events on SQLite, OpenSearch and Elasticsearch.

Two loads, each stored in all three stores and hunted with `detection.hunt` as `datasoc hunt` does:
- the project's pack (37 rules, 10 correlations) over the demo (seed 7, two days, its eight
  incidents);
- a SigmaHQ sample: the 202 rules that have regression data, over their regression events plus
  `dev.jsonl` (5,407 ATT&CK simulation events), read by the Windows parser. Their `@timestamp` is
  re-based onto one day (a second apart, in original time order) so the sample makes one daily
  index instead of some 300; the native `TimeCreated_SystemTime` is kept, and no rule of the
  sample looks at time.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collectors.inputs.evtx import parse_windows_file
from collectors.parsers.windows import WindowsEventParser
from datasoc.event import Event
from datasoc.store import EventStore, SQLiteEventStore
from datasoc.store.search import Connection, ElasticsearchEventStore, OpenSearchEventStore, SearchStoreConfig
from detection.engine import LoadResult, RuleSet
from detection.hunt import HuntReport, StoreSource, convert_rules, hunt
from detection.pipelines import resolve_pipeline
from soc_api.demo import generate, write_demo
from soc_api.demo.replay import replay

REPO = Path(__file__).resolve().parents[3]
SHARED = REPO.parent / "shared" / "data"
SIGMA = SHARED / "sigma"
DEV_EVENTS = SHARED / "evtx-attack" / "dev.jsonl"
PIPELINE = "default"
NOW = datetime(2026, 3, 5, tzinfo=UTC)
KINDS = ("sqlite", "opensearch", "elasticsearch")
ENGINES: dict[str, type[OpenSearchEventStore] | type[ElasticsearchEventStore]] = {
    "opensearch": OpenSearchEventStore,
    "elasticsearch": ElasticsearchEventStore,
}


@dataclass(frozen=True)
class Load:
    """Rules (paths and loaded) and the events they are hunted over."""

    paths: list[Path]
    rules: LoadResult
    events: list[Event]
    start: datetime
    end: datetime


def _demo() -> Load:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        write_demo(generate(7, datetime(2026, 3, 2, tzinfo=UTC)), Path(directory))
        counter = itertools.count()
        events = [
            r.result
            for r in replay(Path(directory), now=NOW, new_id=lambda: f"demo-{next(counter)}")
            if isinstance(r.result, Event)
        ]
    paths = [REPO / "rules"]
    loaded = RuleSet.load(paths, pipeline=resolve_pipeline(PIPELINE))
    assert not loaded.errors
    return Load(paths, loaded, events, datetime(2026, 3, 1, tzinfo=UTC), NOW)


def _rule_files_by_id(ids: set[str]) -> list[Path]:
    found: dict[str, Path] = {}
    pattern = re.compile(r"^id:\s*([0-9a-f-]{36})\s*$", re.MULTILINE)
    for folder in ("rules", "rules-emerging-threats", "rules-threat-hunting"):
        for path in sorted((SIGMA / folder).rglob("*.yml")):
            match = pattern.search(path.read_text(encoding="utf-8"))
            if match and match.group(1) in ids:
                found[match.group(1)] = path
    return sorted(found.values())


def _windows_events(path: Path, parser: WindowsEventParser, counter: Iterator[int]) -> Iterator[Event]:
    for _, result in parse_windows_file(path, parser, now=NOW, new_id=lambda: f"win-{next(counter)}"):
        if isinstance(result, Event):
            yield result


def _sigma_sample() -> Load:
    if not SIGMA.is_dir() or not DEV_EVENTS.is_file():
        pytest.skip(f"shared data absent at {SHARED} (see ../shared/data/README.md)")
    infos = sorted((SIGMA / "regression_data").rglob("info.yml"))
    ids = {re.search(r"- id: ([0-9a-f-]{36})", p.read_text()).group(1) for p in infos}  # type: ignore[union-attr]
    paths = _rule_files_by_id(ids)
    loaded = RuleSet.load(paths, pipeline=resolve_pipeline(PIPELINE))
    parser = WindowsEventParser(collector="winlog")
    counter = itertools.count()
    events = [
        e
        for p in sorted((SIGMA / "regression_data").rglob("*.json"))
        for e in _windows_events(p, parser, counter)
    ]
    events += list(_windows_events(DEV_EVENTS, parser, counter))
    base = datetime(2026, 3, 2, 1, tzinfo=UTC)
    ordered = sorted(events, key=lambda e: (e.timestamp, e.event_id))
    rebased = [
        Event.from_dict({**e.to_dict(), "@timestamp": base + timedelta(seconds=i)})
        for i, e in enumerate(ordered)
    ]
    return Load(paths, loaded, rebased, base, base + timedelta(days=1))


LOADS: dict[str, Callable[[], Load]] = {"pack": _demo, "sigmahq": _sigma_sample}


@pytest.fixture(scope="module", params=sorted(LOADS))
def load(request: pytest.FixtureRequest) -> Load:
    return LOADS[request.param]()


def _open(kind: str, request: pytest.FixtureRequest, tmp: Path) -> EventStore:
    if kind == "sqlite":
        return SQLiteEventStore(tmp / "events.db")
    address = request.getfixturevalue(f"{kind}_server").address
    config = SearchStoreConfig(
        connection=Connection((address,)), index_prefix=f"hunt-{tmp.name[-8:].lower()}-", replicas=0
    )
    return ENGINES[kind](config)


def _hunt(load: Load, store: EventStore) -> HuntReport:
    source = StoreSource(store)
    conversions = (
        convert_rules(load.paths, source.dialect, lambda: resolve_pipeline(PIPELINE))
        if source.dialect
        else {}
    )
    return hunt(load.rules, conversions, source, load.start, load.end)


def _hits(report: HuntReport) -> list[tuple[str, tuple[str, ...]]]:
    return [(hit.rule_id, hit.event_ids) for hit in report.hits]


@pytest.mark.slow
@pytest.mark.timeout(900)  # includes waiting for the servers on a loaded machine
@pytest.mark.services("opensearch", "elasticsearch")
def test_the_same_rules_find_the_same_events_on_every_store(
    load: Load, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    reports: dict[str, HuntReport] = {}
    for kind in KINDS:
        store = _open(kind, request, tmp_path_factory.mktemp(f"hunt-{kind}"))
        try:
            for offset in range(0, len(load.events), 2000):
                assert not store.insert_batch(load.events[offset : offset + 2000]).rejected
            reports[kind] = _hunt(load, store)
        finally:
            store.close()
    expected = _hits(reports["sqlite"])
    assert len(expected) > 50
    for kind in ("opensearch", "elasticsearch"):
        assert _hits(reports[kind]) == expected, kind
        runs = reports[kind].runs
        queried = [run for run in runs if run.how == "query"]
        # Most rules are pre-selected by the engine, not scanned: the pySigma backends do the work.
        assert len(queried) >= len([r for r in runs if r.how != "correlation"]) // 2, kind
        assert sum(run.candidates for run in queried) < len(queried) * len(load.events) // 10
    assert all(run.how in ("scan", "correlation") for run in reports["sqlite"].runs)


def test_pack_hunt_report_json_line_shape(tmp_path: Path) -> None:
    """`datasoc hunt` over a SQLite store prints one JSON line per hit (the demo's correlations too)."""
    from click.testing import CliRunner

    from soc_api.cli import cli

    demo = _demo()
    with SQLiteEventStore(tmp_path / "events.sqlite3") as store:
        store.insert_many(demo.events)
    result = CliRunner().invoke(
        cli,
        [
            "hunt",
            "--data-dir",
            str(tmp_path),
            "--since",
            "2026-03-01T00:00:00Z",
            "--until",
            "2026-03-05T00:00:00Z",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {"rule_id", "rule_title", "event_ids", "first_seen", "last_seen", "correlation"} == set(lines[0])
    assert any(line["correlation"] and len(line["event_ids"]) > 1 for line in lines)
    with SQLiteEventStore(tmp_path / "events.sqlite3") as store:
        expected = _hits(_hunt(demo, store))
    assert [(line["rule_id"], tuple(line["event_ids"])) for line in lines] == expected
