"""Errors of the network inputs: leaves of `collectors.errors.CollectorError`.

Each leaf carries the HTTP status it answers with, so the API shell maps errors without knowing
them one by one; the message says what was wrong and never contains a token or the body.
"""

from __future__ import annotations

from collectors.errors import CollectorError


class IngestError(CollectorError):
    """A request or stream could not be ingested as a whole; `status` is the HTTP answer."""

    status: int = 400

    def __init__(self, reason: str, *, source: str | None = None) -> None:
        self.reason = reason
        self.source = source
        super().__init__(f"{source}: {reason}" if source else reason)


class BodyError(IngestError):
    """The body is not NDJSON, a JSON array or valid gzip (400)."""

    status = 400


class PayloadTooLargeError(IngestError):
    """The body, compressed or decompressed, is over its limit (413)."""

    status = 413


class UnsupportedEncodingError(IngestError):
    """A `Content-Encoding` other than gzip or identity (415)."""

    status = 415


class AuthError(IngestError):
    """Missing, malformed or unknown credentials (401). The token itself is never in the message."""

    status = 401


class OverloadedError(IngestError):
    """The transport lags past its limit; retry after `retry_after` seconds (429)."""

    status = 429

    def __init__(self, reason: str, *, retry_after: int, lag: int) -> None:
        self.retry_after = retry_after
        self.lag = lag
        super().__init__(reason)


class ThrottledError(IngestError):
    """The peer failed authentication too often; refused before its token is checked (429)."""

    status = 429

    def __init__(self, reason: str, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(reason)


class ConflictError(IngestError):
    """A request carrying the same events is still being stored; retry after `retry_after` (409)."""

    status = 409

    def __init__(self, reason: str, *, retry_after: int = 1) -> None:
        self.retry_after = retry_after
        super().__init__(reason)


class StorageUnavailableError(IngestError):
    """The spool cannot take writes (disk full, failed fsync); nothing was stored (503)."""

    status = 503

    def __init__(self, reason: str, *, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(reason)


class BusyError(IngestError):
    """Every ingest slot stayed busy past the wait; retry after `retry_after` (503)."""

    status = 503

    def __init__(self, reason: str, *, retry_after: int = 1) -> None:
        self.retry_after = retry_after
        super().__init__(reason)


class InputConfigError(CollectorError, ValueError):
    """An input's configuration is invalid (token table, limits, listeners); `where` names the key."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")
