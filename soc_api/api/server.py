"""The collector process: HTTP ingest (uvicorn) and syslog listeners on one event loop, one spool.

`CollectConfig` gathers what settings provide (section `[collect]`); `run_collector` builds the
parts over an open spool, reports the bound addresses through `on_ready`, and serves until `stop`
is set (or uvicorn sees SIGINT/SIGTERM). Every `silence_check` it asks the health tracker for
sources that went quiet and appends those alerts to the `alerts` topic.

The listeners' limits, all from `[collect.limits]`: the HTTP socket is a `GuardedSocket`
(connections per listener and per peer, refused at accept with a 503); uvicorn runs
`DeadlineH11Protocol` (header and body deadlines, 408/431 answers) with its own knobs for the
rest (`timeout_keep_alive`, `h11_max_incomplete_event_size` for the header size, and
`limit_concurrency` one above the connection cap as a backstop). The process's open-file limit is
raised to its hard limit at start and must leave room for every listener's cap. Errors the event
loop reports (an `accept()` failing for want of descriptors, say) go through a rate-limited log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import signal
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import orjson
import uvicorn

from collectors.enrichment import EnrichmentSource
from collectors.health import HealthMetrics, HealthTracker, SourceConfig
from collectors.inputs.backpressure import BackPressureConfig, LagMonitor
from collectors.inputs.delivery import Delivery, SharedHealth
from collectors.inputs.errors import InputConfigError
from collectors.inputs.guard import (
    AuthThrottle,
    ConnectionGuard,
    ConnectionLimits,
    ThrottleConfig,
    bind_guarded,
)
from collectors.inputs.http import HttpIngest, HttpIngestConfig
from collectors.inputs.idempotency import RecentIds, recent_event_ids
from collectors.inputs.metrics import InputMetrics
from collectors.inputs.syslog import SyslogConfig, SyslogInput
from collectors.inputs.tokens import TokenAuthority, TokenGrant, TokenStore
from collectors.parsers import PARSERS
from collectors.ratelog import RateLimitedLog, RateLimitFilter
from collectors.security import SecurityEvents
from datasoc.logging import get_logger
from datasoc.transport import ALERTS, Transport
from soc_api.api.app import ApiServices, create_app
from soc_api.api.protocol import DeadlineH11Protocol, HttpDeadlines, problem
from soc_api.supervisor import Readiness

log = get_logger("collector")
#: Descriptors kept free for the spool, store, ledger, Flink and the like, beyond the listeners' caps.
FD_RESERVE: Final = 256


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
    http_limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    http_deadlines: HttpDeadlines = field(default_factory=HttpDeadlines)
    #: Idle time between requests on a keep-alive connection (uvicorn's `timeout_keep_alive`).
    keepalive_seconds: float = 5.0
    #: Largest request head (request line and headers; h11's `max_incomplete_event_size`): past it, 431.
    max_header_bytes: int = 16 * 1024
    throttle: ThrottleConfig = field(default_factory=ThrottleConfig)
    #: Recent event ids a retried request is deduplicated against (0: no deduplication).
    idempotency_window: int = 100_000
    #: Security events are folded per peer, kind and subject over this window.
    security_window: timedelta = timedelta(seconds=60)
    #: `sha256:` digest of `api.scrape_token`: in a process without the API for people, the only
    #: credential that may read `/metrics` and `/api/v1/sources` on the ingest port (None: not served).
    scrape_token_digest: str | None = None


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


def raise_fd_limit(needed: int) -> int:
    """Raise the soft open-file limit to the hard one; `InputConfigError` if `needed` does not fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard and (hard == resource.RLIM_INFINITY or soft < hard):
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    if soft != resource.RLIM_INFINITY and needed > soft:
        raise InputConfigError(
            "collect.limits",
            f"the listeners may hold {needed} descriptors (connection caps plus {FD_RESERVE} in reserve) "
            f"but the process may open {soft}: lower the max_connections limits or raise `ulimit -n`",
        )
    return int(soft)


def raise_silence_alerts(spool: Transport, health: SharedHealth, now: datetime) -> int:
    """Append the alerts of sources whose silence episode began since the last check; how many.

    Called on a timer by the collector, and by `datasoc run` itself when no network input runs.
    """
    with health.lock:
        alerts = health.tracker.check_silence(health.at(now))
    if alerts:
        spool.append(ALERTS, [orjson.dumps(alert.to_dict()) for alert in alerts], now=now)
        log.warning("sources_silent", sources=[a.to_dict().get("group") for a in alerts])
    return len(alerts)


def _quiet_uvicorn() -> None:
    """uvicorn logs a line per malformed request or refused request: rate-limit them (once)."""
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, RateLimitFilter) for f in logger.filters):
        logger.addFilter(RateLimitFilter())


def _quiet_loop_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Route the loop's error reports through a rate-limited log (one per message per 10 s)."""
    ratelog = RateLimitedLog(log, interval=10.0)

    def handler(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        message = str(context.get("message", "event loop error"))[:200]
        ratelog.error("event_loop_error", key=message, message=message, error=repr(error)[:300])

    loop.set_exception_handler(handler)


async def run_collector(
    spool: Transport,
    config: CollectConfig,
    *,
    stop: asyncio.Event,
    clock: Callable[[], datetime],
    new_id: Callable[[], str],
    on_ready: Callable[[dict[str, Any]], None] = lambda addresses: None,
    security: SecurityEvents | None = None,
    health: SharedHealth | None = None,
    ssl_context: Any = None,
    expose: Callable[[SharedHealth, Sequence[Any]], None] | None = None,
    enrichment: EnrichmentSource | None = None,
    readiness: Callable[[], Readiness] | None = None,
    check_silence: bool = True,
) -> None:
    """Serve HTTP ingest and syslog until `stop` is set (SIGINT/SIGTERM set it); see module docstring.

    `security` receives the listeners' security events; whoever passes it drains it (the
    platform's pass ledgers them). Without it, the collector drains its own queue every
    `silence_check_seconds` and the summaries are only logged. `health` is shared with whoever
    else records sources (the platform's file tails); without it the collector keeps its own.
    """
    _stop_on_signals(stop)
    _quiet_loop_errors(asyncio.get_running_loop())
    caps = config.syslog.limits.max_connections * sum(
        port is not None for port in (config.syslog.tcp_port, config.syslog.tls_port)
    )
    if config.http_port is not None:
        caps += config.http_limits.max_connections
    raise_fd_limit(caps + FD_RESERVE)
    own_security = security is None
    events = security if security is not None else SecurityEvents(window=config.security_window)
    if health is None:
        health = SharedHealth(HealthTracker(config.sources))
    tracker = health.tracker
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
    recent = None
    if config.idempotency_window > 0:
        recent = RecentIds(config.idempotency_window)
        recent.seed(await asyncio.to_thread(recent_event_ids, spool, config.idempotency_window))
    ingest = HttpIngest(
        tokens=config.tokens,
        delivery=delivery,
        parsers=parsers,
        lag=lag,
        config=config.http,
        on_security_event=events.push,
        throttle=AuthThrottle(config.throttle),
        recent=recent,
    )
    syslog_parsers = {
        route.parser: PARSERS[route.parser](
            collector=f"{config.syslog.collector}:{route.source}", enrichment=enrichment
        )
        for route in config.syslog.routes.routes()
        if route.parser in PARSERS
    }
    syslog = SyslogInput(
        config.syslog,
        parsers=syslog_parsers,
        delivery=delivery,
        clock=clock,
        new_id=new_id,
        lag=lag,
        tls=ssl_context,
        on_security_event=events.push,
    )
    addresses: dict[str, Any] = {}
    server: uvicorn.Server | None = None
    serving: asyncio.Task[None] | None = None
    http_guard = ConnectionGuard(config.http_limits, name="http")
    protocol, protocol_stats = DeadlineH11Protocol.with_deadlines(config.http_deadlines)

    def guards() -> dict[str, ConnectionGuard]:
        return {"http": http_guard, **syslog.guards} if config.http_port is not None else dict(syslog.guards)

    metrics = [
        HealthMetrics(tracker),
        InputMetrics(
            clock=clock,
            http=ingest,
            syslog=syslog,
            lag=lag,
            guards=lambda: (
                {"http": http_guard, **syslog.guards} if config.http_port is not None else syslog.guards
            ),
            protocol=protocol_stats,
            security=events,
        ),
    ]
    if expose is not None:
        # The API for people serves source health and metrics behind permissions; this port
        # then serves ingest and the probes only.
        expose(health, metrics)
        app = create_app(ApiServices(ingest=ingest, readiness=readiness, clock=clock, new_id=new_id))
    else:
        app = create_app(
            ApiServices(
                ingest=ingest,
                health=health,
                metrics=metrics,
                scrape=_scrape_tokens(config.scrape_token_digest),
                readiness=readiness,
                clock=clock,
                new_id=new_id,
            )
        )
    if config.http_port is not None:
        ratelog = RateLimitedLog(log, interval=10.0)

        def refused(peer: str, why: str) -> None:
            ratelog.warning("http_connection_refused", key=peer, peer=peer, reason=why)

        refusal = problem(503, "too many connections; retry later", headers={"retry-after": "1"})
        sock = bind_guarded(
            config.http_host, config.http_port, http_guard, refusal=refusal, on_refused=refused
        )
        addresses["http"] = list(sock.getsockname()[:2])
        uv_config = uvicorn.Config(
            app,
            http=protocol,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=max(1, round(config.keepalive_seconds)),
            h11_max_incomplete_event_size=config.max_header_bytes,
            limit_concurrency=config.http_limits.max_connections + 1,
            backlog=1024,
        )
        _quiet_uvicorn()  # after the Config, which configures uvicorn's logging
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
            if own_security:
                events.drain(clock())
            if check_silence:  # else whoever passed `health` checks (the platform's steps do)
                await asyncio.to_thread(raise_silence_alerts, spool, health, clock())
    finally:
        waiter.cancel()
        if server is not None and serving is not None:
            server.should_exit = True
            await serving
        await syslog.close()
        if own_security:
            events.drain(clock(), final=True)
        log.info("collector_stopped")


def _scrape_tokens(digest: str | None) -> TokenStore | None:
    """The scrape token as a token set of its own (its grant names no source: it ingests nothing)."""
    if digest is None:
        return None
    return TokenStore({digest: TokenGrant(source="scrape")})
