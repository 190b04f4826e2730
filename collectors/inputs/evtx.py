"""Windows event files: binary `.evtx` (the `evtx` package) and evtx_dump-style JSON streams.

Both give `WinRecord`s, each one event as evtx_dump JSON text, which the `windows_evtx` parser
turns into an event with the flattened native fields (`datasoc.winevent`), so SigmaHQ rules apply
the same way whichever form a host shipped.

- `.evtx`: `PyEvtxParser(path).records_json()` (pyevtx-rs). A damaged chunk makes the iterator
  raise for that chunk and go on with the next one; each failure becomes a `ParseError` naming the
  file and the ordinal of the failing read, so the caller dead-letters it and continues.
- JSON: one object per line, pretty-printed objects, or objects back to back, read in chunks with
  `json.JSONDecoder().raw_decode` (memory stays bounded by the record size limit). After a
  malformed object the reader resynchronises at the next line that starts with `{` (the first
  line of an object in both evtx_dump layouts). Positions are 1-based line numbers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Final

import evtx

from collectors.errors import ParseError
from collectors.parsers.base import MAX_RECORD_BYTES
from collectors.parsers.windows import WindowsEventParser
from collectors.sink import TransportSink
from datasoc.event import Event

CHUNK: Final = 1 << 18
EVTX_MAGIC: Final = b"ElfFile\x00"  # [MS-EVEN6] file header signature
# Consecutive chunk failures after which a file is treated as unreadable, not merely damaged.
MAX_CONSECUTIVE_FAILURES: Final = 64
_RESYNC: Final = re.compile(r"\n(?=\{)")
_DECODER: Final = json.JSONDecoder()


@dataclass(frozen=True)
class WinRecord:
    """One Windows event as evtx_dump JSON: its position (line, or ordinal in a .evtx), text, and
    for a `.evtx` the record's `EventRecordID` (which the event log only ever increases)."""

    position: int
    raw: bytes
    record_id: int | None = None


def iter_evtx(path: Path) -> Iterator[WinRecord | ParseError]:
    """Records of a binary `.evtx` file, in file order; damaged chunks are yielded as errors."""
    source = str(path)
    try:
        records = evtx.PyEvtxParser(source).records_json()
    except (OSError, RuntimeError, ValueError) as exc:
        yield ParseError(source, None, f"not a readable .evtx file: {exc}")
        return
    ordinal = failures = 0
    while True:
        ordinal += 1
        try:
            record = next(records)
        except StopIteration:
            return
        except (OSError, RuntimeError, ValueError) as exc:
            failures += 1
            yield ParseError(source, ordinal, f"damaged .evtx chunk: {exc}")
            if failures >= MAX_CONSECUTIVE_FAILURES:
                yield ParseError(source, ordinal, f"giving up after {failures} consecutive damaged chunks")
                return
            continue
        failures = 0
        data = record.get("data") if isinstance(record, dict) else None
        if not isinstance(data, str):
            yield ParseError(source, ordinal, "the evtx reader returned a record without JSON data")
            continue
        record_id = record["event_record_id"] if isinstance(record, dict) else None
        yield WinRecord(
            ordinal,
            data.encode("utf-8", "surrogateescape"),
            record_id if isinstance(record_id, int) else None,
        )


def iter_json_stream(stream: BinaryIO, source: str) -> Iterator[WinRecord | ParseError]:
    """evtx_dump JSON objects from a byte stream (NDJSON, pretty-printed or back to back)."""
    buffer = ""
    line = 1  # line number of buffer[0]
    eof = resyncing = False
    while True:
        if not eof:
            chunk = stream.read(CHUNK)
            eof = not chunk
            # surrogateescape keeps invalid UTF-8 byte-exact; the parser then rejects that record.
            buffer += chunk.decode("utf-8", "surrogateescape")
        if resyncing:
            found = _RESYNC.search(buffer)
            if found is None:
                if eof:
                    return
                line += buffer.count("\n", 0, len(buffer) - 1)
                buffer = buffer[-1:]
                continue
            line += buffer.count("\n", 0, found.end())
            buffer = buffer[found.end() :]
            resyncing = False
        index = 0
        while True:
            start = index
            while start < len(buffer) and buffer[start] in " \t\r\n\ufeff":
                start += 1
            if start == len(buffer):
                index = start
                break
            try:
                _, end = _DECODER.raw_decode(buffer, start)
            except (json.JSONDecodeError, RecursionError) as exc:
                if not eof and len(buffer) - start <= MAX_RECORD_BYTES:
                    index = start
                    break  # perhaps incomplete: read more
                where = line + buffer.count("\n", 0, start)
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
                yield ParseError(source, where, f"malformed JSON record: {reason}")
                line = where
                buffer = buffer[start:]
                index = 0
                resyncing = True
                break
            where = line + buffer.count("\n", 0, start)
            yield WinRecord(where, buffer[start:end].encode("utf-8", "surrogateescape"))
            index = end
        if resyncing:
            continue
        line += buffer.count("\n", 0, index)
        buffer = buffer[index:]
        if eof and not buffer.strip():
            return


def iter_windows_file(path: Path) -> Iterator[WinRecord | ParseError]:
    """Records of a `.evtx` file (by its `ElfFile` magic) or of an evtx_dump JSON file."""
    with path.open("rb") as stream:
        if stream.read(len(EVTX_MAGIC)) != EVTX_MAGIC:
            stream.seek(0)
            yield from iter_json_stream(stream, str(path))
            return
    yield from iter_evtx(path)


def parse_windows_file(
    path: Path,
    parser: WindowsEventParser,
    *,
    now: datetime,
    new_id: Callable[[], str],
    source: str | None = None,
) -> Iterator[tuple[WinRecord | None, Event | ParseError]]:
    """Each record of `path` with its Event or the ParseError rejecting it (raw kept for dead letters)."""
    name = source or str(path)
    for item in iter_windows_file(path):
        if isinstance(item, ParseError):
            yield None, item
            continue
        try:
            yield item, parser.parse(item.raw, source=name, now=now, new_id=new_id, position=item.position)
        except ParseError as exc:
            yield item, exc


@dataclass(frozen=True)
class WindowsFileResult:
    """What `ingest_windows_file` delivered durably."""

    accepted: int
    rejected: int


def ingest_windows_file(
    path: Path,
    parser: WindowsEventParser,
    sink: TransportSink,
    *,
    source: str,
    now: datetime,
    new_id: Callable[[], str],
) -> WindowsFileResult:
    """Deliver every record of a Windows event file: events, and rejects as dead letters.

    Returns once the sink is flushed (everything counted is durable). A damaged `.evtx` chunk has
    no raw bytes to keep (the reader cannot give them), so its dead letter carries the reason only.
    """
    accepted = rejected = 0
    for record, result in parse_windows_file(path, parser, now=now, new_id=new_id):
        if isinstance(result, Event):
            sink.add_event(result, source=source, now=now)
            accepted += 1
            continue
        sink.add_rejected(
            stage="parse",
            source=source,
            position=result.position,
            reason=str(result),
            raw=b"" if record is None else record.raw,
            now=now,
        )
        rejected += 1
    sink.flush(now=now)
    return WindowsFileResult(accepted, rejected)
