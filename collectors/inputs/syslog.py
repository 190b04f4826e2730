"""Syslog inputs on asyncio: UDP (RFC 5426), TCP (RFC 6587) and TLS (RFC 5425).

Every message goes through its sender's parser (`sourcemap`: by TLS client certificate, else by
peer address or network; by default `linux_syslog`, which reads RFC 3164 and RFC 5424 headers,
BOM and UTF-8 text); rejects go to the dead-letter topic. Memory stays bounded: a TCP or TLS
connection delivers what it read (durably) before reading more and stops reading its socket while
the transport lags past its limit, so the sender's window closes; UDP cannot push back, so
datagrams beyond a bounded queue are dropped and counted, as are the kernel's own drops for the
socket (`/proc/net/udp`).

Hostile or broken senders: TCP and TLS listeners are `GuardedSocket`s (a connection cap per
listener and per peer, refused at accept); a TLS handshake must finish within
`tls_handshake_timeout`; a frame once started must be complete within `frame_timeout` (a sender
that opens a frame and stalls, 2,000 of which used to stay open for ever, is cut off and the piece
dead-lettered as truncated); a connection silent for `idle_timeout` is closed. When the spool
cannot take writes, a connection keeps the frames it read, stops reading and retries every
`storage_retry_seconds`; nothing read is dropped while the process lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from collectors.inputs.backpressure import LagMonitor
from collectors.inputs.delivery import Delivery
from collectors.inputs.envelope import syslog_message
from collectors.inputs.errors import InputConfigError
from collectors.inputs.framing import Frame, FrameDecoder
from collectors.inputs.guard import ConnectionGuard, ConnectionLimits, bind_guarded
from collectors.inputs.records import IngestBatch, RawRecord, RecordRules, build_batch
from collectors.inputs.sourcemap import DEFAULT_PARSER, SourceMap, SourceRoute, certificate_identities
from collectors.parsers.base import Parser
from collectors.ratelog import RateLimitedLog
from collectors.security import DENIED, SecurityEvent, SecurityEvents
from datasoc.logging import get_logger
from datasoc.transport import TransportError

log = get_logger("collectors.syslog")
SecurityEventSink = Callable[[SecurityEvent], None]
SUBJECT_TLS = "collector:syslog-tls"


@dataclass(frozen=True)
class SyslogConfig:
    """Listeners and limits of the syslog input (settings section `[collect.syslog]`).

    A port of None switches that listener off; 0 binds an ephemeral port (tests).
    """

    host: str = "127.0.0.1"
    udp_port: int | None = None
    tcp_port: int | None = None
    tls_port: int | None = None
    max_frame: int = 64 * 1024
    udp_queue: int = 20_000
    routes: SourceMap = field(default_factory=SourceMap)
    require_client_cert: bool = False
    collector: str = "syslog"
    #: Per listener (TCP and TLS each): connections open at once, in all and per peer.
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    tls_handshake_timeout: float = 10.0
    frame_timeout: float = 30.0
    idle_timeout: float = 600.0
    storage_retry_seconds: float = 5.0

    def __post_init__(self) -> None:
        if (
            min(self.tls_handshake_timeout, self.frame_timeout, self.idle_timeout, self.storage_retry_seconds)
            <= 0
        ):
            raise InputConfigError("collect.limits", "syslog timeouts must be positive")


@dataclass
class SyslogStats:
    """Counters of the syslog listeners (exposed as Prometheus metrics)."""

    udp_datagrams: int = 0
    udp_overload_drops: int = 0
    tcp_connections: int = 0
    tcp_read_pauses: int = 0
    frames_rejected: int = 0
    tls_denied: int = 0
    frame_timeouts: int = 0
    idle_timeouts: int = 0
    storage_retries: int = 0


def server_tls_context(
    certfile: Path, keyfile: Path, *, client_ca: Path | None = None, require_client_cert: bool = False
) -> ssl.SSLContext:
    """TLS 1.2+ server context; with `client_ca`, client certificates are verified (RFC 5425 §5)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    if client_ca is not None:
        context.load_verify_locations(cafile=str(client_ca))
        context.verify_mode = ssl.CERT_REQUIRED if require_client_cert else ssl.CERT_OPTIONAL
    return context


def udp_kernel_drops(proc_net_udp: str, inode: int) -> int | None:
    """The `drops` column of the socket with `inode` in /proc/net/udp(6) text, if listed."""
    for line in proc_net_udp.splitlines()[1:]:
        columns = line.split()
        if len(columns) >= 13 and columns[9] == str(inode):
            return int(columns[12])
    return None


class SyslogInput:
    """UDP, TCP and TLS syslog listeners sharing one parser, delivery and lag monitor."""

    def __init__(
        self,
        config: SyslogConfig,
        *,
        parsers: Mapping[str, Parser],
        delivery: Delivery,
        clock: Callable[[], datetime],
        new_id: Callable[[], str],
        lag: LagMonitor | None = None,
        tls: ssl.SSLContext | None = None,
        on_security_event: SecurityEventSink | None = None,
    ) -> None:
        self.config = config
        self.parsers = dict(parsers)
        for route in config.routes.routes():
            if route.parser not in self.parsers:
                raise InputConfigError(
                    f"collect.syslog_source[{route.source}].parser",
                    f"unknown parser {route.parser!r}; known: {sorted(self.parsers)}",
                )
        self.delivery = delivery
        self.clock = clock
        self.new_id = new_id
        self.lag = lag
        self.tls = tls
        self.on_security_event = on_security_event or SecurityEvents().push
        self.stats = SyslogStats()
        self.guards: dict[str, ConnectionGuard] = {}
        self._log = RateLimitedLog(log, interval=10.0)
        self._rules: dict[SourceRoute, RecordRules] = {}
        self._closing = False
        self.addresses: dict[str, tuple[str, int]] = {}
        self._servers: list[asyncio.Server] = []
        self._udp: asyncio.DatagramTransport | None = None
        self._udp_queue: list[tuple[str, int, bytes]] = []
        self._udp_ready = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the configured listeners; their bound addresses go to `addresses`."""
        loop = asyncio.get_running_loop()
        cfg = self.config
        if cfg.udp_port is not None:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(cfg.host, cfg.udp_port)
            )
            self._udp = transport
            self.addresses["udp"] = transport.get_extra_info("sockname")[:2]
            self._spawn(self._udp_flusher())
        if cfg.tls_port is not None and self.tls is None:
            raise InputConfigError("collect.syslog.tls_port", "is set but no TLS certificate was configured")
        for name, port in (("tcp", cfg.tcp_port), ("tls", cfg.tls_port)):
            if port is None:
                continue
            guard = self.guards[name] = ConnectionGuard(cfg.limits, name=f"syslog-{name}")
            sock = bind_guarded(cfg.host, port, guard, on_refused=self._refused)
            server = await asyncio.start_server(
                self._connection,
                sock=sock,
                limit=cfg.max_frame,
                ssl=self.tls if name == "tls" else None,
                ssl_handshake_timeout=cfg.tls_handshake_timeout if name == "tls" else None,
            )
            self._servers.append(server)
            self.addresses[name] = sock.getsockname()[:2]

    async def close(self) -> None:
        """Stop listening, deliver what UDP queued, and wait for the tasks."""
        self._closing = True
        for server in self._servers:
            server.close()
        if self._udp is not None:
            self._udp.close()
        self._udp_ready.set()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._udp_queue:
            await self._deliver_udp()

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def kernel_drops(self) -> int | None:
        """Datagrams the kernel dropped on the UDP socket (Linux only; None where unknown)."""
        if self._udp is None:
            return None
        sock: socket.socket = self._udp.get_extra_info("socket")
        try:
            inode = Path(f"/proc/self/fd/{sock.fileno()}").readlink().name.removeprefix("socket:[")[:-1]
            for table in ("/proc/net/udp", "/proc/net/udp6"):
                drops = udp_kernel_drops(Path(table).read_text(), int(inode))
                if drops is not None:
                    return drops
        except (OSError, ValueError):
            return None
        return None

    # -- processing ---------------------------------------------------------------------------

    def _refused(self, peer: str, why: str) -> None:
        self._log.warning("syslog_connection_refused", key=peer, peer=peer, reason=why)

    def _rules_for(self, route: SourceRoute) -> RecordRules:
        rules = self._rules.get(route)
        if rules is None:
            rules = self._rules[route] = RecordRules(
                source=route.source,
                collector=f"{self.config.collector}:{route.source}",
                parser=self.parsers[route.parser],
                max_record_bytes=self.config.max_frame,
                stage="parse",
            )
        return rules

    def _batch(self, frames: list[tuple[int, Frame]], route: SourceRoute, now: datetime) -> IngestBatch:
        if route.parser == DEFAULT_PARSER:
            records = [RawRecord(pos, frame.raw, error=frame.error) for pos, frame in frames]
        else:
            # Another format inside a syslog envelope: the parser reads the message; the dead
            # letter of a reject keeps the whole frame.
            records = [RawRecord(pos, frame.raw, _message(frame.raw), frame.error) for pos, frame in frames]
        batch = build_batch(records, self._rules_for(route), now=now, new_id=self.new_id)
        self.stats.frames_rejected += batch.rejected
        return batch

    def _process(self, frames: list[tuple[int, Frame]], route: SourceRoute) -> None:
        # Runs in a worker thread: parsing and the fsync'd append stay off the event loop.
        now = self.clock()
        batch = self._batch(frames, route, now)
        self.delivery.deliver(batch, source=route.source, now=now, bytes_=sum(len(f.raw) for _, f in frames))

    async def _deliver(self, frames: list[tuple[int, Frame]], route: SourceRoute) -> None:
        """Deliver, retrying while the spool refuses writes (the caller reads nothing meanwhile)."""
        while True:
            try:
                await asyncio.to_thread(self._process, frames, route)
                return
            except TransportError:
                if self._closing:
                    raise
                self.stats.storage_retries += 1
                await asyncio.sleep(self.config.storage_retry_seconds)

    def _route_of(self, peer: str, writer: asyncio.StreamWriter) -> SourceRoute | None:
        ssl_object = writer.get_extra_info("ssl_object")
        if ssl_object is not None:
            der = ssl_object.getpeercert(binary_form=True)
            if der:
                identities = certificate_identities(der, ssl_object.getpeercert().get("subject"))
                route = self.config.routes.for_certificate(identities)
                if route is not None:
                    return route
            if self.config.require_client_cert:
                return None
        return self.config.routes.for_peer(peer)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = str((writer.get_extra_info("peername") or ("unknown",))[0])
        self.stats.tcp_connections += 1
        route = self._route_of(peer, writer)
        try:
            if route is None:
                self._deny(peer)
                return
            await self._read_stream(reader, writer, route, peer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, TransportError) as exc:
            self._log.warning(
                "syslog_connection_error", key=(peer, type(exc).__name__), peer=peer, error=type(exc).__name__
            )
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

    async def _read_stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, route: SourceRoute, peer: str
    ) -> None:
        cfg = self.config
        decoder = FrameDecoder(max_frame=cfg.max_frame)
        position = 0
        loop = asyncio.get_running_loop()
        frame_started: float | None = None
        while True:
            if self.lag is not None and self.lag.overloaded(self.clock()):
                # Stop reading the socket: the kernel buffer fills and TCP flow control stops the sender.
                transport = cast(asyncio.Transport, writer.transport)
                transport.pause_reading()
                self.stats.tcp_read_pauses += 1
                await self.lag.wait_clear(self.clock)
                transport.resume_reading()
            # A started frame must be finished within frame_timeout; between frames, idle_timeout.
            if decoder.pending:
                frame_started = frame_started if frame_started is not None else loop.time()
                budget = frame_started + cfg.frame_timeout - loop.time()
            else:
                frame_started = None
                budget = cfg.idle_timeout
            try:
                async with asyncio.timeout(max(budget, 0.0)):
                    data = await reader.read(cfg.max_frame)
            except TimeoutError:
                data = b""
                if decoder.pending:
                    self.stats.frame_timeouts += 1
                    why = f"frame not completed within {cfg.frame_timeout:g} s"
                else:
                    self.stats.idle_timeouts += 1
                    why = f"no data for {cfg.idle_timeout:g} s"
                self._log.warning("syslog_connection_timeout", key=peer, peer=peer, reason=why)
            frames = decoder.feed(data) if data else decoder.finish()
            if frames:
                numbered = [(position + i, frame) for i, frame in enumerate(frames, 1)]
                position += len(frames)
                await self._deliver(numbered, route)
            if not data:
                return

    def _deny(self, peer: str) -> None:
        self.stats.tls_denied += 1
        event = SecurityEvent.create(
            kind=DENIED,
            peer=peer,
            subject=SUBJECT_TLS,
            reason="client certificate not mapped to a source",
            at=self.clock(),
        )
        self.on_security_event(event)

    # -- UDP ----------------------------------------------------------------------------------

    def _datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        self.stats.udp_datagrams += 1
        if len(self._udp_queue) >= self.config.udp_queue:
            self.stats.udp_overload_drops += 1
            return
        self._udp_queue.append((addr[0], self.stats.udp_datagrams, data))
        self._udp_ready.set()

    async def _udp_flusher(self) -> None:
        while True:
            await self._udp_ready.wait()
            self._udp_ready.clear()
            await self._deliver_udp()

    async def _deliver_udp(self) -> None:
        queued, self._udp_queue = self._udp_queue, []
        by_route: dict[SourceRoute, list[tuple[int, Frame]]] = defaultdict(list)
        for peer, number, data in queued:
            route = self.config.routes.for_peer(peer)
            # RFC 5426 §3.1: one message per datagram; a trailing LF is tolerated.
            raw = data.removesuffix(b"\n").removesuffix(b"\r")
            frame = (
                Frame(raw)
                if len(raw) <= self.config.max_frame
                else Frame(
                    raw[: self.config.max_frame],
                    f"datagram of {len(raw)} bytes exceeds {self.config.max_frame}",
                )
            )
            by_route[route].append((number, frame))
        for route, frames in by_route.items():
            await self._deliver(frames, route)


def _message(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw  # the parser names the bad UTF-8 itself
    return syslog_message(text)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: SyslogInput) -> None:
        self._owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._owner._datagram(data, addr)
