"""Reading native files record by record: multi-line CSV, blank lines, bad bytes, oversized lines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from collectors.errors import ParseError
from collectors.parsers import PgAuditCsvParser
from collectors.parsers.base import MAX_RECORD_BYTES
from collectors.readers import iter_parsed, iter_records
from datasoc.event import Event

TAIL = ',,,,,,,,,"psql","client backend",,0'
ONE = (
    '2026-03-02 10:05:01.000 CST,"chenjing","wjw",2211,"10.10.8.30:50112",65e27a3d.8a3,1,"SELECT",'
    '2026-03-02 10:00:00 CST,3/45,0,LOG,00000,"AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.dzbl_zy,'
    '""SELECT xm\n  FROM dzbl_zy\n WHERE xm = \'张""""三\'"",<not logged>"' + TAIL
)
TWO = ONE.replace("65e27a3d.8a3,1,", "65e27a3d.8a3,2,").replace("SELECT xm\n  FROM", "SELECT zd FROM")


def test_multiline_csv_records_are_joined(tmp_path: Path) -> None:
    path = tmp_path / "postgresql.csv"
    path.write_bytes(f"{ONE}\n\n{TWO}\r\n".encode())
    records = list(iter_records(path, "pgaudit_csv"))
    assert [r.position for r in records] == [1, 5]
    assert records[0].raw.decode() == ONE
    assert records[1].raw.decode() == TWO


def test_parsed_file_yields_events_and_errors_in_order(
    tmp_path: Path, now: datetime, new_id: Callable[[], str]
) -> None:
    path = tmp_path / "postgresql.csv"
    path.write_bytes(ONE.encode() + b"\n" + b"\xff\xfe garbage\n" + TWO.encode() + b"\n")
    results = list(iter_parsed(path, PgAuditCsvParser(collector="file"), now=now, new_id=new_id))
    assert [type(r) for r in results] == [Event, ParseError, Event]
    error = results[1]
    assert isinstance(error, ParseError)
    assert (error.source, error.position) == ("postgresql.csv", 4)
    assert "invalid UTF-8" in error.reason
    first = results[0]
    assert isinstance(first, Event)
    assert first.get("db.statement").endswith("WHERE xm = '张\"三'")  # CSV quoting undone twice


def test_unclosed_quote_at_end_of_file_is_passed_on_and_rejected(
    tmp_path: Path, now: datetime, new_id: Callable[[], str]
) -> None:
    path = tmp_path / "postgresql.csv"
    path.write_text(ONE + "\n" + '2026-03-02 10:05:01.000 CST,"broken\nstill broken\n', encoding="utf-8")
    results = list(iter_parsed(path, PgAuditCsvParser(collector="file"), now=now, new_id=new_id))
    assert isinstance(results[0], Event)
    assert isinstance(results[1], ParseError)
    assert results[1].position == 4


def test_oversized_line_is_cut_and_rejected_then_reading_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "apigw.jsonl"
    path.write_bytes(b"x" * (MAX_RECORD_BYTES * 2 + 10) + b"\n{}\n")
    records = list(iter_records(path, "apigw_json"))
    assert [r.position for r in records] == [1, 2]
    assert len(records[0].raw) == MAX_RECORD_BYTES + 1
    assert records[1].raw == b"{}"


def test_unknown_parser_name(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="unknown parser 'nginx'"):
        list(iter_records(tmp_path / "x.log", "nginx"))
