"""`datasoc collect` (the network inputs) and `datasoc bench ingest` (HTTP ingest throughput)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from soc_api.errors import FLOOR_ERRORS


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

    The same composition root as `datasoc run` (its options override `[collect]`), with only the
    inputs, and with `--index` also the consumers (indexing, trace, checkpoints, retention) but no
    detection. Prints one JSON line `{"ready": {"http": [host, port], ...}}` on stdout once listening.
    """
    import asyncio

    from soc_api.commands.platform import _open_daemon, _settings, _stop_on_signals
    from soc_api.daemon import Roles

    settings = _settings(config, data_dir)
    if syslog_tls_port is not None and (tls_cert is None or tls_key is None):
        raise click.UsageError("--syslog-tls-port needs --tls-cert and --tls-key")
    overrides: dict[str, Any] = {
        "host": host,
        "http_port": http_port,
        "syslog_udp_port": syslog_udp_port,
        "syslog_tcp_port": syslog_tcp_port,
        "syslog_tls_port": syslog_tls_port,
        "tls_cert": tls_cert.resolve() if tls_cert else None,
        "tls_key": tls_key.resolve() if tls_key else None,
        "tls_client_ca": tls_client_ca.resolve() if tls_client_ca else None,
        "lag_limit": lag_limit,
        "lag_consumers": tuple(c for c in lag_consumers if c),
    }
    if tokens_file is not None:
        overrides["tokens_file"] = tokens_file.resolve()
    settings = settings.model_copy(update={"collect": settings.collect.model_copy(update=overrides)})
    daemon = _open_daemon(settings, Roles.collector(index=index))
    try:
        daemon.start()

        async def serve() -> None:
            stop = asyncio.Event()
            _stop_on_signals(stop)
            await daemon.serve(stop, on_ready=lambda addresses: click.echo(json.dumps({"ready": addresses})))

        asyncio.run(serve())
    except FLOOR_ERRORS as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass
    finally:
        daemon.close()


@click.command("ingest-token")
@click.option("--source", required=True, help="Source name the token stands for.")
@click.option("--parser", default=None, help="Parser of the source's native lines (none: normalized events).")
def ingest_token(source: str, parser: str | None) -> None:
    """Make an HTTP ingest token (接入令牌): the token once on stderr, its digest entry on stdout.

    Hand the token to the source; put the JSON entry (digest only) into the `--tokens` file.
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
