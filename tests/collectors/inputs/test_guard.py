"""Connection caps at accept on real loopback sockets, and the per-peer authentication throttle."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta

import pytest

from collectors.inputs.errors import InputConfigError
from collectors.inputs.guard import (
    AuthThrottle,
    ConnectionGuard,
    ConnectionLimits,
    ThrottleConfig,
    bind_guarded,
)

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def connect(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    sock.settimeout(0.5)
    return sock


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_caps_refuse_at_accept_and_free_slots_on_close() -> None:
    guard = ConnectionGuard(ConnectionLimits(max_connections=6, max_per_peer=3), name="test")
    refused: list[tuple[str, str]] = []
    held: list[socket.socket] = []

    async def scenario() -> list[bool]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # hold the connection until the client closes
            writer.close()

        sock = bind_guarded("127.0.0.1", 0, guard, on_refused=lambda p, w: refused.append((p, w)))
        server = await asyncio.start_server(handle, sock=sock)
        port = sock.getsockname()[1]
        clients = [await asyncio.to_thread(connect, port) for _ in range(5)]  # 3 admitted, 2 refused
        clients += [await asyncio.to_thread(connect, port, "127.0.0.2") for _ in range(3)]
        clients += [await asyncio.to_thread(connect, port, "127.0.0.3")]  # the listener is full
        await asyncio.sleep(0.2)
        outcome = [await asyncio.to_thread(closed_by_server, c) for c in clients]
        assert guard.open == 6
        for client in clients:
            client.close()
        for _ in range(100):
            if guard.open == 0:
                break
            await asyncio.sleep(0.02)
        assert guard.open == 0  # slots come back when the transports close
        held.append(await asyncio.to_thread(connect, port, "127.0.0.3"))
        await asyncio.sleep(0.1)
        assert guard.open == 1
        held[0].close()
        server.close()
        return outcome

    for client in held:
        client.close()
    outcome = asyncio.run(scenario())
    assert outcome == [False, False, False, True, True, False, False, False, True]
    assert (guard.stats.refused_peer_full, guard.stats.refused_listener_full) == (2, 1)
    assert [peer for peer, _ in refused] == ["127.0.0.1", "127.0.0.1", "127.0.0.3"]


def test_limits_are_validated() -> None:
    with pytest.raises(InputConfigError):
        ConnectionLimits(max_connections=10, max_per_peer=11)


def test_throttle_blocks_a_peer_after_repeated_failures_until_the_block_ends() -> None:
    throttle = AuthThrottle(
        ThrottleConfig(max_failures=3, window=timedelta(seconds=60), block=timedelta(seconds=30))
    )
    for i in range(3):
        assert throttle.retry_after("10.0.0.1", T0 + timedelta(seconds=i)) is None
        throttle.failed("10.0.0.1", T0 + timedelta(seconds=i))
    assert throttle.retry_after("10.0.0.1", T0 + timedelta(seconds=3)) == 29
    assert throttle.retry_after("10.0.0.2", T0 + timedelta(seconds=3)) is None  # another peer
    assert throttle.retry_after("10.0.0.1", T0 + timedelta(seconds=32)) is None


def test_throttle_forgets_failures_outside_the_window_and_bounds_its_peers() -> None:
    throttle = AuthThrottle(ThrottleConfig(max_failures=2, window=timedelta(seconds=10), max_peers=50))
    throttle.failed("10.0.0.1", T0)
    throttle.failed("10.0.0.1", T0 + timedelta(seconds=11))  # the first one is out of the window
    assert throttle.retry_after("10.0.0.1", T0 + timedelta(seconds=12)) is None
    for i in range(1000):
        throttle.failed(f"10.1.{i // 256}.{i % 256}", T0)
    assert len(throttle._peers) == 50
