"""Batch lines and their chain order (pure; no Flink)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from detection.stream.batch import (
    BAD_TIME,
    BatchMarker,
    batch_chain,
    batch_marker,
    batch_time,
    encode_batch,
    encode_heartbeat,
    inline_pointer,
    newest_millis,
    order,
    read_batch,
)
from tests.detection.stream.conftest import NOW, make_event


def _records(first: int, n: int) -> list[tuple[int, bytes]]:
    return [(first + i, json.dumps(make_event(f"e{first + i}", NOW, "x")).encode()) for i in range(n)]


def _stored(tmp_path: Path, records: list[tuple[int, bytes]], *, prev: int, genesis: bool = False) -> str:
    """Write a batch file after 7 bytes of other content, return its pointer."""
    data, pointer = encode_batch(records, prev=prev, file="b.jsonl", at=7, genesis=genesis)
    (tmp_path / "b.jsonl").write_bytes(b"before\n" + data + b"after\n")
    return pointer


def test_batch_round_trips_through_its_pointer(tmp_path: Path) -> None:
    pointer = _stored(tmp_path, _records(7, 3), prev=5, genesis=True)
    assert pointer.endswith("\n")
    assert "\n" not in pointer[:-1]
    batch = read_batch(pointer, tmp_path)
    assert (batch.prev, batch.next, batch.first, batch.genesis) == (5, 10, 7, True)
    assert [e["event.id"] for e in batch.events] == ["e7", "e8", "e9"]
    assert batch_time(pointer) == batch.time == int(NOW.timestamp() * 1000)
    assert batch_chain(pointer) == (5, 10, True)
    mark = {"p": 5, "n": 10, "g": 1, "t": batch.time, "l": 1, "lanes": 2}
    assert json.loads(batch_marker(pointer, 1, 2)) == {"datasoc.batch": mark}
    assert BatchMarker.from_dict(mark) == BatchMarker(5, 10, True, batch.time, 1, 2)
    assert BatchMarker.from_dict({"p": 5, "n": 10, "g": 1, "t": 0}).lanes == 1  # written before lanes
    with pytest.raises(ValueError, match="lane 2 is not one of 2"):
        BatchMarker.from_dict({**mark, "l": 2})
    with pytest.raises(ValueError, match="needs p, n, g and t"):
        BatchMarker.from_dict({"p": 5})


def test_a_pointer_to_a_missing_short_or_wrong_file_is_an_error(tmp_path: Path) -> None:
    pointer = _stored(tmp_path, _records(0, 2), prev=0)
    (tmp_path / "b.jsonl").write_bytes(b"before\n" + b"{}\n")
    with pytest.raises(ValueError, match="does not hold the 2 records"):
        read_batch(pointer, tmp_path)
    (tmp_path / "b.jsonl").unlink()
    with pytest.raises(ValueError, match=r"batch file b\.jsonl: No such file"):
        read_batch(pointer, tmp_path)
    with pytest.raises(ValueError, match="names no batch file"):
        read_batch(pointer.replace('"b.jsonl"', '"../b.jsonl"'), tmp_path)


def test_batch_refuses_gaps_and_bad_chains() -> None:
    with pytest.raises(ValueError, match="contiguous"):
        encode_batch([(1, b"{}"), (3, b"{}")], prev=1, file="f", at=0)
    with pytest.raises(ValueError, match="after its first offset"):
        encode_batch(_records(1, 1), prev=2, file="f", at=0)
    with pytest.raises(ValueError, match="at least one"):
        encode_batch([], prev=0, file="f", at=0)
    with pytest.raises(ValueError, match="not a batch pointer"):
        batch_chain('{"o":1,"e":{}}')


def test_newlines_inside_a_payload_never_split_a_record(tmp_path: Path) -> None:
    payload = b'{\n"@timestamp": "2026-11-28T12:00:00Z",\n"event.id": "nl"}'
    pointer = _stored(tmp_path, [(0, payload), (1, b"not\njson")], prev=0)
    events = read_batch(pointer, tmp_path).events
    assert events == [{"@timestamp": "2026-11-28T12:00:00Z", "event.id": "nl"}, "not\njson"]


def test_batch_time_is_the_newest_event_time_in_any_offset_form() -> None:
    payloads = [
        b'{"@timestamp":"2026-11-28T12:00:00.000000Z"}',
        b'{"@timestamp": "2026-11-28T21:00:00+08:00"}',  # 13:00 UTC: the newest
        b'{"@timestamp":"2026-11-28T12:30:00.000000Z"}',
        b'{"no": "time"}',
    ]
    newest = int(datetime(2026, 11, 28, 13, tzinfo=UTC).timestamp() * 1000)
    assert newest_millis(payloads) == newest
    assert newest_millis(payloads[::2]) == int(datetime(2026, 11, 28, 12, 30, tzinfo=UTC).timestamp() * 1000)
    assert newest_millis([b"garbage", b'{"@timestamp": "yesterday"}']) == BAD_TIME
    assert batch_time(encode_heartbeat(4, 99)) == 99


def _chain(sizes: list[int]) -> list[str]:
    lines, position = [], 0
    for i, n in enumerate(sizes):
        if n == 0:
            lines.append(encode_heartbeat(position, 1000 + i, genesis=not lines))
        else:
            _, pointer = encode_batch(_records(position, n), prev=position, file="f", at=0, genesis=not lines)
            lines.append(pointer)
            position += n
    return lines


@pytest.mark.parametrize("seed", range(20))
def test_order_releases_the_chain_in_order_whatever_the_arrival_order(seed: int) -> None:
    rng = random.Random(seed)
    lines = _chain([rng.choice([0, 1, 2, 3]) for _ in range(12)])
    arrival = lines[:]
    rng.shuffle(arrival)
    arrival += rng.sample(lines, 3)  # re-deliveries are dropped, not released twice
    expected, pending, released = None, {}, []
    for line in arrival:
        outcome = order(expected, pending, line)
        expected = outcome.expected
        released += outcome.released
    data = [line for line in lines if batch_chain(line)[0] != batch_chain(line)[1]]
    assert [line for line in released if line in data] == data  # every data batch once, in order
    # (A re-delivered heartbeat at the current position may pass again: it only restates a time.)
    positions = [batch_chain(line)[0] for line in released]
    assert positions == sorted(positions)  # a heartbeat never goes after data from a later position
    assert pending == {}


def test_order_holds_batches_behind_a_gap() -> None:
    first, second, third = _chain([2, 2, 2])
    pending: dict[tuple[int, int], str] = {}
    outcome = order(None, pending, third)
    assert outcome.buffered
    assert outcome.released == []
    outcome = order(None, pending, first)
    assert outcome.released == [first]
    assert outcome.expected == 2
    outcome = order(outcome.expected, pending, second)
    assert outcome.released == [second, third]
    assert outcome.expected == 6


def test_an_inline_pointer_carries_its_batch_and_reads_like_a_batch_file(tmp_path: Path) -> None:
    texts = [
        json.dumps({"@timestamp": "2026-11-28T03:00:00Z", "event.id": "a"}),
        "not json",
        json.dumps({"@timestamp": "2026-11-28T03:00:02Z", "event.id": "b"}, ensure_ascii=False),
    ]
    line = inline_pointer(40, texts, genesis=False)
    assert batch_chain(line) == (40, 43, False)
    assert batch_time(line) == int(datetime(2026, 11, 28, 3, 0, 2, tzinfo=UTC).timestamp() * 1000)
    batch = read_batch(line, tmp_path / "no-such-directory")  # nothing is read from disk
    assert (batch.first, batch.next, batch.texts) == (40, 43, texts)
    assert [e if isinstance(e, str) else e["event.id"] for e in batch.events] == ["a", "not json", "b"]
    short = line.replace('"n":43', '"n":44')
    with pytest.raises(ValueError, match="holds 3 records"):
        read_batch(short, tmp_path)
