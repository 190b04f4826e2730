"""What an event becomes in an OpenSearch/Elasticsearch index, and back. Pure: no client, no I/O.

A document is the event's wire form (its dotted keys, so operators, dashboards and pySigma's
queries see the normalized fields under their own names) plus one object of the store's own,
`_datasoc`, which carries what the store contract needs exactly and the engines' dynamic mapping
cannot give:

- `ts`: `@timestamp` in integer microseconds (the engines' `date` keeps milliseconds; range,
  order and cursor are on microseconds, as in SQLite);
- `id`: `event.id` unchanged (the natural `event.id` is lower-cased for Sigma, see `mapping`), the
  tie-break of the sort;
- `f`: typed tokens `<type>:<field>=<value>` for every top-level scalar, array element and object
  member (what SQLite's `json_each` sees): `s` strings, `n` numbers (integral floats written as
  integers: 1 and 1.0 are equal, as in SQLite), `b` booleans. Filters and `count_by` use them, so
  equality is typed (the string "1" never equals the number 1) whatever the field's mapping is
  in a given index. A string longer than `LONG_VALUE` becomes `h:<field>=<sha256>` for equality
  and `t:<field>=<its first LONG_VALUE characters>` for prefixes (an index term is capped at 32 KB);
- `text`: every top-level string value, in overlapping chunks of `TEXT_CHUNK` characters, for the
  full-text terms (case-insensitive substring, wildcard queries).

Field names never contain `=` (`datasoc.store.query.FIELD_NAME_RE`), so a token splits unambiguously.
An event with a key `_datasoc` (or under it) cannot be stored here (`ReservedFieldError`).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Final

from datasoc.event import Event
from datasoc.store.query import Scalar, to_micros

INTERNAL: Final = "_datasoc"
LONG_VALUE: Final = 1024
TEXT_CHUNK: Final = 2048
TEXT_OVERLAP: Final = 256
#: The longest full-text term every chunk boundary still finds whole.
MAX_TEXT_TERM: Final = TEXT_OVERLAP + 1
_TWO_53: Final = 2**53


def number_text(value: int | float) -> str:
    """The canonical text of a number in a token: integral values as integers (1.0 -> "1")."""
    if isinstance(value, float) and value.is_integer() and abs(value) < _TWO_53:
        return str(int(value))
    return repr(value) if isinstance(value, float) else str(value)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def scalar_tokens(field: str, value: object) -> list[str]:
    """Tokens for one scalar value (none for null, arrays or objects)."""
    if isinstance(value, bool):
        return [f"b:{field}={'true' if value else 'false'}"]
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return []
        return [f"n:{field}={number_text(value)}"]
    if isinstance(value, str):
        if len(value) > LONG_VALUE:
            return [f"h:{field}={_hash(value)}", f"t:{field}={value[:LONG_VALUE]}"]
        return [f"s:{field}={value}"]
    return []


def value_tokens(field: str, value: object) -> list[str]:
    """Tokens of a top-level field: the value, or each element of an array / member of an object."""
    if isinstance(value, list):
        return [token for item in value for token in scalar_tokens(field, item)]
    if isinstance(value, dict):
        return [token for item in value.values() for token in scalar_tokens(field, item)]
    return scalar_tokens(field, value)


def filter_tokens(field: str, value: Scalar) -> list[str]:
    """The token(s) an `eq` filter looks for (one; a long string by its hash)."""
    tokens = scalar_tokens(field, value)
    return tokens[:1]


def text_chunks(value: str) -> Iterator[str]:
    """`value` cut into overlapping chunks so that any substring up to `MAX_TEXT_TERM` is in one."""
    if len(value) <= TEXT_CHUNK:
        yield value
        return
    step = TEXT_CHUNK - TEXT_OVERLAP
    for start in range(0, len(value) - TEXT_OVERLAP, step):
        yield value[start : start + TEXT_CHUNK]


class ReservedFieldError(ValueError):
    """The event has a key that collides with the store's own object (`key`)."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"field name {key!r} is reserved by the search store")


def to_document(event: Event) -> dict[str, Any]:
    """The indexed document of `event` (see the module docstring); `ReservedFieldError` on a clash."""
    wire = event.to_dict()
    for key in wire:
        if key == INTERNAL or key.startswith(INTERNAL + "."):
            raise ReservedFieldError(key)
    tokens: list[str] = []
    text: list[str] = []
    for key, value in wire.items():
        tokens.extend(value_tokens(key, value))
        if isinstance(value, str):
            text.extend(text_chunks(value))
    document = dict(wire)
    document[INTERNAL] = {"ts": to_micros(event.timestamp), "id": event.event_id, "f": tokens, "text": text}
    return document


def encode(document: dict[str, Any]) -> str:
    """JSON of a document as sent (the engines keep `_source` byte for byte)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def from_source(source: dict[str, Any]) -> dict[str, Any]:
    """The event's wire form from a stored `_source` (the store's own object removed)."""
    return {key: value for key, value in source.items() if key != INTERNAL}


def index_day(event: Event) -> str:
    """The UTC day of the event's time, as in the daily index name (`2026.03.02`)."""
    return event.timestamp.astimezone(UTC).strftime("%Y.%m.%d")


def day_start(day: str) -> datetime:
    """Midnight UTC opening an index day (`2026.03.02`)."""
    return datetime.strptime(day, "%Y.%m.%d").replace(tzinfo=UTC)


def parse_token(token: str) -> tuple[str, str, Scalar] | None:
    """`(kind, field, value)` of a token; None for hashed/truncated long strings (no value to show)."""
    kind, _, rest = token.partition(":")
    field, _, text = rest.partition("=")
    if kind == "s":
        return kind, field, text
    if kind == "b":
        return kind, field, text == "true"
    if kind == "n":
        try:
            number: int | float = int(text)
        except ValueError:
            number = float(text)
        return kind, field, number
    return None
