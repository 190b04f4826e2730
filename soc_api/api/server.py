"""The collector process: HTTP ingest (uvicorn) and syslog listeners on one event loop, one spool.

`CollectConfig` gathers what settings will provide (section `[collect]`); `run_collector` builds
the parts over an open spool, reports the bound addresses through `on_ready`, and serves until
`stop` is set (or uvicorn sees SIGINT/SIGTERM). Every `silence_check` it asks the health tracker
for sources that went quiet and appends those alerts to the `alerts` topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import uvicorn

from collectors.enrichment import EnrichmentSource
from collectors.health import HealthMetrics, HealthTracker, SourceConfig
from collectors.inputs.backpressure import BackPressureConfig, LagMonitor
from collectors.inputs.delivery import Delivery, SharedHealth
from collectors.inputs.http import HttpIngest, HttpIngestConfig, SecurityEventSink
from collectors.inputs.metrics import InputMetrics
from collectors.inputs.syslog import SyslogConfig, SyslogInput
from collectors.inputs.tokens import TokenAuthority, TokenStore
from collectors.parsers import PARSERS
from datasoc.logging import get_logger
from datasoc.transport import ALERTS, Spool
from soc_api.api.app import ApiServices, create_app
from soc_api.supervisor import Readiness

log = get_logger("collector")


@dataclass(frozen=True)
class CollectConfig:
    """Everything the collector process needs besides the spool (proposed `[collect]` settings)."""

    tokens: TokenAuthority
    http_host: str = "127.0.0.1"
    http_port: int | None = 8601
    http: HttpIngestConfig = field(default_factory=HttpIngestConfig)
    syslog: SyslogConfig = field(default_factory=SyslogConfig)
    backpressure: BackPressureConfig = field(default_factory=BackPressureConfig)
    sources: Mapping[str, SourceConfig] = field(default_factory=dict)
    silence_check_seconds: float = 5.0


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the collector's `stop` event decides.

    uvicorn >= 0.29 re-raises a captured SIGTERM once it has shut down, which would end the
    process before the platform closes its ledger and store cleanly.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Only the main thread can handle signals; in-process tests run the collector elsewhere.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)


def _bind(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP named explicitly: asyncio turns Nagle off (TCP_NODELAY) only on accepted sockets
    # whose proto says TCP, and with proto 0 every response body waited ~40 ms for a delayed ACK.
    sock = socket.socket(
        socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def run_collector(
    spool: Spool,
    config: CollectConfig,
    *,
    stop: asyncio.Event,
    clock: Callable[[], datetime],
    new_id: Callable[[], str],
    on_ready: Callable[[dict[str, Any]], None] = lambda addresses: None,
    on_security_event: SecurityEventSink | None = None,
    ssl_context: Any = None,
    expose: Callable[[SharedHealth, Sequence[Any]], None] | None = None,
    enrichment: EnrichmentSource | None = None,
    readiness: Callable[[], Readiness] | None = None,
) -> None:
    """Serve HTTP ingest and syslog until `stop` is set (SIGINT/SIGTERM set it); see module docstring."""
    _stop_on_signals(stop)
    tracker = HealthTracker(config.sources)
    health = SharedHealth(tracker)
    delivery = Delivery(spool, health=health)
    lag = LagMonitor(spool, config.backpressure)
    # Tokens may name any parser (tokens made while running too): every parser is ready.
    parser_names = (
        set(PARSERS)
        if not isinstance(config.tokens, TokenStore)
        else {g.parser for g in config.tokens.grants.values() if g.parser}
    )
    parsers = {
        name: PARSERS[name](collector=f"{config.http.collector}:{name}", enrichment=enrichment)
        for name in parser_names
    }
    ingest = HttpIngest(
        tokens=config.tokens,
        delivery=delivery,
        parsers=parsers,
        lag=lag,
        config=config.http,
        on_security_event=on_security_event,
    )
    syslog = SyslogInput(
        config.syslog,
        parser=PARSERS["linux_syslog"](collector=config.syslog.collector, enrichment=enrichment),
        delivery=delivery,
        clock=clock,
        new_id=new_id,
        lag=lag,
        tls=ssl_context,
        on_security_event=on_security_event,
    )
    metrics = [HealthMetrics(tracker), InputMetrics(clock=clock, http=ingest, syslog=syslog, lag=lag)]
    if expose is not None:
        # The API for people serves source health and metrics behind permissions; this port
        # then serves ingest and the probes only.
        expose(health, metrics)
        app = create_app(ApiServices(ingest=ingest, readiness=readiness, clock=clock, new_id=new_id))
    else:
        app = create_app(
            ApiServices(
                ingest=ingest, health=health, metrics=metrics, readiness=readiness, clock=clock, new_id=new_id
            )
        )
    addresses: dict[str, Any] = {}
    server: uvicorn.Server | None = None
    serving: asyncio.Task[None] | None = None
    if config.http_port is not None:
        sock = _bind(config.http_host, config.http_port)
        addresses["http"] = list(sock.getsockname()[:2])
        uv_config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30
        )
        server = _Server(uv_config)
        serving = asyncio.create_task(server.serve(sockets=[sock]))
        # uvicorn exposes `started` as a flag, not an event, so it is polled.
        while not server.started and not serving.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await syslog.start()
    addresses.update({name: list(address) for name, address in syslog.addresses.items()})
    on_ready(addresses)
    log.info("collector_ready", **{k: f"{v[0]}:{v[1]}" for k, v in addresses.items()})
    waiter = asyncio.create_task(stop.wait())
    try:
        while True:
            pending = [waiter] if serving is None else [waiter, serving]
            done, _ = await asyncio.wait(pending, timeout=config.silence_check_seconds)
            if done:
                break
            with health.lock:
                alerts = tracker.check_silence(health.at(clock()))
            if alerts:
                payloads = [orjson.dumps(alert.to_dict()) for alert in alerts]
                await asyncio.to_thread(spool.append, ALERTS, payloads, now=clock())
                log.warning("sources_silent", sources=[a.to_dict().get("group") for a in alerts])
    finally:
        waiter.cancel()
        if server is not None and serving is not None:
            server.should_exit = True
            await serving
        await syslog.close()
        log.info("collector_stopped")
