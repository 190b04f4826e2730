"""The pure core of bulk and stream ingest: bytes in, spool payloads and per-record results out.

No I/O and no clock: callers pass `now` and `new_id`. Steps, each bounded:

1. `decode_body`: undo `Content-Encoding: gzip` (RFC 9110 §8.4.1.3) with a cap on the
   decompressed size, so a small gzip bomb cannot expand into memory.
2. `split_records`: NDJSON (one JSON text per line) or one JSON array (RFC 8259), chosen by
   `Content-Type` or, when absent, by the first non-blank byte.
3. `build_batch`: each record either becomes an event payload for the `events` topic or a
   dead-letter payload with its reason, position and raw bytes; nothing is dropped.

Already-normalized events are validated with `Event.from_dict` and stored as received (plus
`event.id` and `event.ingested` when missing) without re-encoding through the model: the
indexer validates the payload again, so the wire form on the spool need not be canonical.
Native records go through the source's parser and are stored as the parser's event.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import orjson

from collectors.errors import ParseError
from collectors.inputs.errors import BodyError, PayloadTooLargeError, UnsupportedEncodingError
from collectors.inputs.quick import surely_valid
from collectors.parsers.base import Parser, stable_id
from collectors.readers import join_lines
from collectors.sink import dead_letter
from datasoc.errors import EventValidationError
from datasoc.event import Event, format_timestamp

# A dead letter holds the raw bytes twice (base64 and text): 256 KiB kept stays well inside the
# spool's default 1 MiB record limit, which a full 1 MiB record would not.
DEAD_LETTER_RAW_BYTES: Final = 256 * 1024
_UNPARSED: Final = object()
_TOO_DEEP: Final = object()
_NDJSON_TYPES: Final = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/jsonlines", "text/plain"}
)
_JSON_TYPES: Final = frozenset({"application/json"})


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One input record: its 1-based position (line or array index; None for a whole body), raw bytes,
    and the parsed value when splitting already parsed it."""

    position: int | None
    raw: bytes
    value: Any = _UNPARSED


@dataclass(frozen=True, slots=True)
class RecordError:
    """Why one record was rejected."""

    position: int | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form in the HTTP answer."""
        return {"position": self.position, "reason": self.reason}


@dataclass
class IngestBatch:
    """Spool payloads of one request or stream chunk and what happened to each record."""

    events: list[bytes] = field(default_factory=list)
    dead: list[bytes] = field(default_factory=list)
    errors: list[RecordError] = field(default_factory=list)
    rejected: int = 0

    @property
    def accepted(self) -> int:
        """Records that became events."""
        return len(self.events)


def decode_body(body: bytes, encoding: str | None, *, max_decoded: int) -> bytes:
    """Undo the content coding; `PayloadTooLargeError` past `max_decoded` bytes, `BodyError` if corrupt."""
    coding = (encoding or "identity").strip().lower()
    if coding == "identity":
        if len(body) > max_decoded:
            raise PayloadTooLargeError(f"body of {len(body)} bytes exceeds {max_decoded}")
        return body
    if coding not in ("gzip", "x-gzip"):
        raise UnsupportedEncodingError(f"Content-Encoding {coding[:40]!r} is not supported; use gzip")
    out: list[bytes] = []
    size = 0
    rest = body
    # A gzip stream may hold several members (RFC 1952 §2.2); each is inflated under the same cap.
    while rest:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = inflater.decompress(rest, max_decoded - size + 1)
        except zlib.error as exc:
            raise BodyError(f"gzip body is corrupt: {exc}") from None
        size += len(chunk)
        if size > max_decoded or inflater.unconsumed_tail:
            raise PayloadTooLargeError(f"gzip body inflates past {max_decoded} bytes")
        if not inflater.eof:
            raise BodyError("gzip body is truncated")
        out.append(chunk)
        rest = inflater.unused_data
    if not out:
        raise BodyError("gzip body is empty")
    return b"".join(out)


def body_kind(content_type: str | None, body: bytes) -> str:
    """`"ndjson"` or `"array"` from the media type, or from the first non-blank byte when absent."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media in _NDJSON_TYPES:
        return "ndjson"
    if media in _JSON_TYPES:
        return "array"
    if media:
        raise UnsupportedEncodingError(
            f"Content-Type {media[:60]!r} is not supported; use application/x-ndjson or application/json"
        )
    return "array" if body.lstrip()[:1] == b"[" else "ndjson"


def split_records(body: bytes, kind: str, *, multiline: bool = False) -> list[RawRecord]:
    """The records of a decoded body; blank NDJSON lines are skipped (they are not records).

    `multiline`: native lines of a CSV format whose quoted fields may hold newlines (PostgreSQL
    csvlog): a record goes on while a quoted field is open, as when the file is read
    (`collectors.readers.join_lines`); its position is the line it starts on."""
    if kind == "ndjson":
        lines = (
            (index, line[:-1] if line.endswith(b"\r") else line)
            for index, line in enumerate(body.split(b"\n"), 1)
        )
        if multiline:
            return [RawRecord(r.position, r.raw) for r in join_lines(lines, multiline=True)]
        return [RawRecord(index, line) for index, line in lines if line and not line.isspace()]
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(f"body is not valid JSON: {exc}") from None
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise BodyError(f"a JSON body must be an array of records, got {type(value).__name__}")
    return [_element(index, item) for index, item in enumerate(value, 1)]


def _element(index: int, item: Any) -> RawRecord:
    try:
        return RawRecord(index, orjson.dumps(item), item)
    except orjson.JSONEncodeError:
        # orjson reads deeper nesting than it writes; such an element cannot be kept re-encoded,
        # so it is rejected with its position and reason (the raw body is not split by element).
        return RawRecord(index, b"", _TOO_DEEP)


@dataclass(frozen=True)
class RecordRules:
    """How records of one source become events: parser (None: already normalized) and limits."""

    source: str
    collector: str
    parser: Parser | None = None
    max_record_bytes: int = 1 << 20
    #: Largest stored event; at most the spool's record limit, so an append never fails on size.
    max_event_bytes: int = 1 << 20
    max_errors: int = 20
    stage: str = "validate"
    #: The sender's `Idempotency-Key`: ids of records without one of their own derive from (source,
    #: key, position), so a retried request stores nothing twice; without it they are fresh ids.
    idempotency_key: str | None = None

    def id_for(self, position: int | None, new_id: Callable[[], str]) -> str:
        """The `event.id` of a record that brings none (see `idempotency_key`)."""
        if self.idempotency_key is None or position is None:
            return new_id()
        return stable_id(self.source, "request", self.idempotency_key, str(position))


def build_batch(
    records: Iterable[RawRecord],
    rules: RecordRules,
    *,
    now: datetime,
    new_id: Callable[[], str],
) -> IngestBatch:
    """Turn records into event payloads and dead letters (pure; see module docstring)."""
    batch = IngestBatch()
    now_text = format_timestamp(now)
    for record in records:
        try:
            if record.value is _TOO_DEEP:
                raise RecursionError
            if len(record.raw) > rules.max_record_bytes:
                raise ValueError(
                    f"record of {len(record.raw)} bytes exceeds the limit of {rules.max_record_bytes}"
                )
            if rules.parser is None:
                payload = _normalized(record, rules, now_text, new_id)
            else:
                payload = _native(record, rules, now, new_id)
            if len(payload) > rules.max_event_bytes:
                raise ValueError(
                    f"event of {len(payload)} bytes after normalization exceeds the limit of "
                    f"{rules.max_event_bytes}"
                )
        except (ValueError, TypeError, RecursionError) as exc:
            reject_record(batch, rules, record, _reason(exc), now=now)
        else:
            batch.events.append(payload)
    return batch


def reject_all(
    records: Iterable[RawRecord], rules: RecordRules, reason: str, *, now: datetime
) -> IngestBatch:
    """Dead-letter every record with the same reason (a frame or body that failed as a whole)."""
    batch = IngestBatch()
    for record in records:
        reject_record(batch, rules, record, reason, now=now)
    return batch


def _normalized(record: RawRecord, rules: RecordRules, now_text: str, new_id: Callable[[], str]) -> bytes:
    value = record.value
    if value is _UNPARSED:
        try:
            value = orjson.loads(record.raw)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ValueError(f"a record must be a JSON object, got {type(value).__name__}")
    if "event.ingested" not in value:
        value["event.ingested"] = now_text
    if not value.get("event.id"):
        value["event.id"] = rules.id_for(record.position, new_id)
    value.setdefault("observer.collector", rules.collector)
    if not surely_valid(value):
        Event.from_dict(value)  # the full contract, and the precise reason when it fails
    return orjson.dumps(value)


def _native(record: RawRecord, rules: RecordRules, now: datetime, new_id: Callable[[], str]) -> bytes:
    assert rules.parser is not None
    raw: bytes | str = record.value if isinstance(record.value, str) else record.raw
    try:
        event = rules.parser.parse(
            raw, source=rules.source, now=now, new_id=lambda: rules.id_for(record.position, new_id)
        )
    except ParseError as exc:
        raise ValueError(exc.reason) from None
    fields = event.to_dict()
    # The parser names its format; the event records the input and source that received it.
    fields["observer.collector"] = rules.collector
    return orjson.dumps(fields)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "record is nested too deeply"
    if isinstance(exc, EventValidationError):
        return "invalid event: " + "; ".join(f"{f}: {p}" for f, p in exc.problems)
    return str(exc) or type(exc).__name__


def reject_record(
    batch: IngestBatch, rules: RecordRules, record: RawRecord, reason: str, *, now: datetime
) -> None:
    """Count `record` as rejected in `batch` and queue its dead letter."""
    batch.rejected += 1
    if len(batch.errors) < rules.max_errors:
        batch.errors.append(RecordError(record.position, reason))
    batch.dead.append(
        dead_letter(
            stage=rules.stage,
            source=rules.source,
            position=record.position,
            reason=reason,
            raw=record.raw,
            received_at=now,
            max_raw=DEAD_LETTER_RAW_BYTES,
        )
    )
