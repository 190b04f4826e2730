"""uvicorn's h11 protocol with the deadlines it lacks: request headers, request body, error close.

uvicorn has a keep-alive timeout (idle between requests) and h11 a header size cap
(`h11_max_incomplete_event_size`), but nothing bounds how long a client may take to *send* a
request: 1,000 slowloris connections (a header byte every few seconds) and 1,000 slow bodies were
all still open after 45 s. An ASGI middleware cannot help, as it runs only once the headers are
complete. So this subclass of `H11Protocol` follows h11's view of the peer (`their_state`):

- from connection (or from the end of the previous response) the request's headers must be
  complete within `header_timeout`;
- from then on its body must be complete within `body_timeout`;
- on expiry it answers 408 (problem details) if nothing was answered yet, and closes.

Errors h11 finds in a request (bad syntax; headers past the size cap, which h11 hints as 431)
are answered with their own status, 431 for a 1 MB `Authorization` header instead of a reset, and
the connection is closed *lingering*: its write side is shut, what the client still sends is read
and dropped for up to `linger` seconds, so the client reads the answer rather than a TCP reset
caused by unread data at close.
"""

from __future__ import annotations

import asyncio
import http
from dataclasses import dataclass
from typing import Any, ClassVar

import h11
import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol

from collectors.ratelog import RateLimitedLog
from datasoc.logging import get_logger

log = get_logger("api.protocol")


@dataclass(frozen=True, slots=True)
class HttpDeadlines:
    """How long a client may take to send a request's headers and body, and to go away after an error."""

    header_timeout: float = 10.0
    body_timeout: float = 60.0
    linger: float = 2.0

    def __post_init__(self) -> None:
        if min(self.header_timeout, self.body_timeout, self.linger) <= 0:
            raise ValueError("HTTP deadlines must be positive")


@dataclass
class ProtocolStats:
    """Requests cut off by a deadline or refused by h11, since start."""

    header_timeouts: int = 0
    body_timeouts: int = 0
    protocol_errors: int = 0


def problem(status: int, detail: str, *, headers: dict[str, str] | None = None) -> bytes:
    """A complete HTTP/1.1 response with an RFC 9457 problem-details body, closing the connection."""
    title = http.HTTPStatus(status).phrase
    body = orjson.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    head = [f"HTTP/1.1 {status} {title}", "content-type: application/problem+json", "connection: close"]
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    head.append(f"content-length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


class DeadlineH11Protocol(H11Protocol):
    """`H11Protocol` with request deadlines and lingering error closes (module docstring).

    Configure a subclass with `with_deadlines`; uvicorn builds one instance per connection.
    """

    deadlines: ClassVar[HttpDeadlines] = HttpDeadlines()
    stats: ClassVar[ProtocolStats] = ProtocolStats()
    ratelog: ClassVar[RateLimitedLog] = RateLimitedLog(log)

    @classmethod
    def with_deadlines(cls, deadlines: HttpDeadlines) -> tuple[type[DeadlineH11Protocol], ProtocolStats]:
        """A protocol class bound to `deadlines` with its own counters."""
        stats = ProtocolStats()
        bound = type(
            "BoundDeadlineH11Protocol",
            (cls,),
            {"deadlines": deadlines, "stats": stats, "ratelog": RateLimitedLog(log)},
        )
        return bound, stats

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._phase = "header"
        self._received = False
        self._lingering = False
        self._protocol_error: h11.RemoteProtocolError | None = None
        self._wrap_next_event()

    def _wrap_next_event(self) -> None:
        # uvicorn catches h11's RemoteProtocolError and answers a plain 400; the error's status
        # hint (431 for headers past the cap) is kept here for `send_400_response`.
        next_event = self.conn.next_event

        def recording() -> Any:
            try:
                return next_event()
            except h11.RemoteProtocolError as exc:
                self._protocol_error = exc
                raise

        self.conn.next_event = recording  # type: ignore[method-assign]

    # -- deadlines ---------------------------------------------------------------------------

    def _arm(self, phase: str, seconds: float) -> None:
        self._disarm()
        self._phase = phase
        self._received = phase == "body"  # a body is due only once a request has started
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _follow(self) -> None:
        state = self.conn.their_state
        if state is h11.SEND_BODY and self._phase == "header":
            self._arm("body", self.deadlines.body_timeout)
        elif state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED) and self._phase in ("header", "body"):
            self._disarm()
            self._phase = "app"

    def _expired(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._phase == "body":
            self.stats.body_timeouts += 1
            detail = f"request body not received within {self.deadlines.body_timeout:g} s"
        else:
            self.stats.header_timeouts += 1
            detail = f"request headers not received within {self.deadlines.header_timeout:g} s"
        peer = self.client[0] if self.client else "unknown"
        self.ratelog.warning("http_request_timeout", key=peer, peer=peer, phase=self._phase)
        answered = self.cycle is not None and self.cycle.response_started
        if self._received and not answered:
            self.transport.write(problem(408, detail))
        self.transport.close()

    # -- uvicorn hooks -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Accepted: the request's headers are due within `header_timeout`."""
        super().connection_made(transport)
        self._arm("header", self.deadlines.header_timeout)

    def data_received(self, data: bytes) -> None:
        """Feed h11 (or drop the bytes while lingering), then follow the request's progress."""
        if self._lingering:
            return
        self._received = True
        super().data_received(data)
        if not self._lingering:
            self._follow()

    def eof_received(self) -> None:
        """The client finished sending; a lingering close ends now."""
        if self._lingering:
            self.transport.close()

    def on_response_complete(self) -> None:
        """Answered: the next request's headers are due within `header_timeout` (the keep-alive
        timeout, shorter, closes a connection that sends nothing at all)."""
        super().on_response_complete()
        if not self.transport.is_closing() and self._phase == "app":
            self._arm("header", self.deadlines.header_timeout)
            self._follow()

    def connection_lost(self, exc: Exception | None) -> None:
        """Closed: no deadline is left behind."""
        self._disarm()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """h11 refused the request: answer its status hint (400, 431, ...) and close lingering."""
        error = self._protocol_error
        status = error.error_status_hint if error is not None else 400
        self.stats.protocol_errors += 1
        peer = self.client[0] if self.client else "unknown"
        self.ratelog.warning("http_protocol_error", key=peer, peer=peer, status=status)
        detail = (
            "request headers are larger than this server accepts"
            if status == 431
            else f"invalid HTTP request: {str(error or msg)[:200]}"
        )
        self._disarm()
        self.transport.write(problem(status, detail))
        self._linger()

    def _linger(self) -> None:
        self._lingering = True
        try:
            self.transport.write_eof()
        except (NotImplementedError, OSError, RuntimeError):
            self.transport.close()
            return
        self._deadline = self.loop.call_later(self.deadlines.linger, self.transport.close)
