"""HTTP bulk ingest, independent of the web framework: the API router only adapts to it.

Order of checks for `POST /api/v1/ingest`, cheapest first, so unauthenticated or overloading
clients cost nothing: (1) token (401, plus a ledger-ready `login.denied` security event),
(2) transport lag (429 with Retry-After), (3) body size while reading (413), (4) decoding and
splitting (400/413/415), (5) per-record validation or parsing (rejects to the dead-letter topic),
(6) durable append in a worker thread; only then the 200 answer with per-record results.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collectors.inputs.backpressure import LagMonitor
from collectors.inputs.delivery import Delivery
from collectors.inputs.errors import (
    AuthError,
    IngestError,
    InputConfigError,
    OverloadedError,
    PayloadTooLargeError,
)
from collectors.inputs.records import (
    RawRecord,
    RecordRules,
    body_kind,
    build_batch,
    decode_body,
    reject_all,
    split_records,
)
from collectors.inputs.tokens import TokenAuthority, TokenGrant, TokenStore
from collectors.parsers.base import Parser
from collectors.readers import MULTILINE_CSV
from datasoc.event import format_timestamp
from datasoc.logging import get_logger

log = get_logger("collectors.http")

SecurityEventSink = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class HttpIngestConfig:
    """Limits of the HTTP input (settings section `[collect]`)."""

    max_body_bytes: int = 16 * 1024 * 1024
    max_decoded_bytes: int = 64 * 1024 * 1024
    max_record_bytes: int = 1024 * 1024
    #: Largest stored event; keep it at most the spool's `max_record_bytes`.
    max_event_bytes: int = 1024 * 1024
    max_errors: int = 20
    collector: str = "http"

    def __post_init__(self) -> None:
        if (
            min(
                self.max_body_bytes,
                self.max_decoded_bytes,
                self.max_record_bytes,
                self.max_event_bytes,
                self.max_errors,
            )
            < 1
        ):
            raise InputConfigError("collect.http", "every limit must be positive")


@dataclass(frozen=True, slots=True)
class IngestAnswer:
    """Status and JSON body of an ingest answer."""

    status: int
    body: dict[str, Any]


class HttpIngest:
    """The ingest service behind `POST /api/v1/ingest` (see module docstring)."""

    def __init__(
        self,
        *,
        tokens: TokenAuthority,
        delivery: Delivery,
        parsers: Mapping[str, Parser] | None = None,
        lag: LagMonitor | None = None,
        config: HttpIngestConfig | None = None,
        on_security_event: SecurityEventSink | None = None,
    ) -> None:
        self.tokens = tokens
        self.delivery = delivery
        self.parsers = dict(parsers or {})
        self.lag = lag
        self.config = config or HttpIngestConfig()
        self.on_security_event = on_security_event
        self.denied = 0
        # A fixed token set is checked here; tokens that change while running are checked when made.
        declared = tokens.grants.values() if isinstance(tokens, TokenStore) else ()
        for grant in declared:
            if grant.parser is not None and grant.parser not in self.parsers:
                raise InputConfigError(
                    f"tokens[{grant.source}]",
                    f"names unknown parser {grant.parser!r}; known: {sorted(self.parsers)}",
                )

    def authenticate(self, authorization: str | None, *, peer: str, now: datetime) -> TokenGrant:
        """The grant of the request's token, or `AuthError` after logging and a security event."""
        try:
            return self.tokens.authenticate(authorization, now)
        except AuthError as exc:
            self.denied += 1
            log.warning("ingest_auth_denied", peer=peer, reason=exc.reason)
            if self.on_security_event is not None:
                self.on_security_event(
                    {
                        "kind": "login.denied",
                        "ts": format_timestamp(now),
                        "actor": f"peer:{peer}",
                        "subject": "collector:http-ingest",
                        "payload": {"reason": exc.reason, "interface": "POST /api/v1/ingest"},
                    }
                )
            raise

    def admit(self, now: datetime) -> None:
        """Raise `OverloadedError` when the transport lags past its limit."""
        if self.lag is not None and self.lag.overloaded(now):
            self.lag.rejections += 1
            raise OverloadedError(
                f"transport lags {self.lag.lag(now)} events behind (limit {self.lag.config.limit})",
                retry_after=self.lag.config.retry_after_seconds,
                lag=self.lag.lag(now),
            )

    async def read_body(self, chunks: AsyncIterable[bytes], content_length: str | None) -> bytes:
        """Read the body, refusing (413) as soon as it is past `max_body_bytes`."""
        limit = self.config.max_body_bytes
        if content_length is not None and content_length.strip().isdigit() and int(content_length) > limit:
            raise PayloadTooLargeError(f"body of {content_length.strip()} bytes exceeds {limit}")
        parts: list[bytes] = []
        size = 0
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(f"body exceeds {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    async def ingest(
        self,
        grant: TokenGrant,
        body: bytes,
        *,
        content_type: str | None,
        content_encoding: str | None,
        now: datetime,
        new_id: Callable[[], str],
        idempotency_key: str | None = None,
    ) -> IngestAnswer:
        """Validate, dead-letter and durably append the body's records; the per-record answer."""
        return await asyncio.to_thread(
            self.ingest_blocking,
            grant,
            body,
            content_type=content_type,
            content_encoding=content_encoding,
            now=now,
            new_id=new_id,
            idempotency_key=idempotency_key,
        )

    def ingest_blocking(
        self,
        grant: TokenGrant,
        body: bytes,
        *,
        content_type: str | None,
        content_encoding: str | None,
        now: datetime,
        new_id: Callable[[], str],
        idempotency_key: str | None = None,
    ) -> IngestAnswer:
        """`ingest` on the calling thread (for a worker thread; it blocks on fsync)."""
        rules = RecordRules(
            source=grant.source,
            collector=f"{self.config.collector}:{grant.source}",
            parser=self.parsers[grant.parser] if grant.parser else None,
            max_record_bytes=self.config.max_record_bytes,
            max_event_bytes=self.config.max_event_bytes,
            max_errors=self.config.max_errors,
            stage="parse" if grant.parser else "validate",
            idempotency_key=idempotency_key,
        )
        try:
            decoded = decode_body(body, content_encoding, max_decoded=self.config.max_decoded_bytes)
            multiline = grant.parser in MULTILINE_CSV
            records = split_records(decoded, body_kind(content_type, decoded), multiline=multiline)
        except PayloadTooLargeError:
            raise
        except IngestError as exc:
            # The body failed as a whole; it is still kept (as one dead letter) with the reason.
            batch = reject_all([RawRecord(None, body)], rules, exc.reason, now=now)
            self.delivery.deliver(batch, source=grant.source, now=now, bytes_=len(body))
            raise
        batch = build_batch(records, rules, now=now, new_id=new_id)
        self.delivery.deliver(batch, source=grant.source, now=now, bytes_=len(body))
        return IngestAnswer(
            200,
            {
                "source": grant.source,
                "accepted": batch.accepted,
                "rejected": batch.rejected,
                "errors": [error.to_dict() for error in batch.errors],
            },
        )
