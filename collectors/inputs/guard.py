"""Limits every listener applies before any protocol work: connection caps and auth throttling.

- `ConnectionGuard` counts open connections per listener and per peer; past either cap a new
  connection is refused at `accept()` (`GuardedSocket`), before TLS, HTTP parsing or a task
  exists for it. Idle connections therefore cannot exhaust the process's file descriptors (about
  20,000 did, which killed the background pass): at most `max_connections` are ever open per
  listener, and one peer holds at most `max_per_peer` of them, so others still get in.
- `GuardedSocket` is the listening socket that consults the guard in `accept()` and returns
  connection sockets that give their slot back when closed. asyncio (and uvicorn, which is handed
  the socket) call `accept()` and `close()` on it as on any socket, so the guard sits at the
  lowest layer that sees every connection: an ASGI middleware, a protocol or a stream handler
  would only see a connection after TLS and the first bytes.
- `AuthThrottle` is the per-peer limit on failed authentications: after `max_failures` within
  `window` a peer is refused (429 with `Retry-After`) for `block` before its token is even
  checked. Peers tracked are bounded (`max_peers`, least recently failed dropped first).

Peers are `collectors.security.peer_key` (an IPv6 host counts as its /64).
"""

from __future__ import annotations

import errno
import functools
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from collectors.inputs.errors import InputConfigError
from collectors.security import peer_key


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """Caps of one listener: connections open at once in all and per peer."""

    max_connections: int = 1000
    max_per_peer: int = 64

    def __post_init__(self) -> None:
        if self.max_connections < 1 or not 1 <= self.max_per_peer <= self.max_connections:
            raise InputConfigError(
                "collect.limits", "max_connections must be >= 1 and max_per_peer in [1, max_connections]"
            )


@dataclass
class GuardStats:
    """What a guard let in and refused."""

    accepted: int = 0
    refused_listener_full: int = 0
    refused_peer_full: int = 0


class ConnectionGuard:
    """Open connections per listener and per peer (module docstring); thread-safe."""

    def __init__(self, limits: ConnectionLimits, *, name: str) -> None:
        self.limits = limits
        self.name = name
        self.stats = GuardStats()
        self._lock = threading.Lock()
        self._open = 0
        self._per_peer: dict[str, int] = {}

    @property
    def open(self) -> int:
        """Connections open now."""
        return self._open

    def admit(self, address: str) -> str | None:
        """Take a slot for a connection from `address`; None if admitted, else why not."""
        peer = peer_key(address)
        with self._lock:
            if self._open >= self.limits.max_connections:
                self.stats.refused_listener_full += 1
                return f"listener {self.name} has {self._open} connections open (limit)"
            held = self._per_peer.get(peer, 0)
            if held >= self.limits.max_per_peer:
                self.stats.refused_peer_full += 1
                return f"peer {peer} has {held} connections open to {self.name} (limit)"
            self._open += 1
            self._per_peer[peer] = held + 1
            self.stats.accepted += 1
        return None

    def release(self, address: str) -> None:
        """Give back the slot taken by `admit`."""
        peer = peer_key(address)
        with self._lock:
            self._open -= 1
            held = self._per_peer.get(peer, 0) - 1
            if held > 0:
                self._per_peer[peer] = held
            else:
                self._per_peer.pop(peer, None)


class _GuardedConnection(socket.socket):
    """An accepted connection that gives its guard slot back once, when closed or detached."""

    _release: Callable[[], None] | None = None

    def _give_back(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()

    def close(self) -> None:
        """Close the socket and release its slot."""
        try:
            super().close()
        finally:
            self._give_back()

    def detach(self) -> int:
        """Detach the descriptor (it leaves the guard's accounting)."""
        self._give_back()
        return super().detach()


class GuardedSocket(socket.socket):
    """A listening socket whose `accept()` refuses connections past the guard's caps.

    A refused connection gets `refusal` (best effort, never blocking) and is closed at once; the
    next pending connection is tried, so one `accept()` call drains a burst of refusals.
    """

    def __init__(
        self,
        family: int,
        guard: ConnectionGuard,
        *,
        refusal: bytes = b"",
        on_refused: Callable[[str, str], None] | None = None,
    ) -> None:
        # IPPROTO_TCP named explicitly: asyncio turns Nagle off (TCP_NODELAY) only on accepted
        # sockets whose proto says TCP; with proto 0 every answer body waited ~40 ms for an ACK.
        super().__init__(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.guard = guard
        self.refusal = refusal
        self.on_refused = on_refused

    def accept(self) -> tuple[socket.socket, Any]:
        """The next admitted connection (raises `BlockingIOError` when none is pending)."""
        while True:
            fd, address = self._accept()  # type: ignore[attr-defined]
            peer = str(address[0]) if isinstance(address, tuple) else "unknown"
            why = self.guard.admit(peer)
            if why is None:
                conn = _GuardedConnection(self.family, self.type, self.proto, fileno=fd)
                conn._release = functools.partial(self.guard.release, peer)
                if socket.getdefaulttimeout() is None and self.gettimeout():
                    conn.setblocking(True)
                return conn, address
            refused = socket.socket(self.family, self.type, self.proto, fileno=fd)
            try:
                if self.refusal:
                    refused.send(self.refusal, socket.MSG_DONTWAIT)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EPIPE, errno.ECONNRESET):
                    raise
            finally:
                refused.close()
            if self.on_refused is not None:
                self.on_refused(peer, why)


def bind_guarded(
    host: str,
    port: int,
    guard: ConnectionGuard,
    *,
    refusal: bytes = b"",
    on_refused: Callable[[str, str], None] | None = None,
    backlog: int = 1024,
) -> GuardedSocket:
    """A non-blocking `GuardedSocket` bound to `host:port` (only that address) and listening."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = GuardedSocket(family, guard, refusal=refusal, on_refused=on_refused)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass(frozen=True, slots=True)
class ThrottleConfig:
    """Failed authentications a peer may make within `window` before it is blocked for `block`."""

    max_failures: int = 10
    window: timedelta = timedelta(seconds=60)
    block: timedelta = timedelta(seconds=60)
    max_peers: int = 10_000

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.max_peers < 1:
            raise InputConfigError("collect.limits.auth_failures", "must be at least 1")
        if self.window <= timedelta(0) or self.block <= timedelta(0):
            raise InputConfigError("collect.limits.auth_window_seconds", "must be positive")


@dataclass
class _Failures:
    first: datetime
    count: int = 0
    blocked_until: datetime | None = None


class AuthThrottle:
    """Per-peer failed-authentication limit (module docstring); thread-safe, time passed in."""

    def __init__(self, config: ThrottleConfig | None = None) -> None:
        self.config = config or ThrottleConfig()
        self._lock = threading.Lock()
        self._peers: OrderedDict[str, _Failures] = OrderedDict()
        self.throttled = 0

    def retry_after(self, address: str, now: datetime) -> int | None:
        """Seconds until `address` may try again, or None when it may try now."""
        peer = peer_key(address)
        with self._lock:
            state = self._peers.get(peer)
            if state is None or state.blocked_until is None:
                return None
            if now >= state.blocked_until:
                del self._peers[peer]
                return None
            self.throttled += 1
            return max(1, int((state.blocked_until - now).total_seconds() + 0.999))

    def failed(self, address: str, now: datetime) -> None:
        """Count a failed authentication; blocks the peer once it reaches `max_failures`."""
        peer = peer_key(address)
        cfg = self.config
        with self._lock:
            state = self._peers.get(peer)
            if state is None or now - state.first >= cfg.window:
                state = _Failures(now)
            state.count += 1
            if state.count >= cfg.max_failures and state.blocked_until is None:
                state.blocked_until = now + cfg.block
            self._peers[peer] = state
            self._peers.move_to_end(peer)
            while len(self._peers) > cfg.max_peers:
                self._peers.popitem(last=False)
