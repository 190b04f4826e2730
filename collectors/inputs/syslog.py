"""Syslog inputs on asyncio: UDP (RFC 5426), TCP (RFC 6587) and TLS (RFC 5425).

Every message goes through the source's parser (by default `linux_syslog`, which reads RFC 3164
and RFC 5424 headers, BOM and UTF-8 text); rejects go to the dead-letter topic. Memory stays
bounded: a TCP or TLS connection delivers what it read (durably) before reading more and stops
reading its socket while the transport lags past its limit, so the sender's window closes; UDP
cannot push back, so datagrams beyond a bounded queue are dropped and counted, as are the
kernel's own drops for the socket (`/proc/net/udp`).

Sources: a TLS client certificate mapped by `sha256:<hex>` fingerprint or `CN=<name>` subject
wins, then the peer address (`peer_sources`), then `default_source`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
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
from collectors.inputs.errors import InputConfigError
from collectors.inputs.framing import Frame, FrameDecoder
from collectors.inputs.http import SecurityEventSink
from collectors.inputs.records import IngestBatch, RawRecord, RecordRules, build_batch, reject_record
from collectors.parsers.base import Parser
from datasoc.event import format_timestamp
from datasoc.logging import get_logger

log = get_logger("collectors.syslog")


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
    default_source: str = "syslog"
    peer_sources: Mapping[str, str] = field(default_factory=dict)
    cert_sources: Mapping[str, str] = field(default_factory=dict)
    require_client_cert: bool = False
    collector: str = "syslog"


@dataclass
class SyslogStats:
    """Counters of the syslog listeners (exposed as Prometheus metrics)."""

    udp_datagrams: int = 0
    udp_overload_drops: int = 0
    tcp_connections: int = 0
    tcp_read_pauses: int = 0
    frames_rejected: int = 0
    tls_denied: int = 0


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


def cert_identities(der: bytes, subject: Any) -> list[str]:
    """Keys a client certificate may be mapped by: its SHA-256 fingerprint and subject CN."""
    keys = ["sha256:" + hashlib.sha256(der).hexdigest()]
    for rdn in subject or ():
        for name, value in rdn:
            if name == "commonName":
                keys.append(f"CN={value}")
    return keys


class SyslogInput:
    """UDP, TCP and TLS syslog listeners sharing one parser, delivery and lag monitor."""

    def __init__(
        self,
        config: SyslogConfig,
        *,
        parser: Parser,
        delivery: Delivery,
        clock: Callable[[], datetime],
        new_id: Callable[[], str],
        lag: LagMonitor | None = None,
        tls: ssl.SSLContext | None = None,
        on_security_event: SecurityEventSink | None = None,
    ) -> None:
        self.config = config
        self.parser = parser
        self.delivery = delivery
        self.clock = clock
        self.new_id = new_id
        self.lag = lag
        self.tls = tls
        self.on_security_event = on_security_event
        self.stats = SyslogStats()
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
        if cfg.tcp_port is not None:
            server = await asyncio.start_server(self._connection, cfg.host, cfg.tcp_port, limit=cfg.max_frame)
            self._servers.append(server)
            self.addresses["tcp"] = server.sockets[0].getsockname()[:2]
        if cfg.tls_port is not None:
            if self.tls is None:
                raise InputConfigError(
                    "collect.syslog.tls_port", "is set but no TLS certificate was configured"
                )
            server = await asyncio.start_server(
                self._connection, cfg.host, cfg.tls_port, ssl=self.tls, limit=cfg.max_frame
            )
            self._servers.append(server)
            self.addresses["tls"] = server.sockets[0].getsockname()[:2]

    async def close(self) -> None:
        """Stop listening, deliver what UDP queued, and wait for the tasks."""
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

    def _rules(self, source: str) -> RecordRules:
        return RecordRules(
            source=source,
            collector=f"{self.config.collector}:{source}",
            parser=self.parser,
            max_record_bytes=self.config.max_frame,
            stage="parse",
        )

    def _batch(self, frames: list[tuple[int, Frame]], source: str, now: datetime) -> IngestBatch:
        rules = self._rules(source)
        good = [RawRecord(pos, frame.raw) for pos, frame in frames if frame.error is None]
        batch = build_batch(good, rules, now=now, new_id=self.new_id)
        for pos, frame in frames:
            if frame.error is not None:
                reject_record(batch, rules, RawRecord(pos, frame.raw), frame.error, now=now)
        self.stats.frames_rejected += batch.rejected
        return batch

    def _process(self, frames: list[tuple[int, Frame]], source: str) -> None:
        # Runs in a worker thread: parsing and the fsync'd append stay off the event loop.
        now = self.clock()
        batch = self._batch(frames, source, now)
        self.delivery.deliver(batch, source=source, now=now, bytes_=sum(len(f.raw) for _, f in frames))

    def _source_of(self, peer: str, writer: asyncio.StreamWriter) -> str | None:
        ssl_object = writer.get_extra_info("ssl_object")
        if ssl_object is not None:
            der = ssl_object.getpeercert(binary_form=True)
            if der:
                for key in cert_identities(der, ssl_object.getpeercert().get("subject")):
                    if key in self.config.cert_sources:
                        return self.config.cert_sources[key]
            if self.config.require_client_cert:
                return None
        return self.config.peer_sources.get(peer, self.config.default_source)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = str((writer.get_extra_info("peername") or ("unknown",))[0])
        self.stats.tcp_connections += 1
        source = self._source_of(peer, writer)
        try:
            if source is None:
                self._deny(peer)
                return
            await self._read_stream(reader, writer, source)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
            log.info("syslog_connection_error", peer=peer, error=type(exc).__name__)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                await writer.wait_closed()

    async def _read_stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, source: str
    ) -> None:
        decoder = FrameDecoder(max_frame=self.config.max_frame)
        position = 0
        while True:
            if self.lag is not None and self.lag.overloaded(self.clock()):
                # Stop reading the socket: the kernel buffer fills and TCP flow control stops the sender.
                transport = cast(asyncio.Transport, writer.transport)
                transport.pause_reading()
                self.stats.tcp_read_pauses += 1
                await self.lag.wait_clear(self.clock)
                transport.resume_reading()
            data = await reader.read(self.config.max_frame)
            frames = decoder.feed(data) if data else decoder.finish()
            if frames:
                numbered = [(position + i, frame) for i, frame in enumerate(frames, 1)]
                position += len(frames)
                await asyncio.to_thread(self._process, numbered, source)
            if not data:
                return

    def _deny(self, peer: str) -> None:
        self.stats.tls_denied += 1
        log.warning("syslog_tls_client_denied", peer=peer, reason="client certificate not mapped to a source")
        if self.on_security_event is not None:
            self.on_security_event(
                {
                    "kind": "login.denied",
                    "ts": format_timestamp(self.clock()),
                    "actor": f"peer:{peer}",
                    "subject": "collector:syslog-tls",
                    "payload": {"reason": "client certificate not mapped to a source"},
                }
            )

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
        by_source: dict[str, list[tuple[int, Frame]]] = defaultdict(list)
        for peer, number, data in queued:
            source = self.config.peer_sources.get(peer, self.config.default_source)
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
            by_source[source].append((number, frame))
        for source, frames in by_source.items():
            await asyncio.to_thread(self._process, frames, source)


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: SyslogInput) -> None:
        self._owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._owner._datagram(data, addr)
