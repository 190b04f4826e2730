"""Fuzzing every parser: whatever the input, the answer is an Event or a ParseError, never a crash."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors.catalog import Catalog
from collectors.errors import ParseError
from collectors.parsers import PARSERS, Parser
from datasoc.event import Event

NOW = datetime(2026, 3, 4, tzinfo=UTC)
IDS = itertools.count()
CATALOG = Catalog.from_dict(
    {
        "city": "明州市",
        "districts": [{"id": "donghu", "name": "东湖区", "cidrs": ["10.21.0.0/16"]}],
        "datasets": [
            {
                "id": "ds-gaj-rkjc",
                "name": "人口基础信息",
                "classification": "core",
                "owner": "gaj",
                "region": "东湖区",
                "table": {"engine": "mysql", "database": "gaj", "name": "rk_jcxx"},
            }
        ],
        "service_accounts": ["svc_portal"],
    }
)
APIGW: dict[str, Any] = {
    "time": "2026-03-02T09:13:22.123+08:00",
    "request_id": "7f3c",
    "client_ip": "10.21.3.4",
    "consumer": "wangwei",
    "consumer_group": "data_user",
    "method": "GET",
    "uri": "/api/v1/datasets/ds-gaj-rkjc/download?format=csv",
    "status": 200,
    "bytes": 96400,
    "latency": 88.5,
    "upstream_records": "500",
    "approval_id": "SQ-2026-0007",
}
MYSQL: dict[str, Any] = {
    "name": "Query",
    "record": "1_2026-02-27T03:00:00",
    "timestamp": "2026-03-02T01:13:22 UTC",
    "command_class": "grant",
    "connection_id": "47",
    "status": 0,
    "sqltext": "GRANT ALL ON gaj.rk_jcxx TO 'dba_li'@'%'",
    "user": "dba_li[dba_li] @  [10.10.8.31]",
    "ip": "10.10.8.31",
    "db": "gaj",
}
SAMPLES: dict[str, list[str]] = {
    "apigw_json": [json.dumps(APIGW)],
    "mysql_audit_json": [json.dumps({"audit_record": MYSQL}, ensure_ascii=False)],
    "pgaudit_csv": [
        '2026-03-02 23:12:25.118 CST,"liuyan","wjw",18196,"10.10.8.29:44495",69a5a8c0.4714,1,"GRANT",'
        "2026-03-02 23:12:00 CST,4/2,0,LOG,00000,"
        '"AUDIT: SESSION,1,1,ROLE,GRANT,TABLE,public.dzbl_zy,'
        '""GRANT SELECT ON TABLE public.dzbl_zy TO liuyan"",'
        '<not logged>",,,,,,,,,"psql","client backend",,0'
    ],
    "linux_syslog": [
        "<85>Mar  3 22:53:00 db-01 sudo:   gaojun : TTY=pts/0 ; PWD=/home/gaojun ; USER=root ; "
        "COMMAND=/usr/sbin/auditctl -e 0",
        "Mar  2 09:10:00 bastion-01 sshd[2211]: Accepted publickey for liuyan from 10.21.8.29 port 51 ssh2",
        '<38>1 2026-03-02T01:13:22.5+08:00 h sshd 991 - [o ip="1"] '
        "\ufeffFailed password for root from 1.2.3.4 port 2 ssh2",
    ],
    # The host and provider parsers have their own, deeper fuzz tests in test_parser_fuzz_hosts.py.
    "auditd": [
        "type=CONFIG_CHANGE msg=audit(1772416402.500:458): op=set audit_enabled=0 old=1 auid=1000"
        ' key="off" res=1',
    ],
    "provider_json": [
        '{"log_id": "PL-1", "time": "2026-03-02T10:15:30+08:00", "operation": "share", '
        '"operator": {"account": "zhangli", "role": "provider"}, "dataset": {"id": "ds-gaj-rkjc"}, '
        '"detail": {"department": "wjw"}, "result": {"status": "success"}}'
    ],
    "windows_evtx": [
        '{"Event": {"System": {"EventID": 1102, "Channel": "Security", "Computer": "WS-1", '
        '"TimeCreated": {"#attributes": {"SystemTime": "2026-03-02T01:13:22Z"}}}, '
        '"UserData": {"LogFileCleared": {"SubjectUserName": "liuyan"}}}}'
    ],
}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def outcome(name: str, raw: bytes | str) -> Event | ParseError:
    """Parse; any exception other than a well-formed ParseError fails the test."""
    parser: Parser = PARSERS[name](collector="fuzz", catalog=CATALOG)
    result: Event | ParseError
    try:
        result = parser.parse(raw, source="fuzz", now=NOW, new_id=lambda: f"id-{next(IDS)}", position=1)
    except ParseError as exc:
        result = exc
    if isinstance(result, ParseError):
        assert (result.source, result.position) == ("fuzz", 1)
        assert result.reason
    return result


def test_samples_parse() -> None:
    for name, lines in SAMPLES.items():
        for line in lines:
            assert isinstance(outcome(name, line), Event), (name, line)


@pytest.mark.parametrize("name", sorted(PARSERS))
@FUZZ
@given(raw=st.binary(max_size=3000))
def test_random_bytes(name: str, raw: bytes) -> None:
    outcome(name, raw)


@pytest.mark.parametrize("name", sorted(PARSERS))
@FUZZ
@given(data=st.data())
def test_truncated_and_mutated_samples(name: str, data: st.DataObject) -> None:
    line = data.draw(st.sampled_from(SAMPLES[name])).encode("utf-8")
    cut = data.draw(st.integers(0, len(line)))
    at = data.draw(st.integers(0, len(line)))
    junk = data.draw(st.binary(min_size=0, max_size=8))
    outcome(name, line[:cut])
    outcome(name, line[:at] + junk + line[at + len(junk) :])


@pytest.mark.parametrize("name", ["apigw_json", "mysql_audit_json"])
@FUZZ
@given(data=st.data())
def test_json_fields_of_any_type(name: str, data: st.DataObject) -> None:
    base = dict(APIGW if name == "apigw_json" else MYSQL)
    key = data.draw(st.sampled_from(sorted(base)))
    base[key] = data.draw(json_values)
    doc: Any = base if name == "apigw_json" else {"audit_record": base}
    outcome(name, json.dumps(doc, ensure_ascii=data.draw(st.booleans())))


@pytest.mark.parametrize("name", sorted(PARSERS))
@FUZZ
@given(text=st.text(max_size=500))
def test_random_text(name: str, text: str) -> None:
    outcome(name, text)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_huge_fields(name: str) -> None:
    for line in SAMPLES[name]:
        for size in (70_000, 900_000, 2_000_000):
            # Blow up the longest run of letters in the record (a user, a statement, a URI).
            word = max((w for w in line.replace('"', " ").split() if w.isalpha()), key=len, default="root")
            result = outcome(name, line.replace(word, word + "x" * size, 1))
            if size > 1 << 20:
                assert isinstance(result, ParseError)
                assert "exceeds the limit" in result.reason


@pytest.mark.parametrize("name", ["apigw_json", "mysql_audit_json"])
def test_deeply_nested_json(name: str) -> None:
    for depth in (1_000, 100_000):
        assert isinstance(outcome(name, "[" * depth + "]" * depth), ParseError)
        nested = '{"a":' * depth + "1" + "}" * depth
        doc = json.dumps(APIGW if name == "apigw_json" else {"audit_record": MYSQL})
        result = outcome(name, doc[:-1] + ',"extra":' + nested + "}")
        assert isinstance(result, Event | ParseError)
