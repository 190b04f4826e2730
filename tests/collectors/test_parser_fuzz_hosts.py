"""Fuzzing the host and provider parsers and the Windows and tail readers: an answer, never a crash."""

from __future__ import annotations

import io
import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.errors import ParseError
from collectors.inputs.evtx import WinRecord, iter_json_stream
from collectors.inputs.tailplan import TailPosition, split_records
from collectors.parsers import PARSERS, Parser
from datasoc.event import Event

NOW = datetime(2026, 3, 4, tzinfo=UTC)
IDS = itertools.count()
PROVIDER: dict[str, Any] = {
    "log_id": "PL-20260302-000187",
    "time": "2026-03-02T10:15:30.512+08:00",
    "operator": {
        "id": "u-gaj-0012",
        "account": "zhangli",
        "name": "张丽",
        "department": "gaj",
        "role": "provider",
    },
    "operation": "grade",
    "dataset": {"id": "ds-gaj-rkjc", "name": "人口基础信息", "records": 5, "bytes": 9},
    "detail": {"from": "core", "to": "general", "department": "wjw", "fields": ["xm"], "reason": "重新评估"},
    "result": {"status": "success"},
    "client": {"ip": "10.21.3.4"},
}
WINDOWS: dict[str, Any] = {
    "Event": {
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing"}},
            "EventID": 4624,
            "Keywords": "0x8020000000000000",
            "TimeCreated": {"#attributes": {"SystemTime": "2026-03-02T01:13:22.751156Z"}},
            "EventRecordID": 1201,
            "Channel": "Security",
            "Computer": "WS-GAJ-017",
        },
        "EventData": {"TargetUserName": "王伟", "TargetUserSid": "S-1-5-21-9", "IpAddress": "10.21.3.4"},
    }
}
SAMPLES: dict[str, list[str]] = {
    "auditd": [
        "type=USER_AUTH msg=audit(1772416402.123:456): pid=3101 uid=0 auid=1000 ses=5 "
        "msg='op=PAM:authentication"
        ' acct="zhangsan" exe="/usr/bin/sudo" hostname=? addr=10.21.3.4 terminal=/dev/pts/0 res=success\''
        '\x1dUID="root" AUID="zhangsan"',
        'type=EXECVE msg=audit(1772416402.123:457): argc=2 a0="mysqldump" a1=E4BABAE58FA3',
        "node=db-01 type=CONFIG_CHANGE msg=audit(1772416402.500:458): op=set audit_enabled=0 old=1 "
        "auid=1000 res=1",
    ],
    "provider_json": [json.dumps(PROVIDER, ensure_ascii=False)],
    "windows_evtx": [json.dumps(WINDOWS, ensure_ascii=False)],
}
JSON_SAMPLES = {"provider_json": PROVIDER, "windows_evtx": WINDOWS}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def outcome(name: str, raw: bytes | str) -> Event | ParseError:
    """Parse; any exception other than a well-formed ParseError fails the test."""
    parser: Parser = PARSERS[name](collector="fuzz")
    result: Event | ParseError
    try:
        result = parser.parse(raw, source="fuzz", now=NOW, new_id=lambda: f"id-{next(IDS)}", position=1)
    except ParseError as exc:
        result = exc
    if isinstance(result, ParseError):
        assert (result.source, result.position) == ("fuzz", 1)
        assert result.reason
    return result


# Random bytes, random text and truncated or mutated samples of these parsers are fuzzed with
# every other parser's in test_parser_fuzz.py; what follows is specific to their formats.


def _paths(node: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    return found


@pytest.mark.parametrize("name", sorted(JSON_SAMPLES))
@FUZZ
@given(data=st.data())
def test_json_fields_of_any_type(name: str, data: st.DataObject) -> None:
    doc = json.loads(json.dumps(JSON_SAMPLES[name]))
    path = data.draw(st.sampled_from(_paths(doc)))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = data.draw(json_values)
    outcome(name, json.dumps(doc, ensure_ascii=data.draw(st.booleans())))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_huge_fields(name: str) -> None:
    line = SAMPLES[name][0]
    for size in (70_000, 2_000_000):
        result = outcome(name, line.replace("zhangli" if "zhangli" in line else "王伟", "x" * size, 1))
        if name == "auditd":
            result = outcome(name, line + " extra=" + "y" * size)
        if size > 1 << 20:
            assert isinstance(result, ParseError)
            assert "exceeds the limit" in result.reason


@pytest.mark.parametrize("name", sorted(JSON_SAMPLES))
def test_deeply_nested_json(name: str) -> None:
    for depth in (1_000, 100_000):
        assert isinstance(outcome(name, "[" * depth + "]" * depth), ParseError)
        nested = '{"a":' * depth + "1" + "}" * depth
        doc = json.dumps(JSON_SAMPLES[name])
        assert isinstance(outcome(name, doc[:-1] + ',"extra":' + nested + "}"), Event | ParseError)
    nested = '{"a":' * 5_000 + "1" + "}" * 5_000
    deep = json.dumps(WINDOWS).replace('"EventData": {', '"EventData": {"Nested": ' + nested + ", ", 1)
    assert isinstance(outcome("windows_evtx", deep), Event | ParseError)


@FUZZ
@given(raw=st.binary(max_size=4000))
def test_json_stream_reader_never_crashes(raw: bytes) -> None:
    found = list(iter_json_stream(io.BytesIO(raw), "fuzz.json"))
    for item in found:
        assert isinstance(item, WinRecord | ParseError)


@FUZZ
@given(raw=st.binary(max_size=2000), multiline=st.booleans(), final=st.booleans(), limit=st.integers(1, 300))
def test_split_records_consumes_consistently(raw: bytes, multiline: bool, final: bool, limit: int) -> None:
    start = TailPosition(origin="f", path="f")
    cut = split_records(raw, start, multiline=multiline, final=final, max_record=limit)
    assert 0 <= cut.position.offset <= len(raw)
    assert cut.position.line == 1 + raw[: cut.position.offset].count(b"\n") or cut.position.discarding
    lines = [line for line, _ in cut.records]
    assert lines == sorted(lines)
    for _, record in cut.records:
        assert len(record) <= limit + 1
    if final and not cut.position.discarding:
        assert cut.position.offset == len(raw)
