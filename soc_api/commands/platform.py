"""`datasoc demo` and `datasoc run`: the embedded platform on this machine."""

from __future__ import annotations

import json
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from datasoc.errors import ConfigError
from datasoc.gcpolicy import restore as restore_gc
from datasoc.gcpolicy import tune_for_service
from soc_api.commands.edge import flink_logs_in, new_id, private_files
from soc_api.commands.edge import now as _now
from soc_api.errors import FLOOR_ERRORS


class StartupRefused(click.ClickException):
    """The platform refuses to start (a setting, a file, a port, the key store): exit code 2."""

    exit_code = 2


def _settings(config: Path | None, data_dir: Path | None) -> Any:
    from datasoc.logging import configure_logging
    from datasoc.settings import load_settings

    # Every file and directory the platform creates is private to its user: 0600 and 0700.
    private_files()
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise StartupRefused(str(exc)) from None
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    configure_logging(level=settings.log.level, fmt=settings.log.format, mode=settings.mode)
    return settings


def _open_daemon(settings: Any, roles: Any) -> Any:
    """Preflight (`soc_api.preflight`), then the platform's parts opened and its steps built
    (`Daemon.open`); any refusal is one line per problem and exit code 2, nothing left open."""
    from soc_api.daemon import Daemon
    from soc_api.preflight import check

    problems = check(settings, inputs=roles.inputs, api=roles.api)
    if problems:
        raise StartupRefused("cannot start:\n" + "\n".join(f"  {problem}" for problem in problems))
    try:
        return Daemon.open(settings, roles=roles, clock=_now, new_id=new_id)
    except FLOOR_ERRORS as exc:
        raise StartupRefused(f"cannot start: {exc}") from None


def _start(daemon: Any) -> None:
    """Start the detection job (its JVM logging under `data_dir/stream/log`) and the steps."""
    from soc_api.platform import stream_dir

    logs = stream_dir(daemon.platform.settings) / "log"
    if daemon.platform.stream is not None:
        flink_logs_in(logs)
    tune_for_service()  # what opening built stays; the steps' batches die young (datasoc.gcpolicy)
    try:
        daemon.start()
    except Exception as exc:  # PyFlink raises plain exceptions (no Java 17, gateway failed, cluster down)
        if daemon.platform.stream is None:
            raise
        raise click.ClickException(
            f"the Flink detection job did not start: {exc}\n(logs in {logs}; Flink needs Java 17. "
            'Set [detection] engine = "inprocess" or DATASOC_DETECTION__ENGINE=inprocess to run without it.)'
        ) from None


def _stop_on_signals(stop: Any) -> None:
    """SIGINT and SIGTERM set `stop` (on the running event loop of the main thread)."""
    import asyncio
    import contextlib

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)


@click.command()
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), help="TOML settings file.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Overrides data_dir.")
@click.option("--seed", type=int, default=20261128, show_default=True, help="Demo generator seed.")
@click.option("--days", type=click.IntRange(1, 31), default=2, show_default=True)
@click.option("--scale", type=click.FloatRange(0.1, 100.0), default=1.0, show_default=True)
@click.option(
    "--start",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="First demo day (default: `days` days before today).",
)
@click.option(
    "--serve",
    is_flag=True,
    help="Keep the platform and the console running after the demo until Ctrl-C (SIGINT/SIGTERM).",
)
def demo(
    config: Path | None,
    data_dir: Path | None,
    seed: int,
    days: int,
    scale: float,
    start: datetime | None,
    serve: bool,
) -> None:
    """Generate demo data and run it through the platform (演示：生成数据并走完整流程).

    The same path as `datasoc run`: the platform opens with an ingest token per demo source; the
    demo's catalog and access plan are made through the governance services by the right people
    (datasets registered and graded by their owners, requests made by data users and approved by the
    owning departments and, for core data, the security administrator); the demo's native logs are
    then sent to its HTTP ingest in event-time order, as the sources would send them. It waits until
    every event is indexed, traced against its grant and evaluated (the Flink job by default), closes
    the open correlation windows, and prints what arrived per source and grade, the governance made,
    the trace's verdicts, the alerts, the injected incidents, and the audit administrator's trail
    export of the first incident's actor, verified as an auditor would.

    The API and the console are served on `api.host:api.port` (port 0: any free port) while the
    demo runs; the demo prints the console's address and the demo accounts to sign in with. It then
    exits, unless `--serve` keeps everything running (a person looks at the console) until Ctrl-C.
    """
    import secrets
    import time

    from soc_api.daemon import Roles, ServingThread
    from soc_api.demo import generate, write_demo
    from soc_api.demo.feed import demo_tokens, feed
    from soc_api.demo.governance import setup_governance
    from soc_api.platform import api_services

    settings = _settings(config, data_dir)
    now = _now()
    first_day = (start.replace(tzinfo=UTC) if start else now - timedelta(days=days)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    kept_from = now - timedelta(days=settings.store.retention_days)
    if first_day < kept_from:
        raise click.BadParameter(
            f"{first_day:%Y-%m-%d} is more than store.retention_days ({settings.store.retention_days}) "
            "ago: the retention job would purge the demo's events as it starts; choose a later day "
            "or a longer retention (DATASOC_STORE__RETENTION_DAYS)",
            param_hint="--start",
        )
    dataset = generate(seed=seed, start=first_day, days=days, scale=scale)
    demo_dir = settings.data_dir / "demo" / f"seed-{seed}"
    write_demo(dataset, demo_dir)
    tokens, grants = demo_tokens(lambda: secrets.token_urlsafe(32))
    tokens_file = settings.data_dir / "demo-tokens.json"
    tokens_file.write_text(json.dumps(grants, indent=1), encoding="utf-8")
    tokens_file.chmod(0o600)
    http_port = settings.collect.http_port if settings.collect.http_port is not None else 0
    settings = settings.model_copy(
        update={
            "collect": settings.collect.model_copy(
                update={"tokens_file": tokens_file.resolve(), "http_port": http_port}
            ),
        }
    )
    from soc_api.demo.alerting import alert_lines, receiver_lines, with_receivers

    # Local receivers stand in for the duty robots, the SOC webhook and the upward cascade.
    settings, receivers = with_receivers(settings, settings.data_dir / "demo" / "receivers", now=now)
    try:
        daemon = _open_daemon(settings, Roles(api=settings.api.port is not None))
    except BaseException:
        receivers.stop()
        raise
    serving = ServingThread(daemon)
    try:
        identity = api_services(daemon.platform, clock=_now, new_id=new_id).identity
        made = setup_governance(
            daemon.governance,
            identity,
            demo_dir,
            now=_now(),
            development=settings.mode == "development",
            seed=seed,
        )
        daemon.store_enrichment.refresh()  # the parsers grade and join from the catalog just made
        _start(daemon)
        addresses = serving.start()
        host, port = addresses["http"]
        url = f"http://{host}:{port}/api/v1/ingest"
        before = _stored(daemon.platform)
        fed = feed(demo_dir, url, tokens, now=now, new_id=new_id)
        # Every event indexed, traced and evaluated; then the end of the demo stream closes the
        # open correlation windows and the alerts that raises are committed.
        daemon.wait_caught_up(_now, time.sleep)
        daemon.drain(_now, time.sleep)
        # A fresh reading of the clock: a checkpoint must be later than any signed before.
        daemon.platform.ledger.checkpoint_tail(now=_now())
        platform = daemon.platform
        _print_demo(platform, fed.accepted, fed.rejected, demo_dir, dataset, url, before)
        evaluated = {s.name: s.work for s in daemon.supervisor.statuses()}.get("detection", 0)
        _print_governance(platform, daemon.governance, made)
        _print_alerts(platform, evaluated)
        daemon.settle_alerts(_now, time.sleep, timeout=timedelta(seconds=60))
        for line in alert_lines(platform, dataset.ground_truth["incidents"]) + receiver_lines(receivers):
            click.echo(line)
        _export_demo_bundle(platform, daemon.governance, dataset, made.audit_admin)
        from soc_api.commands.identity import print_demo_accounts

        console = _console_url(addresses.get("api"))
        print_demo_accounts(platform, _now(), console=f"console {console}" if console else None)
        # The accounts' own entries are covered by a signed checkpoint before anyone verifies.
        platform.ledger.checkpoint_tail(now=_now())
        _print_console(platform, console)
        if serve and console:
            click.echo("serving until Ctrl-C (按 Ctrl-C 结束)", err=True)
            _wait_for_signal(serving)
    except FLOOR_ERRORS as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        serving.stop()
        daemon.close()
        restore_gc()  # the collector as it was before `_start` tuned it
        receivers.stop()


def _console_url(address: Any) -> str | None:
    """`http://host:port/` of the served API (and console), or None when the API is off."""
    if not address:
        return None
    host, port = address[0], address[1]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def _print_console(platform: Any, console: str | None) -> None:
    """Where the console is and how to sign in (the administrators' second factor included)."""
    from soc_api.webapi.console import STATIC_DIR

    if console is None:
        click.echo("\nconsole (控制台): off (api.port is off)")
        return
    built = (STATIC_DIR / "index.html").is_file()
    click.echo(f"\nconsole (控制台): {console}" + ("" if built else "  (not built: run `make console`)"))
    click.echo(
        "  sign in with a demo account above (用上面的演示账户登录); administrators then enter the 6-digit\n"
        '  code of their TOTP secret from an authenticator app (or `python -c "import pyotp; '
        "print(pyotp.TOTP('<secret>').now())\"`)"
    )
    if not platform.settings.api.cookie_secure:
        return
    click.echo("  (the session cookie is Secure: browsers accept it on http://127.0.0.1 and localhost only)")


def _wait_for_signal(serving: Any) -> None:
    """Block until SIGINT or SIGTERM (the serving thread keeps the platform running meanwhile)."""
    import threading

    done = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: done.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not done.wait(1.0):
            if serving.error is not None:
                raise click.ClickException(f"serving stopped: {serving.error}")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _print_alerts(platform: Any, evaluated: int) -> None:
    """Alerts on the alerts topic, deduplicated by id, summarised by rule and warning level."""
    from datasoc.transport import ALERTS
    from soc_api.detector import decode_alert
    from soc_api.service import rules_not_running

    alerts: dict[str, Any] = {}
    offset = 0
    while records := platform.spool.read(ALERTS, offset, 1000):
        for record in records:
            alert = decode_alert(record.payload)
            alerts.setdefault(alert.alert_id, alert)
        offset = records[-1].offset + 1
    levels = Counter(a.warning_level for a in alerts.values())
    names = {"red": "红 red", "orange": "橙 orange", "yellow": "黄 yellow", "blue": "蓝 blue"}
    summary = ", ".join(f"{names[level]} {levels[level]}" for level in names if levels[level])
    engine = platform.settings.detection.engine
    if platform.stream is not None:
        where = platform.settings.detection.jobmanager or "embedded MiniCluster"
        engine = f"Flink job ({where})"
    click.echo(f"\ndetection (检测): {engine}, {evaluated} events evaluated")
    for key, errors in sorted(rules_not_running(platform).items()):
        # Never silently skipped: a rule the engine refused is named with its first error.
        click.echo(f"  rule not running (规则未启用): {key}: {errors[0] if errors else 'rejected'}")
    click.echo(f"alerts (告警): {len(alerts)} — {summary}")
    by_rule: dict[tuple[str, str], int] = Counter((a.warning_level, a.rule_title) for a in alerts.values())
    order = list(names)
    for (level, title), count in sorted(by_rule.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1])):
        click.echo(f"  [{names[level]:<9}] {count:>3} × {title}")


def _print_governance(platform: Any, governance: Any, made: Any) -> None:
    """The governance the demo made through the services, and the trace's verdicts in the ledger."""
    assets = governance.catalog.store.assets()
    grades = Counter(a.grade for a in assets)
    click.echo(
        f"\ndata governance (数据治理): {len(assets)} assets (core {grades['core']}, important "
        f"{grades['important']}, general {grades['general']}), {made.accounts} accounts created, "
        f"{made.discoveries} discovery runs, {made.requests} requests made, {made.granted} granted"
    )
    verdicts: Counter[str] = Counter()
    violations: Counter[str] = Counter()
    for entry in platform.ledger.store.entries():
        if entry.kind == "access" and "trace.verdict" in entry.payload:
            verdicts[entry.payload["trace.verdict"]] += 1
            violations.update(entry.payload.get("trace.violations", []))
    names = {"allowed": "授权内 allowed", "open": "公开数据 open", "violation": "违规 violation"}
    shown = ", ".join(f"{names[v]} {verdicts[v]}" for v in names if verdicts[v])
    click.echo(f"access trace (访问留痕, every access ledgered with its grant): {shown}")
    if violations:
        click.echo("  violations (违规): " + ", ".join(f"{k} {n}" for k, n in violations.most_common()))


def _export_demo_bundle(platform: Any, governance: Any, dataset: Any, auditor: str) -> None:
    """The audit administrator exports every access of the first incident's actor, proven complete;
    verified as an auditor would."""
    from audit.bundle import check_bundle
    from audit.selection import Selection
    from soc_api.governance.review import export_trail
    from soc_api.identity.audit import LedgerAudit

    incident = dataset.ground_truth["incidents"][0]
    store = platform.ledger.store
    out_dir = platform.settings.data_dir / "exports" / incident["id"]
    selection = Selection.by_keys(actor=incident["actor"], kind="access")
    audit = LedgerAudit(platform.ledger, platform.state, _now)
    done = export_trail(
        audit,
        store,
        governance.person(auditor),
        selection,
        signer=platform.keys.signing_key,
        out_dir=out_dir,
        now=_now(),
    )
    pub = done.directory / "pubkey.pem"
    report = check_bundle(done.bundle.read_bytes(), pub.read_bytes())
    click.echo(
        f"\naudit ledger (审计账本): {store.size} entries, "
        f"latest SM2-signed checkpoint at size {store.latest_checkpoint().checkpoint.size}"
    )
    click.echo(
        f"trail export for {incident['id']} by audit administrator {auditor} "
        f"(every access of {incident['actor']}): {done.directory}\n  {done.entries} entries: bundle.zip, "
        "entries.csv, summary.json, report.txt, report.html, report.pdf"
    )
    click.echo(f"  {report.statement_zh}")
    click.echo(f"  {report.statement_en}")
    click.echo(f"verify offline (离线校验): datasoc verify {done.bundle} --pubkey {pub}")


def _stored(platform: Any) -> int:
    from datasoc.store import SearchQuery

    everything = SearchQuery(start=datetime(1970, 1, 1, tzinfo=UTC), end=datetime(9999, 1, 1, tzinfo=UTC))
    return int(platform.store.count(everything))


def _print_demo(
    platform: Any,
    accepted: Counter[str],
    rejected: Counter[str],
    demo_dir: Path,
    dataset: Any,
    url: str,
    stored_before: int,
) -> None:
    from datasoc.event import CLASSIFICATIONS
    from datasoc.store import FieldFilter, SearchQuery

    far_past = datetime(1970, 1, 1, tzinfo=UTC)
    far_future = datetime(9999, 1, 1, tzinfo=UTC)

    def count(field: str, value: str) -> int:
        query = SearchQuery(start=far_past, end=far_future, filters=(FieldFilter.eq(field, value),))
        return int(platform.store.count(query))

    click.echo(f"demo data (演示数据): {demo_dir}  seed={dataset.seed} days={dataset.days}")
    click.echo(f"sent to the platform's HTTP ingest (经 HTTP 接入): {url}")
    stored = _stored(platform)
    click.echo(
        f"indexed (入库): accepted {sum(accepted.values())}, newly stored {stored - stored_before}, "
        f"dead-lettered {sum(rejected.values())}, in store {stored}"
    )
    click.echo("\nper source (按来源)                 accepted  rejected   in store")
    from soc_api.demo import SOURCES

    for name, parser in SOURCES.items():
        stored = count("event.dataset", parser)
        click.echo(f"  {name:<32}{accepted[name]:>9}{rejected[name]:>10}{stored:>11}")
    click.echo("\nper data grade (按数据分级, GB/T 43697-2024)   events in store")
    names = {"core": "核心数据 core", "important": "重要数据 important", "general": "一般数据 general"}
    for grade in reversed(CLASSIFICATIONS):
        click.echo(f"  {names[grade]:<36}{count('data.classification', grade):>11}")
    incidents = dataset.ground_truth["incidents"]
    click.echo(f"\ninjected incidents (注入事件, see ground_truth.json): {len(incidents)}")
    for incident in incidents:
        click.echo(f"  {incident['id']}  {incident['kind']:<34}{incident['description']['zh']}")


@click.command()
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), help="TOML settings file.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Overrides data_dir.")
@click.option(
    "--once", is_flag=True, help="One pass (index, trace, detect, checkpoint, retention), then exit."
)
@click.option(
    "--interval",
    type=click.FloatRange(0.05, 60),
    default=None,
    help="Seconds an idle step waits before looking again (platform.step_interval_seconds).",
)
def run(config: Path | None, data_dir: Path | None, once: bool, interval: float | None) -> None:
    """Start the platform (启动平台): network inputs of `[collect]`, file tails, indexing, access
    trace, detection, checkpoints and retention, each a supervised step of one process that owns the
    spool, until SIGINT/SIGTERM (stopping takes at most `platform.stop_timeout_seconds`).

    Detection is the Flink job by default (`[detection] engine`), started first and resumed from its
    last retained checkpoint, cancelled on shutdown. Prints one JSON line `{"ready": {...}}` with the
    bound addresses once the job is started and the inputs listen. `/healthz` and `/readyz` on the
    collector's HTTP port say whether it is alive and whether every step is healthy.
    """
    import asyncio
    import time

    from soc_api.daemon import Roles

    settings = _settings(config, data_dir)
    if interval is not None:
        platform = settings.platform.model_copy(update={"step_interval_seconds": interval})
        settings = settings.model_copy(update={"platform": platform})
    daemon = _open_daemon(settings, Roles(api=not once))  # --once serves nothing
    try:
        _start(daemon)
        if once:
            daemon.wait_caught_up(_now, time.sleep)
            return

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
        restore_gc()  # the collector as it was before `_start` tuned it
