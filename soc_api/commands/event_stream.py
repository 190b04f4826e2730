"""Events for `datasoc detect`, read as a stream: memory does not grow with the input.

`read_records(stream)` yields the JSON objects of a byte stream one at a time: JSON lines (the fast
path, one `orjson.loads` per line) or JSON values back to back over several lines, as evtx_dump
writes them (a value is decoded once a line ends with `}` or `]` and the text so far parses). A value
larger than `MAX_RECORD_BYTES` or text that never parses is an `EventFormatError` naming the event
and the line.

`time_ordered(events, ...)` is `--sort`: events in event time, stable, untimed last, as
`evaluation_order` defines, sorted in memory up to `buffer_bytes` of encoded events and past that in
sorted runs on disk (0600 files in a private temporary directory, removed after) merged with
`heapq.merge`.
"""

from __future__ import annotations

import heapq
import json
import os
import struct
import tempfile
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from detection.errors import EventFormatError

#: A single event larger than this is refused (evtx records are a few KiB).
MAX_RECORD_BYTES = 16 << 20
_DECODER = json.JSONDecoder()


def read_records(
    stream: Iterable[bytes], *, first_line: int = 1, first_index: int = 0
) -> Iterator[dict[str, Any]]:
    """JSON objects from a byte stream (JSON lines, or values back to back); see module docstring.

    `first_line` and `first_index` number the stream's first line and value (for error messages),
    when it is the rest of a longer input."""
    index = first_index
    pending: list[bytes] = []  # lines of a value spread over several lines
    pending_size = 0
    start_line = 0
    loads, failure = orjson.loads, orjson.JSONDecodeError
    for number, line in enumerate(stream, start=first_line):
        if not pending:
            try:
                value = loads(line)  # surrounding white space is allowed
            except failure:
                if not line.strip():
                    continue
                pending, pending_size, start_line = [line], len(line), number
            else:
                if value.__class__ is not dict:
                    raise EventFormatError(index, f"expected a JSON object, got {type(value).__name__}")
                yield value
                index += 1
                continue
        else:
            pending.append(line)
            pending_size += len(line)
        if pending_size > MAX_RECORD_BYTES:
            raise EventFormatError(
                index, f"a value starting at line {start_line} exceeds {MAX_RECORD_BYTES} bytes"
            )
        if not line.rstrip().endswith((b"}", b"]")):
            continue
        values = _values(b"".join(pending), index)
        if values is None:
            continue  # not complete yet
        for value in values:
            yield _object(value, index)
            index += 1
        pending, pending_size = [], 0
    if pending:
        text = b"".join(pending).decode("utf-8", "replace")
        try:
            _DECODER.raw_decode(text.lstrip())
        except json.JSONDecodeError as exc:
            where = start_line + exc.lineno - 1
            raise EventFormatError(index, f"invalid JSON at line {where}: {exc.msg}") from None
        raise EventFormatError(index, f"trailing data after the value at line {start_line}")


def _values(data: bytes, index: int) -> list[Any] | None:
    """All values in `data` when it holds only complete values, else None (wait for more lines)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventFormatError(index, f"invalid UTF-8 at byte {exc.start}") from None
    values: list[Any] = []
    position, end = 0, len(text)
    while True:
        while position < end and text[position].isspace():
            position += 1
        if position >= end:
            return values
        try:
            value, position = _DECODER.raw_decode(text, position)
        except json.JSONDecodeError:
            return None
        values.append(value)


def _object(value: Any, index: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EventFormatError(index, f"expected a JSON object, got {type(value).__name__}")
    return value


def event_time(event: dict[str, Any]) -> datetime | None:
    """Event time for correlations: `@timestamp` (normalized) or `TimeCreated_SystemTime` (evtx)."""
    for name in ("@timestamp", "TimeCreated_SystemTime"):
        value = event.get(name)
        if isinstance(value, str):
            text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                return None
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_UNTIMED = (1 << 63) - 1  # sorts after every event time (microseconds since 1970)
_RECORD = struct.Struct(">qQI")  # sort key, input index, length of the encoded event


def _sort_key(moment: datetime | None) -> int:
    if moment is None:
        return _UNTIMED
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def time_ordered(
    events: Iterable[tuple[int, dict[str, Any]]],
    *,
    buffer_bytes: int,
    time_of: Callable[[dict[str, Any]], datetime | None] = event_time,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """`(index, event)` pairs in event-time order (ties and untimed events in input order)."""
    buffer: list[tuple[int, int, bytes]] = []
    size = 0
    runs: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="datasoc-sort-") as scratch:  # mode 0700
        for index, event in events:
            encoded = _encode(event)
            buffer.append((_sort_key(time_of(event)), index, encoded))
            size += len(encoded) + 64
            if size >= buffer_bytes:
                runs.append(_write_run(Path(scratch), len(runs), buffer))
                buffer, size = [], 0
        buffer.sort(key=lambda item: (item[0], item[1]))
        if not runs:
            for _, index, encoded in buffer:
                yield index, _decode(encoded)
            return
        if buffer:
            runs.append(_write_run(Path(scratch), len(runs), buffer))
        readers = [_read_run(run) for run in runs]
        for _, index, encoded in heapq.merge(*readers):
            yield index, _decode(encoded)


def _encode(event: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(event)
    except TypeError:  # integers beyond 64 bits, which the standard library keeps
        return json.dumps(event, ensure_ascii=False).encode()


def _decode(encoded: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(encoded)
    except orjson.JSONDecodeError:
        value = json.loads(encoded)
    return value  # type: ignore[no-any-return]


def _write_run(scratch: Path, number: int, buffer: list[tuple[int, int, bytes]]) -> Path:
    buffer.sort(key=lambda item: (item[0], item[1]))
    path = scratch / f"run-{number:06d}"
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb", buffering=1 << 20) as handle:
        for key, index, encoded in buffer:
            handle.write(_RECORD.pack(key, index, len(encoded)))
            handle.write(encoded)
    return path


def _read_run(path: Path) -> Iterator[tuple[int, int, bytes]]:
    with path.open("rb", buffering=1 << 20) as handle:
        while True:
            head = handle.read(_RECORD.size)
            if not head:
                return
            key, index, length = _RECORD.unpack(head)
            yield key, index, handle.read(length)
