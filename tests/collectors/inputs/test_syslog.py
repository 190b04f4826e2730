"""Syslog listeners on loopback: UDP, TCP (RFC 6587), TLS with client certificates, back-pressure."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import ssl
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from collectors.health import HealthTracker
from collectors.inputs.backpressure import BackPressureConfig, LagMonitor
from collectors.inputs.delivery import Delivery, SharedHealth
from collectors.inputs.errors import InputConfigError
from collectors.inputs.guard import ConnectionLimits
from collectors.inputs.sourcemap import SourceMap, SourceRule
from collectors.inputs.syslog import SyslogConfig, SyslogInput, server_tls_context, udp_kernel_drops
from collectors.parsers import AuditdParser, LinuxSyslogParser
from collectors.security import SecurityEvent
from datasoc.transport import DEADLETTER, EVENTS, Spool
from tests.collectors.inputs.certs import make_pki
from tests.collectors.inputs.conftest import read_topic

RFC5424 = (
    "<38>1 2026-11-28T10:00:00+08:00 web01 sshd 4242 - - "
    "\ufeffAccepted password for 王五 from 10.1.2.3 port 50000 ssh2"
)
RFC3164 = (
    "<86>Nov 28 10:00:01 web01 sudo[77]:   admin : TTY=pts/0 ; PWD=/root ; USER=root ; "
    "COMMAND=/usr/sbin/auditctl -e 0"
)


def clock() -> datetime:
    return datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def make_input(spool: Spool, config: SyslogConfig, **kwargs: Any) -> tuple[SyslogInput, HealthTracker]:
    tracker = HealthTracker()
    counter = itertools.count(1)
    syslog = SyslogInput(
        config,
        parsers={
            "linux_syslog": LinuxSyslogParser(collector="syslog"),
            "auditd": AuditdParser(collector="syslog"),
        },
        delivery=Delivery(spool, health=SharedHealth(tracker)),
        clock=clock,
        new_id=lambda: f"id-{next(counter)}",
        **kwargs,
    )
    return syslog, tracker


async def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


def run(coro: Awaitable[None]) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout=60))


def test_udp_messages_are_parsed_and_bad_ones_dead_lettered(spool: Spool) -> None:
    async def scenario() -> None:
        syslog, tracker = make_input(
            spool,
            SyslogConfig(
                udp_port=0, routes=SourceMap([SourceRule.from_parts(source="web01", peer=["127.0.0.1"])])
            ),
        )
        await syslog.start()
        try:
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for message in (RFC5424.encode(), RFC3164.encode() + b"\n", b"\xff\xfe not syslog"):
                sender.sendto(message, tuple(syslog.addresses["udp"]))
            sender.close()
            await wait_for(lambda: spool.range(EVENTS).end == 2 and spool.range(DEADLETTER).end == 1)
            assert isinstance(syslog.kernel_drops(), int)
        finally:
            await syslog.close()
        events = read_topic(spool, EVENTS)
        assert {e["event.action"] for e in events} == {"ssh.login", "audit.disable"}
        assert {e["observer.collector"] for e in events} == {"syslog:web01"}
        assert any(e.get("user.name") == "王五" for e in events)
        (dead,) = read_topic(spool, DEADLETTER)
        assert (dead["source"], dead["stage"]) == ("web01", "parse")
        assert "UTF-8" in dead["reason"]
        (health,) = tracker.snapshot(clock())
        assert (health.name, health.accepted_total, health.rejected_total) == ("web01", 2, 1)
        assert syslog.stats.udp_datagrams == 3

    run(scenario())


def test_tcp_octet_counting_lf_framing_and_truncated_frames(spool: Spool) -> None:
    async def scenario() -> None:
        syslog, _ = make_input(spool, SyslogConfig(tcp_port=0))
        await syslog.start()
        try:
            _reader, writer = await asyncio.open_connection(*syslog.addresses["tcp"])
            counted = RFC5424.encode()
            writer.write(b"%d %s" % (len(counted), counted) + RFC3164.encode() + b"\n" + b"99 <1>cut")
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            await wait_for(lambda: spool.range(EVENTS).end == 2 and spool.range(DEADLETTER).end == 1)
        finally:
            await syslog.close()
        (dead,) = read_topic(spool, DEADLETTER)
        assert "truncated" in dead["reason"]
        assert dead["source"] == "syslog"
        assert dead["position"] == 3

    run(scenario())


def test_tcp_stops_reading_while_the_transport_lags(spool: Spool) -> None:
    spool.append(EVENTS, [b"{}"], now=clock())  # one event nobody has consumed: lag 1 > limit 0
    lag = LagMonitor(spool, BackPressureConfig(consumers=("indexer",), limit=0, refresh=clock() - clock()))

    async def scenario() -> None:
        syslog, _ = make_input(spool, SyslogConfig(tcp_port=0), lag=lag)
        await syslog.start()
        try:
            _reader, writer = await asyncio.open_connection(*syslog.addresses["tcp"])
            writer.write((RFC3164 + "\n").encode() * 5)
            await writer.drain()
            await wait_for(lambda: syslog.stats.tcp_read_pauses >= 1)
            await asyncio.sleep(0.3)
            assert spool.range(EVENTS).end == 1  # nothing read while paused
            spool.consumer("indexer", EVENTS).commit(1)
            await wait_for(lambda: spool.range(EVENTS).end == 6)
            writer.close()
            await writer.wait_closed()
        finally:
            await syslog.close()

    run(scenario())


def test_tls_maps_client_certificates_to_sources_and_denies_unknown_clients(
    spool: Spool, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path)
    denied: list[SecurityEvent] = []
    tls = server_tls_context(pki.server_cert, pki.server_key, client_ca=pki.ca, require_client_cert=False)
    routes = SourceMap([SourceRule.from_parts(source="host-a", tls_subject=[pki.client_fingerprint])])
    config = SyslogConfig(tls_port=0, routes=routes, require_client_cert=True)

    async def send(context: ssl.SSLContext, syslog: SyslogInput) -> None:
        _reader, writer = await asyncio.open_connection(*syslog.addresses["tls"], ssl=context)
        writer.write((RFC5424 + "\n").encode())
        await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await writer.wait_closed()

    async def scenario() -> None:
        syslog, _ = make_input(spool, config, tls=tls, on_security_event=denied.append)
        await syslog.start()
        try:
            with_cert = ssl.create_default_context(cafile=str(pki.ca))
            with_cert.load_cert_chain(pki.client_cert, pki.client_key)
            await send(with_cert, syslog)
            await wait_for(lambda: spool.range(EVENTS).end == 1)
            without_cert = ssl.create_default_context(cafile=str(pki.ca))
            await send(without_cert, syslog)
            await wait_for(lambda: syslog.stats.tls_denied == 1)
        finally:
            await syslog.close()
        (event,) = read_topic(spool, EVENTS)
        assert event["observer.collector"] == "syslog:host-a"
        assert denied
        assert (denied[0].kind, denied[0].subject) == ("login.denied", "collector:syslog-tls")
        assert spool.range(EVENTS).end == 1

    run(scenario())


def test_udp_kernel_drops_column_is_read_for_the_socket_inode() -> None:
    table = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode"
        " ref pointer drops\n"
        "  1: 0100007F:A4B1 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242"
        " 2 0000000000000000 17\n"
    )
    assert udp_kernel_drops(table, 4242) == 17
    assert udp_kernel_drops(table, 1) is None


def test_tls_port_without_context_is_a_configuration_error(spool: Spool) -> None:
    syslog, _ = make_input(spool, SyslogConfig(tls_port=0))
    with pytest.raises(InputConfigError, match="TLS"):
        run(syslog.start())


AUDIT = (
    "node=db-01 type=USER_LOGIN msg=audit(1772416500.000:470): pid=4120 uid=0 auid=4294967295 "
    'ses=4294967295 msg=\'op=login acct=E5BCA0E4B889 exe="/usr/sbin/sshd" hostname=203.0.113.9 '
    "addr=203.0.113.9 terminal=ssh res=failed'"
)


def test_an_auditd_host_mapped_by_network_is_read_by_the_auditd_parser(spool: Spool) -> None:
    # Before: every sender was source "syslog" read as linux_syslog; the audit record became
    # a `message` field. Mapped by its network, the envelope is taken off and auditd reads it.
    routes = SourceMap(
        [
            SourceRule.from_parts(source="audit-hosts", parser="auditd", cidr=["127.0.0.0/8"]),
            SourceRule.from_parts(source="other", cidr=["10.0.0.0/8"]),
        ]
    )

    async def scenario() -> None:
        syslog, _ = make_input(spool, SyslogConfig(tcp_port=0, udp_port=0, routes=routes))
        await syslog.start()
        try:
            _reader, writer = await asyncio.open_connection(*syslog.addresses["tcp"])
            writer.write(f"<86>Nov 28 10:00:01 db-01 audisp-syslog: {AUDIT}\n".encode())
            writer.write(f"<86>1 2026-11-28T10:00:01+08:00 db-01 audisp - - - {AUDIT}\n".encode())
            await writer.drain()
            writer.close()
            sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sender.sendto(
                f"<86>Nov 28 10:00:02 db-01 audisp-syslog: {AUDIT}".encode(), tuple(syslog.addresses["udp"])
            )
            sender.close()
            await wait_for(lambda: spool.range(EVENTS).end == 3)
        finally:
            await syslog.close()
        events = read_topic(spool, EVENTS)
        assert {e["event.dataset"] for e in events} == {"auditd"}
        assert {e["event.action"] for e in events} == {"auth.login"}
        assert {e["observer.collector"] for e in events} == {"syslog:audit-hosts"}
        assert all("message" not in e for e in events)

    run(scenario())


def test_a_stalled_frame_is_cut_off_and_kept_as_a_truncated_dead_letter(spool: Spool) -> None:
    # Before: 2,000 connections that opened a frame and stalled all stayed open for ever.
    config = SyslogConfig(tcp_port=0, frame_timeout=0.3, idle_timeout=30)

    async def scenario() -> None:
        syslog, _ = make_input(spool, config)
        await syslog.start()
        try:
            reader, writer = await asyncio.open_connection(*syslog.addresses["tcp"])
            writer.write(b"500 <13>1 2026-11-28T10:00:00Z web01 app - - - half a frame")
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), timeout=10) == b""  # the server hung up
            writer.close()
            await wait_for(lambda: spool.range(DEADLETTER).end == 1)
        finally:
            await syslog.close()
        (dead,) = read_topic(spool, DEADLETTER)
        assert "truncated" in dead["reason"]
        assert syslog.stats.frame_timeouts == 1

    run(scenario())


def test_an_idle_connection_is_closed_and_caps_hold_per_peer(spool: Spool) -> None:
    config = SyslogConfig(
        tcp_port=0, idle_timeout=0.3, limits=ConnectionLimits(max_connections=10, max_per_peer=2)
    )

    async def scenario() -> None:
        syslog, _ = make_input(spool, config)
        await syslog.start()
        try:
            address = syslog.addresses["tcp"]
            conns = [await asyncio.open_connection(*address) for _ in range(3)]
            third = await asyncio.wait_for(conns[2][0].read(), timeout=5)  # refused at accept
            assert third == b""
            assert await asyncio.wait_for(conns[0][0].read(), timeout=10) == b""  # idle: closed
            for _reader, writer in conns:
                writer.close()
        finally:
            await syslog.close()
        assert syslog.stats.idle_timeouts >= 1
        assert syslog.guards["tcp"].stats.refused_peer_full == 1

    run(scenario())
