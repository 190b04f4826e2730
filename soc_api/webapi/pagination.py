"""Cursor pagination: opaque cursors (`c1.` + base64url of JSON), `limit` 1..200, `next_cursor`."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import AfterValidator, BaseModel

from soc_api.identity.errors import InvalidRequestError

T = TypeVar("T")
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def _instant(value: datetime) -> datetime:
    """An aware time between 1970 and 9998 (naive: UTC); arithmetic on it cannot overflow."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    if value.year < 1970 or value.year > 9998 or not _EARLIEST <= value < _LATEST:
        raise ValueError("time must be between 1970 and 9998")
    return value.astimezone(UTC)


#: A time in a request: RFC 3339, between 1970 and 9998, taken as UTC when it has no offset.
Instant = Annotated[datetime, AfterValidator(_instant)]
Limit = Annotated[int, Query(ge=1, le=200, description="Items per page")]
Cursor = Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page")]


class Page(BaseModel, Generic[T]):
    """One page of a list; `next_cursor` is null on the last page."""

    items: list[T]
    next_cursor: str | None = None


def encode_cursor(values: list[Any]) -> str:
    """An opaque cursor for the position after `values`."""
    raw = json.dumps(values, separators=(",", ":")).encode("utf-8")
    return "c1." + base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str | None, shape: tuple[type, ...]) -> list[Any] | None:
    """The values of a cursor made by `encode_cursor`, checked against `shape`; None for no cursor."""
    if cursor is None:
        return None
    try:
        if not cursor.startswith("c1."):
            raise ValueError
        body = cursor[3:]
        values = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if not isinstance(values, list) or len(values) != len(shape):
            raise ValueError
        if not all(isinstance(v, t) and not isinstance(v, bool) for v, t in zip(values, shape, strict=True)):
            raise ValueError
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequestError("cursor 无效 / invalid cursor: pass next_cursor unchanged") from None
    return values
