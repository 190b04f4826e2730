"""Serve the API (uvicorn) on its own socket until `stop` is set; drain the CLI's audit outbox.

The CLI writes its audit entries into the state store's outbox while `datasoc run` holds the
ledger; `serve_api` moves them into the ledger every `drain_seconds` (the CLI waits for that).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import uvicorn

from audit.ledger import Ledger
from datasoc.logging import get_logger
from datasoc.state import StateStore
from soc_api.identity.audit import catch_up_index, drain_outbox

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


async def serve_api(
    app: Any,
    host: str,
    port: int,
    *,
    stop: asyncio.Event,
    state: StateStore,
    ledger: Ledger,
    clock: Callable[[], datetime],
    on_ready: Callable[[list[Any]], None],
    drain_seconds: float = 1.0,
) -> None:
    """Serve `app` on `host:port` until `stop`; report the bound address through `on_ready`."""
    await asyncio.to_thread(catch_up_index, state, ledger)
    sock = bind(host, port)
    address = list(sock.getsockname()[:2])
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
    # uvicorn exposes `started` as a flag, not an event, so it is polled.
    while not server.started and not serving.done():  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    on_ready(address)
    log.info("api_ready", address=f"{address[0]}:{address[1]}")
    try:
        while not stop.is_set() and not serving.done():
            try:
                await asyncio.to_thread(drain_outbox, state, ledger, now=clock())
            except Exception as exc:  # a failed drain retries; the outbox keeps the entries
                log.error("audit_outbox_drain_failed", error=str(exc)[:300], error_type=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=drain_seconds)
    finally:
        server.should_exit = True
        await serving
        log.info("api_stopped")


def serve_platform(
    platform: Any,
    *,
    clock: Callable[[], datetime],
    new_id: Callable[[], str],
    on_ready: Callable[[dict[str, Any]], None],
    on_security_event: Callable[[dict[str, Any]], None],
) -> None:
    """`datasoc run`'s network side until SIGINT/SIGTERM: the API (`api.host:api.port`, unless off)
    and the collector's inputs (`[collect]`, if any), on one event loop; one ready line for both."""
    import signal

    from soc_api.api.server import run_collector
    from soc_api.platform import api_services, collect_config, inputs_enabled
    from soc_api.webapi import CollectorView, create_api

    settings = platform.settings
    view = CollectorView()

    def expose(health: Any, metrics: Any) -> None:
        view.health, view.metrics = health, list(metrics)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
        addresses: dict[str, Any] = {}
        api_task = None
        if settings.api.port is not None:
            app = create_api(api_services(platform, clock=clock, new_id=new_id, collector=view))
            started = asyncio.Event()

            def api_ready(address: list[Any]) -> None:
                addresses["api"] = address
                started.set()

            api_task = asyncio.create_task(
                serve_api(
                    app,
                    settings.api.host,
                    settings.api.port,
                    stop=stop,
                    state=platform.state,
                    ledger=platform.ledger,
                    clock=clock,
                    on_ready=api_ready,
                )
            )
            waiter = asyncio.create_task(started.wait())
            await asyncio.wait([waiter, api_task], return_when=asyncio.FIRST_COMPLETED)
            if api_task.done():
                api_task.result()  # raises what stopped it (e.g. the port is taken)
        try:
            if inputs_enabled(settings.collect):
                inputs, ssl_context = collect_config(settings, platform.state)
                await run_collector(
                    platform.spool,
                    inputs,
                    stop=stop,
                    clock=clock,
                    new_id=new_id,
                    on_ready=lambda found: on_ready({**addresses, **found}),
                    on_security_event=on_security_event,
                    ssl_context=ssl_context,
                    expose=expose,
                )
            else:
                on_ready(addresses)
                await stop.wait()
        finally:
            stop.set()
            if api_task is not None:
                await api_task

    asyncio.run(main())
