"""Windows event files: `.evtx` and evtx_dump JSON give the same fields; JSON streams of every layout."""

from __future__ import annotations

import io
import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collectors.errors import ParseError
from collectors.inputs.evtx import (
    CHUNK,
    WinRecord,
    ingest_windows_file,
    iter_json_stream,
    iter_windows_file,
    parse_windows_file,
)
from collectors.parsers.windows import WindowsEventParser
from collectors.sink import TransportSink
from datasoc.event import Event
from datasoc.transport import DEADLETTER, EVENTS, Spool

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
REGRESSION = DATA / "sigma" / "regression_data"
NOW = datetime(2026, 3, 4, tzinfo=UTC)
# Known differences between a test's .evtx and its .json in the SigmaHQ regression data (the
# JSON was edited by hand): (file stem, field).
KNOWN_EDITS = {
    ("ad691d92-15f2-4181-9aa4-723c74f9ddc3", "TimeCreated_SystemTime"),
    ("ad691d92-15f2-4181-9aa4-723c74f9ddc3", "ParentCommandLine"),
}


def event(n: int, **data: Any) -> dict[str, Any]:
    return {
        "Event": {
            "System": {
                "EventID": 4688,
                "Channel": "Security",
                "Computer": "WS-1",
                "EventRecordID": n,
                "TimeCreated": {"#attributes": {"SystemTime": "2026-03-02T01:13:22Z"}},
            },
            "EventData": {"CommandLine": f"cmd /c echo {n}", **data},
        }
    }


def records(data: bytes) -> list[WinRecord | ParseError]:
    return list(iter_json_stream(io.BytesIO(data), "s.json"))


def test_ndjson_pretty_and_back_to_back() -> None:
    objects = [event(1), event(2), event(3)]
    ndjson = "\n".join(json.dumps(o) for o in objects).encode()
    pretty = "\n".join(json.dumps(o, indent=2) for o in objects).encode()
    packed = "".join(json.dumps(o) for o in objects).encode()
    for layout in (ndjson, pretty, packed):
        found = records(layout)
        assert [json.loads(r.raw) for r in found if isinstance(r, WinRecord)] == objects
    assert [r.position for r in records(ndjson) if isinstance(r, WinRecord)] == [1, 2, 3]
    height = json.dumps(objects[0], indent=2).count("\n") + 1
    assert [r.position for r in records(pretty) if isinstance(r, WinRecord)] == [
        1,
        1 + height,
        1 + 2 * height,
    ]


def test_records_across_chunk_boundaries() -> None:
    big = [event(n, Padding="数" * 500) for n in range(2 * CHUNK // 1500 + 50)]
    data = "\n".join(json.dumps(o, ensure_ascii=False) for o in big).encode()
    assert len(data) > 2 * CHUNK
    found = records(data)
    assert all(isinstance(r, WinRecord) for r in found)
    assert [
        json.loads(r.raw)["Event"]["System"]["EventRecordID"] for r in found if isinstance(r, WinRecord)
    ] == [n for n in range(len(big))]
    assert [r.position for r in found] == list(range(1, len(big) + 1))


def test_malformed_record_is_reported_and_reading_goes_on() -> None:
    lines = [json.dumps(event(1)), '{"Event": {"System": ', json.dumps(event(3)), json.dumps(event(4))]
    found = records("\n".join(lines).encode())
    errors = [r for r in found if isinstance(r, ParseError)]
    assert len(errors) == 1
    assert errors[0].position == 2
    assert "malformed JSON" in errors[0].reason
    assert [r.position for r in found if isinstance(r, WinRecord)] == [1, 3, 4]


def test_invalid_utf8_is_rejected_alone() -> None:
    parser = WindowsEventParser(collector="t")
    data = (json.dumps(event(1)) + "\n").encode() + json.dumps(event(2)).encode().replace(b"echo", b"ech\xff")
    outcomes: list[Event | ParseError] = []
    ids = itertools.count()
    for item in records(data):
        assert isinstance(item, WinRecord)
        try:
            outcomes.append(parser.parse(item.raw, source="s", now=NOW, new_id=lambda: f"{next(ids)}"))
        except ParseError as exc:
            outcomes.append(exc)
    assert isinstance(outcomes[0], Event)
    assert isinstance(outcomes[1], ParseError)
    assert "invalid UTF-8" in outcomes[1].reason


def test_truncated_stream_and_empty_stream() -> None:
    text = json.dumps(event(1))
    found = records((text + "\n" + text[:-5]).encode())
    assert isinstance(found[0], WinRecord)
    assert isinstance(found[1], ParseError)
    assert records(b"") == []
    assert records(b"  \n\n") == []


def test_damaged_evtx_yields_errors_not_crashes(tmp_path: Path) -> None:
    fake = tmp_path / "bad.evtx"
    fake.write_bytes(b"ElfFile\x00" + b"\x00" * 100)
    found = list(iter_windows_file(fake))
    assert found
    assert all(isinstance(r, ParseError) for r in found)


def _flat_of(path: Path, parser: WindowsEventParser) -> list[dict[str, Any]]:
    ids = itertools.count()
    out = []
    for _, result in parse_windows_file(path, parser, now=NOW, new_id=lambda: f"id-{next(ids)}"):
        assert isinstance(result, Event), result
        data = result.to_dict()
        for key in ("event.id", "log.original", "event.ingested"):
            data.pop(key)
        out.append(data)
    return out


def _strip(value: Any) -> Any:
    # The regression JSON files lost trailing blanks inside values that the .evtx keeps.
    if isinstance(value, str):
        return value.strip()
    return [_strip(v) for v in value] if isinstance(value, list) else value


@pytest.mark.slow
def test_evtx_and_json_of_sigma_regression_tests_agree() -> None:
    if not REGRESSION.is_dir():
        pytest.skip(f"shared data absent: {REGRESSION}")
    parser = WindowsEventParser(collector="t")
    compared = 0
    for binary in sorted(REGRESSION.rglob("*.evtx")):
        text = binary.with_suffix(".json")
        if not text.is_file():
            continue
        from_evtx, from_json = _flat_of(binary, parser), _flat_of(text, parser)
        assert len(from_evtx) == len(from_json), binary
        for a, b in zip(from_evtx, from_json, strict=True):
            for key in a.keys() | b.keys():
                if (binary.stem, key) in KNOWN_EDITS:
                    continue
                assert _strip(a.get(key)) == _strip(b.get(key)), (binary, key)
        compared += 1
    assert compared > 100


def test_evtx_attack_sample_parses() -> None:
    path = DATA / "evtx-attack" / "dev.jsonl"
    if not path.is_file():
        pytest.skip(f"shared data absent: {path}")
    parser = WindowsEventParser(collector="t")
    ids = itertools.count()
    results = [r for _, r in parse_windows_file(path, parser, now=NOW, new_id=lambda: f"{next(ids)}")]
    rejected = [r for r in results if isinstance(r, ParseError)]
    assert not rejected, rejected[:3]
    assert len(results) > 1000
    assert len({r.event_id for r in results if isinstance(r, Event)}) == len(results)


def test_ingest_delivers_events_and_dead_letters(tmp_path: Path) -> None:
    path = tmp_path / "ws.json"
    path.write_text(json.dumps(event(1)) + "\n{broken\n" + json.dumps(event(3)) + "\n")
    with Spool.open(tmp_path / "spool") as spool:
        result = ingest_windows_file(
            path,
            WindowsEventParser(collector="file:winlog"),
            TransportSink(spool),
            source="winlog:ws-1",
            now=NOW,
            new_id=lambda: "unused",
        )
        assert (result.accepted, result.rejected) == (2, 1)
        got = [json.loads(r.payload) for r in spool.read(EVENTS, 0, 10)]
        assert [e["EventRecordID"] for e in got] == [1, 3]
        (dead,) = [json.loads(r.payload) for r in spool.read(DEADLETTER, 0, 10)]
        assert (dead["source"], dead["position"]) == ("winlog:ws-1", 2)
        assert "malformed JSON" in dead["reason"]
