"""`datasoc collect` (the network inputs) and `datasoc bench ingest` (HTTP ingest throughput)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import click

from datasoc.errors import DatasocError
from soc_api.commands.edge import new_id as _new_id
from soc_api.commands.edge import now as _now


def _load_tokens(path: Path | None, state: Any) -> Any:
    """Ingest tokens of the state store (`datasoc tokens`) and of the `--tokens` file (checked now,
    re-read when it changes), as `datasoc run` has them."""
    from collectors.inputs.tokens import TokenStore
    from soc_api.identity.machine import IngestTokens
    from soc_api.identity.store import IdentityStore

    if path is not None:
        try:
            TokenStore.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"tokens file {path}: {exc}") from None
    return IngestTokens(IdentityStore(state), tokens_file=path)


@click.command()
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), help="TOML settings file.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Overrides data_dir.")
@click.option(
    "--tokens",
    "tokens_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help='JSON: {"sha256:<hex>": {"source": NAME, "parser": NAME|null}} (token digests only).',
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address all listeners bind.")
@click.option("--http-port", type=click.IntRange(0, 65535), default=8601, show_default=True)
@click.option("--syslog-udp-port", type=click.IntRange(0, 65535), default=None, help="Off unless given.")
@click.option("--syslog-tcp-port", type=click.IntRange(0, 65535), default=None, help="Off unless given.")
@click.option("--syslog-tls-port", type=click.IntRange(0, 65535), default=None, help="Off unless given.")
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="PEM chain.")
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="PEM key.")
@click.option(
    "--tls-client-ca",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="CA of client certificates; with it, a certificate maps a TLS client to a source.",
)
@click.option("--lag-limit", type=click.IntRange(min=0), default=1_000_000, show_default=True)
@click.option(
    "--lag-consumer",
    "lag_consumers",
    multiple=True,
    default=("indexer",),
    show_default=True,
    help="Consumers whose lag throttles ingest (repeat; none: --lag-consumer '').",
)
@click.option(
    "--index/--no-index",
    default=False,
    help="Also index, trace and checkpoint here, as `datasoc run` does (one process owns the spool).",
)
def collect(
    config: Path | None,
    data_dir: Path | None,
    tokens_file: Path | None,
    host: str,
    http_port: int,
    syslog_udp_port: int | None,
    syslog_tcp_port: int | None,
    syslog_tls_port: int | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_client_ca: Path | None,
    lag_limit: int,
    lag_consumers: tuple[str, ...],
    index: bool,
) -> None:
    """Run the network inputs (采集): HTTP bulk ingest and syslog, into the spool.

    Prints one JSON line `{"ready": {"http": [host, port], ...}}` on stdout once listening.
    """
    import asyncio

    from collectors.inputs.backpressure import BackPressureConfig
    from collectors.inputs.syslog import SyslogConfig, server_tls_context
    from datasoc.logging import get_logger
    from datasoc.transport import Spool, SpoolConfig
    from soc_api.api.server import CollectConfig, run_collector
    from soc_api.commands.platform import _settings
    from soc_api.platform import open_state

    settings = _settings(config, data_dir)
    log = get_logger("collect")
    try:
        state = open_state(settings, _now())
    except DatasocError as exc:
        raise click.ClickException(str(exc)) from None
    collect_config = CollectConfig(
        tokens=_load_tokens(tokens_file, state),
        http_host=host,
        http_port=http_port,
        syslog=SyslogConfig(
            host=host, udp_port=syslog_udp_port, tcp_port=syslog_tcp_port, tls_port=syslog_tls_port
        ),
        backpressure=BackPressureConfig(consumers=tuple(c for c in lag_consumers if c), limit=lag_limit),
    )

    def ready(addresses: dict[str, Any]) -> None:
        click.echo(json.dumps({"ready": addresses}), nl=True)

    def security_event(record: dict[str, Any]) -> None:
        # Without the platform here (a collector-only process) the record is logged in its
        # ledger-ready form; with --index it is ledgered too.
        log.warning("security_event", record=record)

    on_security_event = security_event

    ssl_context = None
    if syslog_tls_port is not None:
        if tls_cert is None or tls_key is None:
            raise click.UsageError("--syslog-tls-port needs --tls-cert and --tls-key")
        ssl_context = server_tls_context(tls_cert, tls_key, client_ca=tls_client_ca)
    platform = None
    try:
        if index:
            from soc_api.platform import Platform

            platform = Platform.open(settings, now=_now())
            spool = platform.spool
        else:
            spool = Spool.open(
                settings.data_dir / "spool", config=SpoolConfig(segment_bytes=settings.spool.segment_bytes)
            )
    except DatasocError as exc:
        raise click.ClickException(str(exc)) from None
    done = threading.Event()
    indexer = None
    if platform is not None:
        from soc_api.service import Background, loop

        background = Background(platform)
        indexer = threading.Thread(target=loop, args=(background, done, _now, 0.5), daemon=True)
        indexer.start()

        def ledgered_security_event(record: dict[str, Any]) -> None:
            log.warning("security_event", kind=record.get("kind"), actor=record.get("actor"))
            background.ledger_security_event(record, _now())

        on_security_event = ledgered_security_event
    try:
        asyncio.run(
            run_collector(
                spool,
                collect_config,
                stop=asyncio.Event(),
                clock=_now,
                new_id=_new_id,
                on_ready=ready,
                on_security_event=on_security_event,
                ssl_context=ssl_context,
            )
        )
    except KeyboardInterrupt:
        pass
    finally:
        done.set()
        if indexer is not None:
            indexer.join()
        if platform is not None:
            platform.close()
        else:
            spool.close()
        state.close()


@click.command("ingest-token")
@click.option("--source", required=True, help="Source name the token stands for.")
@click.option("--parser", default=None, help="Parser of the source's native lines (none: normalized events).")
def ingest_token(source: str, parser: str | None) -> None:
    """Make an HTTP ingest token (接入令牌): the token once on stderr, its digest entry on stdout.

    Hand the token to the source; put the JSON entry (digest only) into the `--tokens` file
    (`collect.tokens_file`). `datasoc tokens add --ingest --source NAME` keeps the token in the
    platform's state store instead, with expiry and revocation while running.
    """
    from collectors.inputs.tokens import hash_token, new_token
    from collectors.parsers import PARSERS

    if parser is not None and parser not in PARSERS:
        raise click.BadParameter(
            f"unknown parser {parser!r}; known: {sorted(PARSERS)}", param_hint="--parser"
        )
    token = new_token()
    click.echo(f"token for {source} (shown once, store it in the source's configuration): {token}", err=True)
    click.echo(json.dumps({hash_token(token): {"source": source, "parser": parser}}))


if __name__ == "__main__":  # the kill test and the bench start the collector as `python -m ...`
    collect()
