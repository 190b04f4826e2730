"""The collectors' inputs as the composition root wires them: `[collect]` in, the network inputs'
configuration, the sources' expected intervals and the file tails out (`soc_api.platform` re-exports
each; it stays the one place that composes)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from collectors.enrichment import EnrichmentSource
from datasoc.errors import ConfigError
from datasoc.settings import CollectSettings, Settings
from datasoc.state import StateStore


def inputs_enabled(collect: CollectSettings) -> bool:
    """True when any network input is configured."""
    ports = (collect.http_port, collect.syslog_udp_port, collect.syslog_tcp_port, collect.syslog_tls_port)
    return any(port is not None for port in ports)


def collect_config(settings: Settings, state: StateStore | None = None) -> tuple[Any, Any]:
    """`(CollectConfig, ssl_context | None)` of the network inputs, from `[collect]`; with `state`,
    ingest tokens come from the state store (revocable while running) and `collect.tokens_file`."""
    import json

    from collectors.inputs.backpressure import BackPressureConfig
    from collectors.inputs.errors import InputConfigError
    from collectors.inputs.guard import ConnectionLimits, ThrottleConfig
    from collectors.inputs.http import HttpIngestConfig
    from collectors.inputs.sourcemap import SourceMap, SourceRule
    from collectors.inputs.syslog import SyslogConfig, server_tls_context
    from collectors.inputs.tokens import TokenStore, hash_token
    from collectors.parsers import PARSERS
    from soc_api.api.protocol import HttpDeadlines
    from soc_api.api.server import CollectConfig

    c = settings.collect
    lim = c.limits
    tokens: Any = TokenStore({})
    path = None
    if c.tokens_file is not None:
        path = settings.resolve(c.tokens_file)
        try:
            tokens = TokenStore.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"collect.tokens_file = {str(path)!r}: {exc}") from None
    if state is not None:
        from soc_api.identity.machine import IngestTokens
        from soc_api.identity.store import IdentityStore

        tokens = IngestTokens(IdentityStore(state), tokens_file=path)
    ssl_context = None
    if c.syslog_tls_port is not None and c.tls_cert is not None and c.tls_key is not None:
        ssl_context = server_tls_context(
            settings.resolve(c.tls_cert),
            settings.resolve(c.tls_key),
            client_ca=settings.resolve(c.tls_client_ca) if c.tls_client_ca else None,
        )
    rules = []
    for index, table in enumerate(c.syslog_source):
        where = f"collect.syslog_source[{index}]"
        if table.parser not in PARSERS:
            raise ConfigError(f"{where}.parser = {table.parser!r}: known: {sorted(PARSERS)}")
        try:
            rules.append(
                SourceRule.from_parts(
                    source=table.source,
                    parser=table.parser,
                    peer=table.peer,
                    cidr=table.cidr,
                    tls_subject=table.tls_subject,
                    expected_interval_seconds=table.expected_interval_seconds,
                    where=where,
                )
            )
        except InputConfigError as exc:
            raise ConfigError(str(exc)) from None
    try:
        routes = SourceMap(rules)
    except InputConfigError as exc:
        raise ConfigError(str(exc)) from None
    config = CollectConfig(
        tokens=tokens,
        http_host=c.host,
        http_port=c.http_port,
        http=HttpIngestConfig(
            max_body_bytes=lim.http_max_body_bytes,
            max_decoded_bytes=lim.http_max_body_bytes,
            max_records=lim.http_max_records,
            dead_letter_records=lim.dead_letter_records,
            dead_letter_bytes=lim.dead_letter_bytes,
            concurrency=lim.http_concurrency,
        ),
        syslog=SyslogConfig(
            host=c.host,
            udp_port=c.syslog_udp_port,
            tcp_port=c.syslog_tcp_port,
            tls_port=c.syslog_tls_port,
            routes=routes,
            limits=ConnectionLimits(lim.syslog_max_connections, lim.syslog_max_connections_per_peer),
            tls_handshake_timeout=lim.syslog_tls_handshake_timeout_seconds,
            frame_timeout=lim.syslog_frame_timeout_seconds,
            idle_timeout=lim.syslog_idle_timeout_seconds,
        ),
        backpressure=BackPressureConfig(consumers=tuple(x for x in c.lag_consumers if x), limit=c.lag_limit),
        sources=source_configs(settings),
        http_limits=ConnectionLimits(lim.http_max_connections, lim.http_max_connections_per_peer),
        http_deadlines=HttpDeadlines(lim.http_header_timeout_seconds, lim.http_body_timeout_seconds),
        keepalive_seconds=lim.http_keepalive_seconds,
        max_header_bytes=lim.http_max_header_bytes,
        throttle=ThrottleConfig(
            max_failures=lim.auth_max_failures,
            window=timedelta(seconds=lim.auth_window_seconds),
            block=timedelta(seconds=lim.auth_block_seconds),
        ),
        idempotency_window=lim.idempotency_window,
        security_window=timedelta(seconds=lim.security_window_seconds),
        scrape_token_digest=(
            hash_token(settings.api.scrape_token.get_secret_value()) if settings.api.scrape_token else None
        ),
    )
    return config, ssl_context


def source_configs(settings: Settings) -> dict[str, Any]:
    """Every configured source with its expected interval (tails, evtx folders, syslog sources,
    token sources), as `collectors.health.SourceConfig`s for the silent-source alert."""
    from collectors.health import SourceConfig

    c = settings.collect
    intervals: dict[str, float | None] = {}
    for tail in c.tail:
        intervals[tail.source] = tail.expected_interval_seconds
    for folder in c.evtx:
        intervals[folder.source] = folder.expected_interval_seconds
    for sender in c.syslog_source:
        intervals[sender.source] = sender.expected_interval_seconds
    for token_source in c.token_source:
        intervals[token_source.source] = token_source.expected_interval_seconds
    return {
        name: SourceConfig(name, timedelta(seconds=seconds) if seconds else None)
        for name, seconds in intervals.items()
    }


def file_tails(
    settings: Settings, sink: Any, *, health: Any = None, enrichment: EnrichmentSource | None = None
) -> list[Any]:
    """The `[[collect.tail]]` followers, each with its offsets under `data_dir/tail/<source>.json`,
    and the `[[collect.evtx]]` folders, offsets under `data_dir/evtx/<source>.json`; each records
    what it delivered in `health` (a `collectors.inputs.delivery.HealthRecorder`) when given, and
    every parser is enriched from `enrichment`."""
    from collectors.inputs.evtxfolder import EvtxFolder
    from collectors.inputs.filetail import FileTail
    from collectors.parsers import PARSERS, WindowsEventParser

    tails: list[Any] = []
    for tail in settings.collect.tail:
        if tail.parser not in PARSERS:
            raise ConfigError(
                f"collect.tail[{tail.source}].parser = {tail.parser!r}: known: {sorted(PARSERS)}"
            )
        parser = PARSERS[tail.parser](collector=f"tail:{tail.source}", enrichment=enrichment)
        state = settings.data_dir / "tail" / f"{tail.source}.json"
        state.parent.mkdir(parents=True, exist_ok=True)
        tails.append(FileTail(list(tail.patterns), parser, sink, state, source=tail.source, health=health))
    for folder in settings.collect.evtx:
        state = settings.data_dir / "evtx" / f"{folder.source}.json"
        state.parent.mkdir(parents=True, exist_ok=True)
        windows = WindowsEventParser(collector=f"evtx:{folder.source}", enrichment=enrichment)
        tails.append(
            EvtxFolder(list(folder.patterns), windows, sink, state, source=folder.source, health=health)
        )
    return tails
