"""Backend-neutral query models of the event store, and the pages and buckets that come back.

Pure data, no I/O. SQLite today and OpenSearch/Elasticsearch later read the same `SearchQuery`
and return the same `SearchPage` and `Bucket`, so one contract test suite covers every backend.

Semantics every backend implements:
- time range `[start, end)` on `@timestamp`: start inclusive, end exclusive;
- filters are ANDed; `eq`/`in` are typed equality (the string "5" does not match the number 5)
  and match any element of an array field (as an OpenSearch `term` query does); `prefix` matches
  string values only;
- `text` is a small language that every backend can translate: whitespace-separated terms and
  "double-quoted phrases", all of which must occur as case-insensitive substrings of some
  top-level string value of the event (`log.original` included; strings inside arrays or objects
  are not searched). No operators: `OR`, `NEAR`, `*`, `:` are literal. Terms of one or two
  characters are case-folded for ASCII only;
- results are newest first, ties broken by `event.id` descending; a cursor is the sort key
  `(@timestamp in microseconds, event.id)` of the last event seen (`search_after`).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from datasoc.event import Event, parse_timestamp
from datasoc.store.errors import CursorError, QueryError, TextQueryError

Scalar = str | int | float | bool
FilterOp = Literal["eq", "in", "prefix"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_LIMIT = 10_000
MAX_IN_VALUES = 1_000
MAX_TERMS = 16
MAX_BUCKETS = 10_000
MAX_FIELD_NAME = 256

# ECS-style dotted names and native names such as `Image` or `@timestamp`. The store never puts a
# field name into SQL text, but the name does go into a JSON path, so quotes, backslashes, brackets
# and `$` are kept out by construction.
FIELD_NAME_RE = re.compile(r"@?[A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]+)*")

_ONE_MICRO = timedelta(microseconds=1)


def to_micros(value: datetime) -> int:
    """Microseconds since the Unix epoch (UTC) of an aware datetime."""
    return (value - EPOCH) // _ONE_MICRO


def from_micros(value: int) -> datetime:
    """Inverse of `to_micros`."""
    return EPOCH + timedelta(microseconds=value)


def check_field_name(name: object, where: str) -> str:
    """Return `name` if it is a valid event field name, else raise `QueryError` at `where`."""
    if not isinstance(name, str):
        raise QueryError(where, f"field name must be a string, got {type(name).__name__}")
    if not 0 < len(name) <= MAX_FIELD_NAME or FIELD_NAME_RE.fullmatch(name) is None:
        raise QueryError(
            where,
            f"{name[:64]!r} is not a field name",
            hint="use letters, digits, '_', '-', dot-separated, optionally starting with '@'",
        )
    return name


def check_time(value: object, where: str) -> datetime:
    """An aware datetime (or RFC 3339 string) normalised to UTC, else `QueryError` at `where`."""
    try:
        return parse_timestamp(value)
    except ValueError as exc:
        raise QueryError(where, str(exc)) from None


def _check_scalar(value: object, where: str) -> Scalar:
    if isinstance(value, float) and not math.isfinite(value):
        raise QueryError(where, "a filter value must be a finite number")
    if isinstance(value, str | int | float | bool):
        return value
    raise QueryError(where, f"a filter value must be a string, number or boolean, got {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class FieldFilter:
    """One condition on one field; build with `eq`, `any_of` or `prefix`."""

    field: str
    op: FilterOp
    values: tuple[Scalar, ...]

    def __post_init__(self) -> None:
        check_field_name(self.field, "filter.field")
        if self.op not in ("eq", "in", "prefix"):
            raise QueryError(f"filter {self.field}", f"unknown operator {self.op!r}; use eq, in or prefix")
        values = tuple(self.values)
        for value in values:
            _check_scalar(value, f"filter {self.field}")
        if self.op == "in" and not 0 < len(values) <= MAX_IN_VALUES:
            raise QueryError(
                f"filter {self.field}", f"'in' needs 1 to {MAX_IN_VALUES} values, got {len(values)}"
            )
        if self.op != "in" and len(values) != 1:
            raise QueryError(f"filter {self.field}", f"{self.op!r} takes exactly one value")
        if self.op == "prefix" and (not isinstance(values[0], str) or not values[0]):
            raise QueryError(f"filter {self.field}", "'prefix' takes a non-empty string")
        object.__setattr__(self, "values", values)

    @classmethod
    def eq(cls, field: str, value: Scalar) -> FieldFilter:
        """`field` equals `value` (or, for an array field, contains it)."""
        return cls(field, "eq", (value,))

    @classmethod
    def any_of(cls, field: str, values: Iterable[Scalar]) -> FieldFilter:
        """`field` equals one of `values` (SQL `IN`, OpenSearch `terms`)."""
        return cls(field, "in", tuple(values))

    @classmethod
    def prefix(cls, field: str, prefix: str) -> FieldFilter:
        """`field` is a string that starts with `prefix` (case-sensitive)."""
        return cls(field, "prefix", (prefix,))


def parse_text(text: str) -> tuple[str, ...]:
    """Split a full-text query into its terms: words, and "phrases" with their spaces kept.

    Raises `TextQueryError` on an unclosed quote, an empty phrase, a quote inside a word, or too
    many terms. Pure; every backend uses it so they agree on what a query means.
    """
    terms: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text[i] == '"':
            close = text.find('"', i + 1)
            if close < 0:
                raise TextQueryError("unclosed double quote", position=i)
            phrase = text[i + 1 : close]
            if not phrase.strip():
                raise TextQueryError("empty phrase", position=i)
            terms.append(phrase)
            i = close + 1
            continue
        start = i
        while i < n and not text[i].isspace():
            if text[i] == '"':
                raise TextQueryError("double quote inside a word; quote the whole phrase", position=i)
            i += 1
        terms.append(text[start:i])
    if not terms:
        raise TextQueryError("no search terms", position=0)
    if len(terms) > MAX_TERMS:
        raise TextQueryError(f"more than {MAX_TERMS} terms", position=0)
    return tuple(terms)


def encode_cursor(ts_micros: int, event_id: str) -> str:
    """The opaque `search_after` cursor for the sort key `(timestamp, event.id)`."""
    raw = json.dumps([ts_micros, event_id], ensure_ascii=False, separators=(",", ":")).encode()
    return "c1." + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Inverse of `encode_cursor`; raises `CursorError` on anything it did not make."""
    if not isinstance(cursor, str) or not cursor.startswith("c1."):
        raise CursorError("not a cursor of this store (expected 'c1.' prefix)")
    body = cursor[3:]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError):
        raise CursorError("cursor is damaged") from None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or type(value[0]) is not int
        or not isinstance(value[1], str)
        or not value[1]
    ):
        raise CursorError("cursor is damaged")
    return value[0], value[1]


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to find: a time range `[start, end)`, filters, optional text, page size and cursor."""

    start: datetime
    end: datetime
    filters: tuple[FieldFilter, ...] = ()
    text: str | None = None
    limit: int = 100
    after: str | None = None
    with_total: bool = False
    terms: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        start = check_time(self.start, "start")
        end = check_time(self.end, "end")
        if end < start:
            raise QueryError("end", f"end {end.isoformat()} is before start {start.isoformat()}")
        filters = tuple(self.filters)
        for index, item in enumerate(filters):
            if not isinstance(item, FieldFilter):
                raise QueryError(f"filters[{index}]", f"expected a FieldFilter, got {type(item).__name__}")
        if type(self.limit) is not int or not 0 < self.limit <= MAX_LIMIT:
            raise QueryError("limit", f"must be an integer from 1 to {MAX_LIMIT}, got {self.limit!r}")
        if not isinstance(self.with_total, bool):
            raise QueryError("with_total", f"must be true or false, got {self.with_total!r}")
        if self.text is not None and not isinstance(self.text, str):
            raise QueryError("text", f"must be a string, got {type(self.text).__name__}")
        terms = parse_text(self.text) if self.text is not None else ()
        if self.after is not None:
            decode_cursor(self.after)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "filters", filters)
        object.__setattr__(self, "terms", terms)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchQuery:
        """Build from the wire form used by the API.

        `{"start", "end"` (RFC 3339), `"where": {field: value or [values]}`, `"prefix": {field: str}`,
        `"text"`, `"limit"`, `"after"`, `"with_total"}`; unknown keys are refused.
        """
        if not isinstance(data, Mapping):
            raise QueryError("<query>", f"expected an object, got {type(data).__name__}")
        known = {"start", "end", "where", "prefix", "text", "limit", "after", "with_total"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise QueryError(unknown[0], f"unknown key; allowed: {', '.join(sorted(known))}")
        for key in ("start", "end"):
            if key not in data:
                raise QueryError(key, "required")
        filters: list[FieldFilter] = []
        sections: tuple[tuple[str, FilterOp], ...] = (("where", "eq"), ("prefix", "prefix"))
        for key, op in sections:
            section = data.get(key, {})
            if not isinstance(section, Mapping):
                raise QueryError(key, f"expected an object of field: value, got {type(section).__name__}")
            for name, value in section.items():
                if op == "eq" and isinstance(value, list | tuple):
                    filters.append(FieldFilter(name, "in", tuple(value)))
                else:
                    filters.append(FieldFilter(name, op, (value,)))
        return cls(
            start=data["start"],
            end=data["end"],
            filters=tuple(filters),
            text=data.get("text"),
            limit=data.get("limit", 100),
            after=data.get("after"),
            with_total=data.get("with_total", False),
        )


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of results, newest first; `next_cursor` is None on the last page."""

    events: tuple[Event, ...]
    next_cursor: str | None
    total: int | None = None


@dataclass(frozen=True, slots=True)
class Bucket:
    """Count of events with `field == value` whose time falls in `[start, start + width)`."""

    start: datetime
    value: Scalar
    count: int


def check_buckets(
    field: str, start: datetime, end: datetime, bucket: timedelta, origin: datetime
) -> tuple[int, int, int, int]:
    """Validate a `count_by` request; return `(start_us, end_us, width_us, origin_us)`.

    Buckets are aligned on `origin + k * bucket` (the Unix epoch by default, so hours and UTC days
    line up; pass `origin=datetime(1970, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))` for local days).
    """
    check_field_name(field, "field")
    start = check_time(start, "start")
    end = check_time(end, "end")
    origin = check_time(origin, "origin")
    if end < start:
        raise QueryError("end", f"end {end.isoformat()} is before start {start.isoformat()}")
    if not isinstance(bucket, timedelta) or bucket <= timedelta(0) or bucket % _ONE_MICRO:
        raise QueryError("bucket", f"must be a positive whole number of microseconds, got {bucket!r}")
    width = bucket // _ONE_MICRO
    start_us, end_us = to_micros(start), to_micros(end)
    if (end_us - start_us) // width > MAX_BUCKETS:
        raise QueryError("bucket", f"range holds more than {MAX_BUCKETS} buckets; use a wider bucket")
    return start_us, end_us, width, to_micros(origin)


def filters_of(filters: Sequence[FieldFilter]) -> tuple[FieldFilter, ...]:
    """Check that `filters` holds only `FieldFilter`s (for methods that take them directly)."""
    result = tuple(filters)
    for index, item in enumerate(result):
        if not isinstance(item, FieldFilter):
            raise QueryError(f"filters[{index}]", f"expected a FieldFilter, got {type(item).__name__}")
    return result
