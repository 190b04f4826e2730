"""The demo generator: determinism, volumes, office hours, the world it draws, and that every line parses."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from collectors.catalog import Catalog
from collectors.errors import ParseError
from collectors.parsers.base import CHINA_TZ
from datasoc.event import Event
from soc_api.demo import SOURCES, DemoDataset, generate, write_demo
from soc_api.demo.replay import replay

START = datetime(2026, 3, 2, 9, 30, tzinfo=CHINA_TZ)  # a Monday


def local_hour(event: Event) -> int:
    return event.timestamp.astimezone(CHINA_TZ).hour


def digests(dataset: DemoDataset) -> dict[str, str]:
    return {name: hashlib.sha256(content).hexdigest() for name, content in dataset.files.items()}


def test_same_seed_gives_byte_identical_files(demo: DemoDataset) -> None:
    assert digests(generate(demo.seed, START)) == digests(demo)


def test_different_seed_gives_different_logs(demo: DemoDataset) -> None:
    other = digests(generate(demo.seed + 1, START))
    mine = digests(demo)
    for name in SOURCES:
        assert other[name] != mine[name], name


def test_start_is_local_midnight_of_the_given_day(demo: DemoDataset) -> None:
    assert demo.start == datetime(2026, 3, 2, tzinfo=CHINA_TZ)
    assert demo.ground_truth["start"] == "2026-03-02T00:00:00+08:00"


def test_write_demo_writes_the_same_bytes(demo: DemoDataset, tmp_path: Path) -> None:
    paths = write_demo(demo, tmp_path / "nested" / "out")
    assert (
        set(paths)
        == set(demo.files)
        >= {*SOURCES, "catalog.json", "users.json", "requests.json", "ground_truth.json"}
    )
    for name, path in paths.items():
        assert path.read_bytes() == demo.files[name]
        path.read_bytes().decode("utf-8")  # UTF-8 throughout


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": datetime(2026, 3, 2)}, "aware"),  # noqa: DTZ001 (the naive time is the point)
        ({"days": 0}, "days"),
        ({"days": 400}, "days"),
        ({"scale": 0.0}, "scale"),
        ({"scale": -1.0}, "scale"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"seed": 1, "start": START, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate(**args)  # type: ignore[arg-type]


def test_every_log_line_parses(
    demo: DemoDataset,
    replayed: list[tuple[str, int, Event | ParseError]],
    events: dict[tuple[str, int], Event],
) -> None:
    assert [result for _, _, result in replayed if isinstance(result, ParseError)] == []
    for name in SOURCES:
        assert sum(1 for f, _ in events if f == name) > 100, name
    total_lines = sum(demo.files[name].count(b"\n") for name in SOURCES)
    assert 2000 <= total_lines <= 6000  # "a few thousand lines" over two days at scale 1


def test_every_event_lies_in_the_generated_days(
    demo: DemoDataset, events: dict[tuple[str, int], Event]
) -> None:
    end = demo.start + timedelta(days=demo.days)
    assert all(demo.start <= e.timestamp < end for e in events.values())


def test_scale_multiplies_volume() -> None:
    small = generate(5, START, days=1, scale=0.5)
    large = generate(5, START, days=1, scale=2.0)
    ratio = large.files["apigw_access.jsonl"].count(b"\n") / small.files["apigw_access.jsonl"].count(b"\n")
    assert 2.5 < ratio < 5.5


def test_weekend_is_quiet() -> None:
    monday = generate(5, START, days=1)
    saturday = generate(5, START - timedelta(days=2), days=1)
    assert (
        saturday.files["apigw_access.jsonl"].count(b"\n")
        < monday.files["apigw_access.jsonl"].count(b"\n") / 3
    )


def test_one_day_run_still_carries_every_incident() -> None:
    one_day = generate(9, START, days=1)
    assert len(one_day.ground_truth["incidents"]) == 8
    assert all(incident["evidence"] for incident in one_day.ground_truth["incidents"])


def test_data_users_keep_office_hours(
    events: dict[tuple[str, int], Event], evidence: dict[tuple[str, int], str]
) -> None:
    hours = Counter(
        local_hour(event)
        for (name, line), event in events.items()
        if name == "apigw_access.jsonl" and (name, line) not in evidence and event.action == "dataset.query"
    )
    total = sum(hours.values())
    office = sum(n for h, n in hours.items() if 9 <= h < 18)
    night = sum(n for h, n in hours.items() if h < 6)
    assert office / total > 0.8
    assert night / total < 0.02
    assert hours[12] < hours[10] / 1.5  # lunch dip


def test_world_shape(catalog: Catalog, users: dict[str, dict[str, Any]]) -> None:
    grades = Counter(d.classification for d in catalog.datasets)
    assert 18 <= len(catalog.datasets) <= 25
    assert set(grades) == {"core", "important", "general"}
    assert all(catalog.department(d.owner) is not None for d in catalog.datasets)
    assert all(d.table is not None for d in catalog.datasets)
    assert len(users) == 200
    roles = Counter(role for user in users.values() for role in user["roles"])
    assert roles["sysadmin"] >= 1
    assert roles["secadmin"] >= 1
    assert roles["auditadmin"] >= 1
    assert roles["provider"] >= 9
    assert roles["data_user"] >= 100
    assert all(len(u["roles"]) == 1 for u in users.values())  # no one holds two admin roles
    districts = {d.name for d in catalog.districts}
    assert all(catalog.locate(u["ip"]) is not None for u in users.values())
    assert {u["region"] for u in users.values()} <= districts
    cities = {e.city for e in catalog.external_networks}
    assert {"上海市", "广州市"} <= cities


def test_approvals_cover_restricted_data_only(
    catalog: Catalog, approvals: dict[str, dict[str, Any]], users: dict[str, dict[str, Any]]
) -> None:
    assert len(approvals) > 50
    for approval in approvals.values():
        dataset = catalog.dataset(approval["dataset"])
        assert dataset is not None
        assert dataset.classification in ("important", "core")
        assert approval["user"] in users
        assert approval["allowed_region"] == users[approval["user"]]["region"]
        assert approval["valid_from"] < approval["valid_to"]


def test_catalog_json_is_readable_and_chinese_is_not_escaped(demo: DemoDataset) -> None:
    text = demo.files["catalog.json"].decode("utf-8")
    assert "市公安局" in text
    assert "\\u" not in text
    assert json.loads(text)["city"] == "明州市"


def test_event_ids_are_unique_and_stable_across_replays(
    demo: DemoDataset, demo_dir: Path, events: dict[tuple[str, int], Event]
) -> None:
    ids = [e.event_id for e in events.values()]
    assert len(set(ids)) == len(ids)
    again = replay(demo_dir, now=demo.start + timedelta(days=9), new_id=lambda: "never-used")
    assert [r.result.event_id for r in again if isinstance(r.result, Event)] == ids


def test_replay_reports_a_damaged_line_and_goes_on(demo: DemoDataset, tmp_path: Path) -> None:
    paths = write_demo(demo, tmp_path)
    lines = paths["auth.log"].read_bytes().splitlines(keepends=True)
    lines.insert(3, b"\xff\xfe not syslog\n")
    paths["auth.log"].write_bytes(b"".join(lines))
    later = demo.start.replace(year=demo.start.year + 3)  # RFC 3164 years still come out right
    results = [r for r in replay(tmp_path, now=later, new_id=lambda: "x") if r.file == "auth.log"]
    errors = [r for r in results if isinstance(r.result, ParseError)]
    assert [(r.position, r.result.reason) for r in errors] == [(4, "invalid UTF-8 at byte 0")]
    assert len(results) == len(lines)
    end = demo.start + timedelta(days=demo.days)
    assert all(demo.start <= r.result.timestamp < end for r in results if isinstance(r.result, Event))
