"""The pure ingest core: body decoding, record splitting and per-record validation."""

from __future__ import annotations

import base64
import gzip
import zlib
from collections.abc import Callable

import orjson
import pytest

from collectors.inputs.errors import BodyError, PayloadTooLargeError, UnsupportedEncodingError
from collectors.inputs.records import RecordRules, body_kind, build_batch, decode_body, split_records
from collectors.parsers import LinuxSyslogParser
from tests.collectors.inputs.conftest import NOW, event_dict, ndjson

RULES = RecordRules(source="gw-1", collector="http:gw-1")


def test_gzip_body_is_inflated_and_multi_member_bodies_are_joined() -> None:
    body = gzip.compress(b"abc\n") + gzip.compress(b"def\n")
    assert decode_body(body, "gzip", max_decoded=100) == b"abc\ndef\n"
    assert decode_body(b"plain", None, max_decoded=100) == b"plain"


def test_gzip_bomb_is_refused_before_it_inflates() -> None:
    bomb = gzip.compress(b"\0" * 10_000_000)
    assert len(bomb) < 20_000
    with pytest.raises(PayloadTooLargeError):
        decode_body(bomb, "gzip", max_decoded=1_000_000)


@pytest.mark.parametrize("body", [gzip.compress(b"x" * 1000)[:-9], b"not gzip at all", b""])
def test_corrupt_or_truncated_gzip_is_a_body_error(body: bytes) -> None:
    with pytest.raises(BodyError):
        decode_body(body, "gzip", max_decoded=10_000)


def test_unknown_content_encoding_and_type_are_refused() -> None:
    with pytest.raises(UnsupportedEncodingError):
        decode_body(b"x", "br", max_decoded=10)
    with pytest.raises(UnsupportedEncodingError):
        body_kind("text/csv", b"a,b")


def test_body_kind_follows_content_type_then_first_byte() -> None:
    assert body_kind("application/json; charset=utf-8", b"{}") == "array"
    assert body_kind("application/x-ndjson", b"[1]") == "ndjson"
    assert body_kind(None, b"  \n[{}]") == "array"
    assert body_kind(None, b'{"a": 1}\n') == "ndjson"


def test_ndjson_split_keeps_line_positions_and_skips_blank_lines() -> None:
    records = split_records(b'{"a":1}\r\n\n  \n{"b":2}\n', "ndjson")
    assert [(r.position, r.raw) for r in records] == [(1, b'{"a":1}'), (4, b'{"b":2}')]


def test_json_array_and_single_object() -> None:
    assert [r.position for r in split_records(b'[{"a":1},{"b":2}]', "array")] == [1, 2]
    assert len(list(split_records(b'{"a":1}', "array"))) == 1
    with pytest.raises(BodyError):
        split_records(b'"text"', "array")
    with pytest.raises(BodyError):
        split_records(b"[1,", "array")


def test_valid_events_get_ingest_time_and_ids_and_are_stored_as_sent(new_id: Callable[[], str]) -> None:
    without_id = event_dict(1)
    del without_id["event.id"]
    records = split_records(ndjson(event_dict(0), without_id), "ndjson")
    batch = build_batch(records, RULES, now=NOW, new_id=new_id)
    assert (batch.accepted, batch.rejected, batch.dead) == (2, 0, [])
    first, second = (orjson.loads(p) for p in batch.events)
    assert first["event.id"] == "ev-000000"
    assert second["event.id"] == "id-000001"
    assert first["event.ingested"] == "2026-11-28T12:00:00.000000Z"
    assert first["user.name"] == "张三"


def test_missing_collector_defaults_to_the_input(new_id: Callable[[], str]) -> None:
    records = split_records(ndjson(event_dict(0, **{"observer.collector": None})), "ndjson")
    (payload,) = build_batch(records, RULES, now=NOW, new_id=new_id).events
    assert orjson.loads(payload)["observer.collector"] == "http:gw-1"


def test_bad_records_are_rejected_with_reason_position_and_raw_bytes(new_id: Callable[[], str]) -> None:
    body = b"\n".join(
        [
            orjson.dumps(event_dict(0)),
            b"{not json",
            orjson.dumps(event_dict(2, **{"event.outcome": "maybe"})),
            b"[1, 2]",
            orjson.dumps(event_dict(4, **{"@timestamp": "2026-11-28 10:00"})),
            b"\xff\xfe invalid utf-8",
        ]
    )
    batch = build_batch(split_records(body, "ndjson"), RULES, now=NOW, new_id=new_id)
    assert (batch.accepted, batch.rejected) == (1, 5)
    reasons = {e.position: e.reason for e in batch.errors}
    assert set(reasons) == {2, 3, 4, 5, 6}
    assert "invalid JSON" in reasons[2]
    assert "event.outcome" in reasons[3]
    assert "JSON object" in reasons[4]
    assert "timestamp" in reasons[5]
    dead = [orjson.loads(d) for d in batch.dead]
    assert [d["position"] for d in dead] == [2, 3, 4, 5, 6]
    assert all(d["source"] == "gw-1" and d["stage"] == "validate" for d in dead)
    assert base64.b64decode(dead[-1]["raw_b64"]) == b"\xff\xfe invalid utf-8"


def test_record_size_limit_rejects_only_that_record(new_id: Callable[[], str]) -> None:
    rules = RecordRules(source="gw-1", collector="http:gw-1", max_record_bytes=400)
    big = event_dict(1, **{"log.original": "x" * 500})
    batch = build_batch(split_records(ndjson(event_dict(0), big), "ndjson"), rules, now=NOW, new_id=new_id)
    assert (batch.accepted, batch.rejected) == (1, 1)
    assert "exceeds the limit of 400" in batch.errors[0].reason


def test_error_list_is_capped_but_every_reject_is_dead_lettered(new_id: Callable[[], str]) -> None:
    rules = RecordRules(source="s", collector="c", max_errors=3)
    batch = build_batch(split_records(b"x\n" * 10, "ndjson"), rules, now=NOW, new_id=new_id)
    assert (batch.rejected, len(batch.errors), len(batch.dead)) == (10, 3, 10)


def test_deeply_nested_record_is_rejected_not_raised(new_id: Callable[[], str]) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    batch = build_batch(split_records(deep + b"\n", "ndjson"), RULES, now=NOW, new_id=new_id)
    assert batch.rejected == 1
    nested: object = "leaf"
    for _ in range(200):
        nested = {"k": nested}
    record = orjson.dumps(event_dict(0, nested=nested))
    batch = build_batch(split_records(record, "ndjson"), RULES, now=NOW, new_id=new_id)
    assert batch.accepted + batch.rejected == 1


def test_native_lines_go_through_the_sources_parser(new_id: Callable[[], str]) -> None:
    rules = RecordRules(
        source="host-1",
        collector="http:host-1",
        parser=LinuxSyslogParser(collector="http:linux_syslog"),
        stage="parse",
    )
    body = (
        "<38>1 2026-11-28T10:00:00+08:00 web01 sshd 4242 - - \ufeffAccepted password for 李四 "
        "from 10.1.2.3 port 50000 ssh2\n"
        "garbage without header\n"
    ).encode()
    batch = build_batch(split_records(body, "ndjson"), rules, now=NOW, new_id=new_id)
    assert (batch.accepted, batch.rejected) == (1, 1)
    event = orjson.loads(batch.events[0])
    assert (event["event.action"], event["user.name"], event["event.id"]) == (
        "ssh.login",
        "李四",
        "id-000001",
    )
    assert orjson.loads(batch.dead[0])["stage"] == "parse"


def test_zlib_stream_without_gzip_header_is_refused() -> None:
    with pytest.raises(BodyError):
        decode_body(zlib.compress(b"abc"), "gzip", max_decoded=100)


def test_array_element_too_deep_to_re_encode_is_rejected(new_id: Callable[[], str]) -> None:
    body = b"[" + b"[" * 600 + b"]" * 600 + b"," + orjson.dumps(event_dict(1)) + b"]"
    batch = build_batch(split_records(body, "array"), RULES, now=NOW, new_id=new_id)
    assert (batch.accepted, batch.rejected) == (1, 1)
    assert batch.errors[0].position == 1
    assert "nested too deeply" in batch.errors[0].reason


def test_stored_event_size_is_bounded_separately_from_the_input_record(new_id: Callable[[], str]) -> None:
    rules = RecordRules(source="s", collector="c", max_record_bytes=4096, max_event_bytes=200)
    batch = build_batch(split_records(ndjson(event_dict(1)), "ndjson"), rules, now=NOW, new_id=new_id)
    assert batch.rejected == 1
    assert "after normalization exceeds the limit of 200" in batch.errors[0].reason


def test_multiline_csv_records_are_joined_while_a_quoted_field_is_open() -> None:
    body = b'a,"SELECT x\n  FROM t\n GROUP BY x",1\r\n\nb,"one line",2\nc,"left open\n'
    records = list(split_records(body, "ndjson", multiline=True))
    assert [(r.position, r.raw) for r in records] == [
        (1, b'a,"SELECT x\n  FROM t\n GROUP BY x",1'),
        (5, b'b,"one line",2'),
        (6, b'c,"left open\n'),  # unterminated at the end: passed on whole, the parser rejects it
    ]
    # Without `multiline` (every other format) a newline always ends a record.
    assert len(list(split_records(body, "ndjson"))) == 5


def test_an_idempotency_key_gives_a_retried_request_the_same_ids(new_id: Callable[[], str]) -> None:
    parser = LinuxSyslogParser(collector="http:linux_syslog")
    line = "<38>1 2026-11-28T10:00:00+08:00 web01 sshd 42 - - Failed password for root from 10.1.2.3 port 1\n"
    body = (line * 2).encode()  # two identical lines are still two events
    normalized = ndjson(*[{k: v for k, v in event_dict(i).items() if k != "event.id"} for i in range(2)])

    def ids(key: str | None, content: bytes, parsed: bool) -> list[str]:
        rules = RecordRules(
            source="host-1", collector="http:host-1", parser=parser if parsed else None, idempotency_key=key
        )
        batch = build_batch(split_records(content, "ndjson"), rules, now=NOW, new_id=new_id)
        return [orjson.loads(e)["event.id"] for e in batch.events]

    for content, parsed in ((body, True), (normalized, False)):
        first, retry = ids("req-1", content, parsed), ids("req-1", content, parsed)
        assert first == retry
        assert len(set(first)) == 2
        assert set(ids("req-2", content, parsed)).isdisjoint(first)  # another request, other ids
        assert set(ids(None, content, parsed)).isdisjoint(first)  # no key: fresh ids each time


def test_dead_letters_of_a_body_of_bad_lines_are_bounded_and_summarised(new_id: Callable[[], str]) -> None:
    # Before: every bad line was one dead letter holding its raw bytes twice (a 16 MB body of
    # 8.4 million bad lines made 2.26 GB of dead letters). Now the first 100 are kept whole and
    # the rest counted, with their line numbers, in one summary record.
    body = b"x\n" * 50_000 + ndjson(event_dict(1)) + b"y\n" * 10
    batch = build_batch(split_records(body, "ndjson"), RULES, now=NOW, new_id=new_id)
    assert (batch.accepted, batch.rejected) == (1, 50_010)
    assert len(batch.dead) == 101
    assert sum(map(len, batch.dead)) < 100_000  # a 100 kB body: no amplification
    summary = orjson.loads(batch.dead[-1])
    assert summary["omitted"] == 49_910
    assert summary["omitted_positions"] == "101-50000,50002-50011"
    assert summary["omitted_positions_complete"] is True
    assert summary["position"] == 101
    assert set(summary["omitted_reasons"]) <= {r for r in summary["omitted_reasons"] if "JSON" in r}
    assert orjson.loads(batch.dead[0])["raw_text"] == "x"


def test_dead_letter_bytes_bound_and_position_text_bound(new_id: Callable[[], str]) -> None:
    rules = RecordRules(source="gw-1", collector="http:gw-1", dead_letter_bytes=10_000)
    batch = build_batch(split_records(b"z" * 3000 + b"\n" * 2, "ndjson"), rules, now=NOW, new_id=new_id)
    assert len(batch.dead) == 1
    body = b"".join(b"bad\n" + ndjson(event_dict(i)) for i in range(20_000))
    batch = build_batch(split_records(body, "ndjson"), RULES, now=NOW, new_id=new_id)
    summary = orjson.loads(batch.dead[-1])
    assert summary["omitted"] == 19_900
    assert summary["omitted_positions_complete"] is False  # alternating lines: the text is capped
    assert len(summary["omitted_positions"]) <= 64 * 1024


def test_record_count_is_capped(new_id: Callable[[], str]) -> None:
    with pytest.raises(PayloadTooLargeError, match="1001 lines, more than 1000"):
        split_records(b"x\n" * 1001, "ndjson", max_records=1000)  # refused before any is parsed
    with pytest.raises(PayloadTooLargeError):
        split_records(b"x\n" * 1000 + b"x", "ndjson", max_records=1000)
    assert len(list(split_records(b"x\n" * 998 + b"\n\n", "ndjson", max_records=1000))) == 998
    with pytest.raises(PayloadTooLargeError):
        split_records(b"[" + b",".join([b"1"] * 1001) + b"]", "array", max_records=1000)


def test_gzip_may_not_inflate_past_the_body_limit_by_default() -> None:
    from collectors.inputs.http import HttpIngestConfig

    config = HttpIngestConfig()
    assert config.max_decoded_bytes == config.max_body_bytes
    bomb = gzip.compress(b"x\n" * (config.max_body_bytes // 2 + 1))
    assert len(bomb) < 64 * 1024
    with pytest.raises(PayloadTooLargeError):
        decode_body(bomb, "gzip", max_decoded=config.max_decoded_bytes)
