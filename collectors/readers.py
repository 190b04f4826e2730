"""Read native log files record by record (the file edge of the parsers).

Line-based formats give one record per line. PostgreSQL csvlog may put a newline inside a quoted
field (a multi-line statement); RFC 4180 quoting doubles a quote inside a quoted field, so a
record is complete exactly when it holds an even number of `"` characters. Counting at the byte
level lets a record with invalid UTF-8 still be cut at the right place and rejected alone; the
parser then reads the joined record with the `csv` module.

Memory is bounded: a line longer than `MAX_RECORD_BYTES` is passed on cut to that length plus one
byte (the parser rejects it as too long) and the rest of the line is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Final

from collectors.errors import ParseError
from collectors.parsers import PARSERS, Parser
from collectors.parsers.base import MAX_RECORD_BYTES
from datasoc.event import Event

MULTILINE_CSV: Final = frozenset({"pgaudit_csv"})


@dataclass(frozen=True)
class RawRecord:
    """One native record: the 1-based line it starts on and its bytes without the line end."""

    position: int
    raw: bytes


def _lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    number = 0
    while True:
        line = stream.readline(MAX_RECORD_BYTES + 1)
        if not line:
            return
        number += 1
        if not line.endswith(b"\n") and len(line) > MAX_RECORD_BYTES:
            rest = line
            while rest and not rest.endswith(b"\n"):  # skip the remainder of an oversized line
                rest = stream.readline(MAX_RECORD_BYTES)
        yield number, line.rstrip(b"\n").rstrip(b"\r")


def join_lines(lines: Iterable[tuple[int, bytes]], *, multiline: bool) -> Iterator[RawRecord]:
    """Numbered lines (without line ends) as records: one per line, or for a multi-line CSV format
    joined while a quoted field is open (module docstring); blank lines between records skipped."""
    parts: list[bytes] = []
    start = quotes = size = 0
    for number, line in lines:
        if not parts and not line.strip():
            continue
        if not parts:
            start = number
        parts.append(line)
        quotes += line.count(b'"')
        size += len(line) + 1
        if multiline and quotes % 2 == 1 and size <= MAX_RECORD_BYTES:
            continue  # inside a quoted field: the record goes on past this newline
        yield RawRecord(start, b"\n".join(parts))
        parts, quotes, size = [], 0, 0
    if parts:  # a quoted field left open at the end: pass it on, the parser rejects it
        yield RawRecord(start, b"\n".join(parts))


def iter_records(path: Path, parser_name: str) -> Iterator[RawRecord]:
    """Records of a native log file for the named parser; blank lines are skipped."""
    if parser_name not in PARSERS:
        raise ParseError(str(path), None, f"unknown parser {parser_name!r} (known: {', '.join(PARSERS)})")
    with path.open("rb") as stream:
        yield from join_lines(_lines(stream), multiline=parser_name in MULTILINE_CSV)


def iter_parsed(
    path: Path,
    parser: Parser,
    *,
    now: datetime,
    new_id: Callable[[], str],
    source: str | None = None,
) -> Iterator[Event | ParseError]:
    """Parse a file with `parser`: each record becomes an Event, or the ParseError that rejects it.

    Errors are yielded, not raised, so the caller sends them to the dead-letter topic and goes on.
    """
    name = source or path.name
    for record in iter_records(path, parser.name):
        try:
            yield parser.parse(record.raw, source=name, now=now, new_id=new_id, position=record.position)
        except ParseError as exc:
            yield exc
