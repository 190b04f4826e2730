"""The CLI's edge: the one place the clock and the id source are read.

Everything below the commands takes `now` (or a clock) and `new_id` as parameters.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime


def now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def new_id() -> str:
    """A fresh random id (event ids assigned at ingest)."""
    return uuid.uuid4().hex
