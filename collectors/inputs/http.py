"""HTTP bulk ingest, independent of the web framework: the API router only adapts to it.

Order of checks for `POST /api/v1/ingest`, cheapest first, so unauthenticated or overloading
clients cost nothing: (0) the peer's failed-authentication throttle (429 with Retry-After, before
the token is even looked at), (1) token (401, plus a `login.denied` security event pushed to the
aggregating queue, never waiting for the ledger), (2) transport lag (429 with Retry-After),
(3) an ingest slot (at most `concurrency` requests read and process bodies at once, so memory is
bounded per process; 503 with Retry-After when none frees up in time), (4) body size while reading
(413), (5) decoding and splitting (400/413/415; the decoded size and the record count are capped),
(6) per-record validation or parsing (rejects to the dead-letter topic, bounded per request),
(7) idempotency: events whose `event.id` is in the recent window are not appended again (409 while
another request is storing them), (8) durable append in a worker thread (503 with Retry-After when
the spool cannot take writes); only then the 200 answer with per-record results.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collectors.inputs.backpressure import LagMonitor
from collectors.inputs.delivery import Delivery
from collectors.inputs.errors import (
    AuthError,
    BusyError,
    IngestError,
    InputConfigError,
    OverloadedError,
    PayloadTooLargeError,
    StorageUnavailableError,
    ThrottledError,
)
from collectors.inputs.guard import AuthThrottle
from collectors.inputs.idempotency import RecentIds, check_key
from collectors.inputs.records import (
    IngestBatch,
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
from collectors.security import DENIED, THROTTLED, SecurityEvent, SecurityEvents
from datasoc.logging import get_logger
from datasoc.transport import TransportError

log = get_logger("collectors.http")

SecurityEventSink = Callable[[SecurityEvent], None]
SUBJECT = "collector:http-ingest"


@dataclass(frozen=True, slots=True)
class HttpIngestConfig:
    """Limits of the HTTP input (settings section `[collect]`)."""

    max_body_bytes: int = 16 * 1024 * 1024
    #: Decompressed size cap: the body limit, so gzip buys bandwidth, never a bigger request.
    max_decoded_bytes: int = 16 * 1024 * 1024
    max_record_bytes: int = 1024 * 1024
    #: Largest stored event; keep it at most the spool's `max_record_bytes`.
    max_event_bytes: int = 1024 * 1024
    max_errors: int = 20
    #: NDJSON lines (or array elements) in one request, each costing CPU even when rejected: past it, 413.
    max_records: int = 200_000
    #: Rejects kept whole as dead letters per request (count and raw bytes); the rest are summarised.
    dead_letter_records: int = 100
    dead_letter_bytes: int = 1024 * 1024
    #: Requests reading and processing bodies at once; others wait up to `slot_wait_seconds`.
    concurrency: int = 8
    slot_wait_seconds: float = 5.0
    #: Retry-After of a 503 answered because the spool cannot take writes.
    storage_retry_after: int = 5
    collector: str = "http"

    def __post_init__(self) -> None:
        if (
            min(
                self.max_body_bytes,
                self.max_decoded_bytes,
                self.max_record_bytes,
                self.max_event_bytes,
                self.max_errors,
                self.max_records,
                self.dead_letter_records,
                self.dead_letter_bytes,
                self.concurrency,
                self.storage_retry_after,
            )
            < 1
            or self.slot_wait_seconds <= 0
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
        throttle: AuthThrottle | None = None,
        recent: RecentIds | None = None,
    ) -> None:
        self.tokens = tokens
        self.delivery = delivery
        self.parsers = dict(parsers or {})
        self.lag = lag
        self.config = config or HttpIngestConfig()
        # Without a sink of its own the events are still logged (rate-limited) by a local queue.
        self.on_security_event = on_security_event or SecurityEvents().push
        self.throttle = throttle
        self.recent = recent
        self.denied = 0
        self.busy = 0
        self._slots: asyncio.Semaphore | None = None
        # A fixed token set is checked here; tokens that change while running are checked when made.
        declared = tokens.grants.values() if isinstance(tokens, TokenStore) else ()
        for grant in declared:
            if grant.parser is not None and grant.parser not in self.parsers:
                raise InputConfigError(
                    f"tokens[{grant.source}]",
                    f"names unknown parser {grant.parser!r}; known: {sorted(self.parsers)}",
                )

    def authenticate(
        self, authorization: str | None, *, peer: str, now: datetime, tokens: TokenAuthority | None = None
    ) -> TokenGrant:
        """The grant of the request's token, else `ThrottledError` (the peer failed too often:
        its token is not even checked) or `AuthError`; either pushes a security event. `tokens`
        checks another token set (the scrape token) under the same throttle and security events."""
        if self.throttle is not None:
            retry_after = self.throttle.retry_after(peer, now)
            if retry_after is not None:
                reason = "too many failed authentications from this peer"
                self._security(THROTTLED, peer, reason, now)
                raise ThrottledError(reason, retry_after=retry_after)
        try:
            return (tokens or self.tokens).authenticate(authorization, now)
        except AuthError as exc:
            self.denied += 1
            if self.throttle is not None:
                self.throttle.failed(peer, now)
            self._security(DENIED, peer, exc.reason, now)
            raise

    def _security(self, kind: str, peer: str, reason: str, now: datetime) -> None:
        event = SecurityEvent.create(kind=kind, peer=peer, subject=SUBJECT, reason=reason, at=now)
        self.on_security_event(event)

    def admit(self, now: datetime) -> None:
        """Raise `OverloadedError` when the transport lags past its limit."""
        if self.lag is not None and self.lag.overloaded(now):
            self.lag.rejections += 1
            raise OverloadedError(
                f"transport lags {self.lag.lag(now)} events behind (limit {self.lag.config.limit})",
                retry_after=self.lag.config.retry_after_seconds,
                lag=self.lag.lag(now),
            )

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the `concurrency` ingest slots; `BusyError` if none frees up in time."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.config.concurrency)
        try:
            await asyncio.wait_for(self._slots.acquire(), self.config.slot_wait_seconds)
        except TimeoutError:
            self.busy += 1
            raise BusyError(
                f"all {self.config.concurrency} ingest slots stayed busy for "
                f"{self.config.slot_wait_seconds:g} s"
            ) from None
        try:
            yield
        finally:
            self._slots.release()

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
        cfg = self.config
        rules = RecordRules(
            source=grant.source,
            collector=f"{cfg.collector}:{grant.source}",
            parser=self.parsers[grant.parser] if grant.parser else None,
            max_record_bytes=cfg.max_record_bytes,
            max_event_bytes=cfg.max_event_bytes,
            max_errors=cfg.max_errors,
            stage="parse" if grant.parser else "validate",
            dead_letter_records=cfg.dead_letter_records,
            dead_letter_bytes=cfg.dead_letter_bytes,
            idempotency_key=idempotency_key,
        )
        if idempotency_key is not None:
            try:
                check_key(idempotency_key)  # ids derive from (source, key, line): RecordRules.id_for
            except ValueError as exc:
                raise IngestError(str(exc)) from None
        try:
            decoded = decode_body(body, content_encoding, max_decoded=cfg.max_decoded_bytes)
            kind = body_kind(content_type, decoded)
            multiline = grant.parser in MULTILINE_CSV
            records = split_records(decoded, kind, max_records=cfg.max_records, multiline=multiline)
            batch = build_batch(records, rules, now=now, new_id=new_id)
        except PayloadTooLargeError:
            raise
        except IngestError as exc:
            # The body failed as a whole; it is still kept (as one dead letter) with the reason.
            rejected = reject_all([RawRecord(None, body)], rules, exc.reason, now=now)
            self._deliver(rejected, grant.source, now, len(body))
            raise
        recent = self.recent
        claim = recent.claim(batch.ids) if recent is not None and batch.ids else None
        if claim is not None and claim.duplicates:
            batch.events = [batch.events[i] for i in claim.fresh]
            batch.ids = [batch.ids[i] for i in claim.fresh]
        try:
            self._deliver(batch, grant.source, now, len(body))
        except StorageUnavailableError:
            if recent is not None and claim is not None:
                recent.release(claim)
            raise
        if recent is not None and claim is not None:
            recent.commit(claim)
        duplicates = claim.duplicates if claim is not None else 0
        return IngestAnswer(
            200,
            {
                "source": grant.source,
                "accepted": batch.accepted + duplicates,
                "duplicates": duplicates,
                "rejected": batch.rejected,
                "errors": [error.to_dict() for error in batch.errors],
            },
        )

    def _deliver(self, batch: IngestBatch, source: str, now: datetime, size: int) -> None:
        try:
            self.delivery.deliver(batch, source=source, now=now, bytes_=size)
        except TransportError as exc:
            raise StorageUnavailableError(
                f"the spool cannot take writes ({type(exc).__name__}); nothing of this request was "
                "acknowledged",
                retry_after=self.config.storage_retry_after,
            ) from None
