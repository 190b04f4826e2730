"""Serve the API (uvicorn) on its own socket until `stop` is set (`Daemon.serve` calls `start_api`).

Before it listens, the platform audit's search index catches up with the ledger (`catch_up_index`).
The CLI's audit outbox is drained by the daemon's supervised `audit_outbox` step.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import uvicorn

from datasoc.logging import get_logger
from soc_api.identity.audit import catch_up_index
from soc_api.webapi.app import CollectorView

log = get_logger("api")


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the platform's `stop` event decides."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on exactly `host:port` (port 0: any free port)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


@dataclass
class RunningApi:
    """A started API: its address, the collector view it serves, and its serving task."""

    address: list[Any]
    view: CollectorView
    task: asyncio.Task[None]

    def expose(self, health: Any, metrics: Sequence[Any]) -> None:
        """What the collector hands over once it runs (source health, its metrics)."""
        self.view.health, self.view.metrics = health, list(metrics)

    async def stopped(self) -> None:
        """Wait for the server to finish (after `stop` was set)."""
        await self.task


async def start_api(
    platform: Any, *, stop: asyncio.Event, clock: Callable[[], datetime], new_id: Callable[[], str]
) -> RunningApi:
    """Build the API over the open platform and serve it on `api.host:api.port` until `stop`;
    returns once it listens (the port being taken raises here)."""
    from soc_api.platform import api_services
    from soc_api.webapi import create_api

    settings = platform.settings
    view = CollectorView()
    app = create_api(api_services(platform, clock=clock, new_id=new_id, collector=view))
    await asyncio.to_thread(catch_up_index, platform.state, platform.ledger)
    sock = bind(settings.api.host, settings.api.port)
    address = list(sock.getsockname()[:2])
    task = asyncio.create_task(serve_api(app, sock, stop=stop))
    return RunningApi(address, view, task)


async def serve_api(app: Any, sock: socket.socket, *, stop: asyncio.Event) -> None:
    """Serve `app` on the bound `sock` until `stop` is set."""
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=30,
        limit_concurrency=1000,
        h11_max_incomplete_event_size=64 * 1024,
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    host, port = sock.getsockname()[:2]
    log.info("api_ready", address=f"{host}:{port}")
    try:
        await asyncio.wait([serving, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        await serving
        log.info("api_stopped")
