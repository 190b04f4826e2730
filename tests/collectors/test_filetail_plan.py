"""The pure tail core: where to resume, and how bytes become records."""

from __future__ import annotations

import pytest

from collectors.errors import CollectorError
from collectors.inputs.tailplan import (
    FileKey,
    TailPosition,
    check_open,
    resume,
    split_records,
)

START = TailPosition(origin="/var/log/a.log", path="/var/log/a.log")


def split(
    data: bytes, *, multiline: bool = False, final: bool = False, max_record: int = 100
) -> tuple[object, ...]:
    cut = split_records(data, START, multiline=multiline, final=final, max_record=max_record)
    return cut.records, cut.position.offset, cut.position.line, cut.position.discarding


def test_lines_blank_lines_and_partial_tail() -> None:
    assert split(b"one\n\ntwo\r\nthr") == (((1, b"one"), (3, b"two")), 10, 4, False)


def test_final_flushes_the_partial_tail() -> None:
    assert split(b"one\nthr", final=True) == (((1, b"one"), (2, b"thr")), 7, 2, False)
    assert split(b"one\n  ", final=True) == (((1, b"one"),), 6, 2, False)


def test_multiline_csv_waits_for_balanced_quotes() -> None:
    data = b'a,"x\ny",b\nc\n"open\n'
    records, offset, line, _ = split(data, multiline=True)
    assert records == ((1, b'a,"x\ny",b'), (3, b"c"))
    assert (offset, line) == (12, 4)  # the open quote waits for more


def test_oversized_record_is_cut_and_the_rest_skipped() -> None:
    records, offset, line, discarding = split(b"x" * 30 + b"\nok\n", max_record=10)
    assert records == ((1, b"x" * 11), (2, b"ok"))
    assert (offset, line, discarding) == (34, 3, False)
    records, offset, line, discarding = split(b"y" * 30, max_record=10)
    assert records == ((1, b"y" * 11),)
    assert (offset, line, discarding) == (30, 1, True)


def test_discarding_continues_across_reads() -> None:
    position = TailPosition(origin="a", path="a", offset=30, discarding=True)
    cut = split_records(b"yyy\nnext\n", position, multiline=False, final=False, max_record=10)
    assert cut.records == ((2, b"next"),)
    assert (cut.position.offset, cut.position.line, cut.position.discarding) == (39, 3, False)


def test_head_is_remembered_from_the_start_of_the_file() -> None:
    cut = split_records(b"first line\n", START, multiline=False, final=False, max_record=100)
    assert cut.position.head == b"first line\n"


def test_resume_new_same_truncated_rewritten() -> None:
    assert resume(None, path="/l/a", size=5, head=b"hello").reason == "new"
    known = TailPosition(origin="/l/a", path="/l/a", offset=6, line=2, head=b"hello\n")
    same = resume(known, path="/l/a.1", size=20, head=b"hello\nworld")
    assert same.reason is None
    assert (same.position.offset, same.position.path, same.position.origin) == (6, "/l/a.1", "/l/a")
    short = resume(known, path="/l/a", size=3, head=b"hel")
    assert short.reason == "truncated"
    assert (short.position.offset, short.position.line, short.position.generation) == (0, 1, 1)
    assert resume(known, path="/l/a", size=50, head=b"other content").reason == "rewritten"
    assert check_open(known, size=2, head=b"he").reason == "truncated"
    assert check_open(known, size=60, head=b"HELLO\n").reason == "rewritten"
    assert check_open(known, size=60, head=b"hello\nmore").reason is None


def test_id_source_names_file_and_generation() -> None:
    known = TailPosition(origin="/l/a", path="/l/a.1", generation=2)
    assert known.id_source(FileKey(64769, 1234)) == "/l/a#1234.2"


def test_state_round_trip_and_validation() -> None:
    known = TailPosition(origin="/l/a", path="/l/b", offset=9, line=3, generation=1, head=b"\x00ab")
    assert TailPosition.from_dict(known.to_dict(), "x") == known
    with pytest.raises(CollectorError, match="offset"):
        TailPosition.from_dict({**known.to_dict(), "offset": "9"}, "x")
    with pytest.raises(CollectorError, match="missing"):
        TailPosition.from_dict({"origin": "a"}, "x")
    with pytest.raises(CollectorError, match="out of range"):
        TailPosition(origin="a", path="a", offset=-1)
    assert FileKey.parse(str(FileKey(1, 2))) == FileKey(1, 2)
    with pytest.raises(CollectorError):
        FileKey.parse("1-2")
