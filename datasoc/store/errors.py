"""Errors of the event store: one root, `StoreError`, under the kernel's `DatasocError`.

Leaves say what was wrong and where (the field, the cursor, the file), and `hint` says what to
do about it when an operator will read the message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from datasoc.errors import DatasocError

if TYPE_CHECKING:
    from datasoc.store.base import RejectedEvent


class StoreError(DatasocError):
    """Root of every error raised by `datasoc.store`."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)


class QueryError(StoreError, ValueError):
    """A query is malformed: bad field name, time range, limit or filter value.

    `field` names the query part at fault (`"start"`, `"filters[1].field"`, ...).
    """

    def __init__(self, field: str, problem: str, *, hint: str = "") -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"invalid query: {field}: {problem}", hint=hint)


class TextQueryError(QueryError):
    """The full-text part of a query does not parse; `position` is the 0-based character offset."""

    def __init__(self, problem: str, *, position: int) -> None:
        self.position = position
        super().__init__("text", f"{problem} at character {position}")


class CursorError(QueryError):
    """A paging cursor is not one this store handed out."""

    def __init__(self, problem: str) -> None:
        super().__init__("after", problem, hint="pass back the next_cursor of the previous page unchanged")


class RetentionPolicyError(StoreError, ValueError):
    """A retention setting breaks the legal minimum or is not a whole number of days."""


class StoreClosedError(StoreError):
    """The store was used after `close()`."""


class StorageError(StoreError):
    """The backend failed (file missing, not a database, disk full, locked...); `location` names it."""

    def __init__(self, location: str, operation: str, detail: str, *, hint: str = "") -> None:
        self.location = location
        self.operation = operation
        super().__init__(f"{location}: {operation} failed: {detail}", hint=hint)


class CorruptEventError(StorageError):
    """A stored document no longer validates as an Event (edited outside datasoc?)."""


class StoreUnavailableError(StorageError):
    """The search server could not be reached or kept answering "busy" after the retries.

    Nothing of the failed call is acknowledged: the caller keeps its events (the indexer does not
    commit its transport offset) and tries again later.
    """


class RejectedEventsError(StoreError):
    """`insert_many` stored a batch except these events, which the backend refused for good.

    `rejected` holds each refused event with the server's reason; `inserted` counts the new ones.
    Callers that dead-letter rejects use `EventStore.insert_batch`, which returns them instead.
    """

    def __init__(self, inserted: int, rejected: tuple[RejectedEvent, ...]) -> None:
        self.inserted = inserted
        self.rejected = rejected
        first = rejected[0]
        super().__init__(
            f"{len(rejected)} event(s) refused by the store, e.g. {first.event.event_id}: {first.reason}"
        )
