"""`datasoc demo` and `datasoc run`: the embedded platform on this machine."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from datasoc.errors import ConfigError, DatasocError
from soc_api.commands.edge import flink_logs_in, new_id
from soc_api.commands.edge import now as _now


def _settings(config: Path | None, data_dir: Path | None) -> Any:
    from datasoc.logging import configure_logging
    from datasoc.settings import load_settings

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    configure_logging(level=settings.log.level, fmt=settings.log.format, mode=settings.mode)
    return settings


def _start_detection(background: Any) -> None:
    """Start the Flink job (if that is the engine), its JVM logging under `data_dir/stream/log`."""
    from soc_api.platform import stream_dir

    if background.platform.stream is None:
        return
    logs = stream_dir(background.platform.settings) / "log"
    flink_logs_in(logs)
    try:
        background.start_detection()
    except Exception as exc:  # PyFlink raises plain exceptions (no Java 17, gateway failed, cluster down)
        raise click.ClickException(
            f"the Flink detection job did not start: {exc}\n(logs in {logs}; Flink needs Java 17. "
            'Set [detection] engine = "inprocess" or DATASOC_DETECTION__ENGINE=inprocess to run without it.)'
        ) from None


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
def demo(
    config: Path | None, data_dir: Path | None, seed: int, days: int, scale: float, start: datetime | None
) -> None:
    """Generate demo data and run it through the platform (演示：生成数据并走完整流程).

    Native logs -> parsers -> spool (events, deadletter) -> indexer -> event store, and detection
    (the Flink job by default); prints what arrived per source and per data grade, the alerts, and
    the injected incidents to look for.
    """
    import time

    from collectors.errors import ParseError
    from collectors.sink import TransportSink
    from datasoc.event import Event
    from soc_api.demo import generate, write_demo
    from soc_api.demo.replay import replay
    from soc_api.indexer import index_pending
    from soc_api.platform import Platform
    from soc_api.service import Background
    from soc_api.trail import trace_pending

    settings = _settings(config, data_dir)
    now = _now()
    first_day = (start.replace(tzinfo=UTC) if start else now - timedelta(days=days)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    dataset = generate(seed=seed, start=first_day, days=days, scale=scale)
    demo_dir = settings.data_dir / "demo" / f"seed-{seed}"
    write_demo(dataset, demo_dir)
    try:
        platform = Platform.open(settings, now=now)
    except DatasocError as exc:
        raise click.ClickException(str(exc)) from None
    background = Background(platform, new_id=new_id)
    try:
        # Started first: the job's start-up (10 to 15 s) overlaps the replay and the indexing.
        _start_detection(background)
        sink = TransportSink(platform.spool)
        replayed = list(replay(demo_dir, now=now, new_id=new_id))
        for item in replayed:
            if isinstance(item.result, ParseError):
                sink.add_rejected(
                    stage="parse",
                    source=item.file,
                    position=item.position,
                    reason=item.result.reason,
                    raw=item.raw,
                    now=now,
                )
        # The sources are merged in event-time order, as they would arrive live.
        for item in sorted(
            (i for i in replayed if isinstance(i.result, Event)),
            key=lambda i: i.result.timestamp,  # type: ignore[union-attr]
        ):
            sink.add_event(item.result, source=item.file, now=now)  # type: ignore[arg-type]
        sink.flush(now=now)
        report = index_pending(platform.spool, platform.store, now=now)
        trail = trace_pending(platform.spool, platform.ledger, platform.keys.sealing_key, now=now)
        # End of the demo stream: every event evaluated, then the open correlation windows closed.
        detected = background.drain(_now, time.sleep)
        # A fresh reading of the clock: a checkpoint must be later than any signed at `now`.
        platform.ledger.checkpoint_tail(now=_now())
        _print_demo(platform, sink.stats.accepted, sink.stats.rejected, report, demo_dir, dataset)
        _print_alerts(platform, detected)
        _export_demo_bundle(platform, trail, dataset, now)
        from soc_api.commands.identity import print_demo_accounts

        print_demo_accounts(platform, _now())
    except DatasocError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        try:
            background.stop_detection()
        finally:
            platform.close()


def _print_alerts(platform: Any, detected: Any) -> None:
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
    click.echo(
        f"\ndetection (检测): {engine}, {detected.read} events evaluated, "
        f"{detected.alerts} new alerts committed"
    )
    for key, errors in sorted(rules_not_running(platform).items()):
        # Never silently skipped: a rule the engine refused is named with its first error.
        click.echo(f"  rule not running (规则未启用): {key}: {errors[0] if errors else 'rejected'}")
    click.echo(f"alerts (告警): {len(alerts)} — {summary}")
    by_rule: dict[tuple[str, str], int] = Counter((a.warning_level, a.rule_title) for a in alerts.values())
    order = list(names)
    for (level, title), count in sorted(by_rule.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1])):
        click.echo(f"  [{names[level]:<9}] {count:>3} × {title}")


def _export_demo_bundle(platform: Any, trail: Any, dataset: Any, now: datetime) -> None:
    """Export the trail of the first incident's actor and verify it as an auditor would."""
    from audit.bundle import check_bundle, export_bundle

    incident = dataset.ground_truth["incidents"][0]
    store = platform.ledger.store
    seqs = [
        entry.seq for entry in store.entries() if entry.kind == "access" and entry.actor == incident["actor"]
    ]
    out_dir = platform.settings.data_dir / "exports"
    out_dir.mkdir(parents=True, exist_ok=True)
    pub = out_dir / "ledger-pub.pem"
    pub.write_bytes(platform.keys.signing_key.public_key_pem())
    bundle = export_bundle(
        store, out_dir / f"{incident['id']}.zip", public_key_pem=pub.read_bytes(), now=now, seqs=seqs
    )
    check_bundle(bundle.read_bytes(), pub.read_bytes())
    click.echo(
        f"\naudit ledger (审计账本): {store.size} entries, {trail.ledgered} accesses traced this run, "
        f"latest SM2-signed checkpoint at size {store.latest_checkpoint().checkpoint.size}"
    )
    click.echo(f"export for {incident['id']} ({len(seqs)} entries of {incident['actor']}): {bundle}")
    click.echo(f"verify offline (离线校验): datasoc verify {bundle} --pubkey {pub}")


def _print_demo(
    platform: Any, accepted: Counter[str], rejected: Counter[str], report: Any, demo_dir: Path, dataset: Any
) -> None:
    from datasoc.event import CLASSIFICATIONS
    from datasoc.store import FieldFilter, SearchQuery

    far_past = datetime(1970, 1, 1, tzinfo=UTC)
    far_future = datetime(9999, 1, 1, tzinfo=UTC)

    def count(field: str, value: str) -> int:
        query = SearchQuery(start=far_past, end=far_future, filters=(FieldFilter.eq(field, value),))
        return int(platform.store.count(query))

    click.echo(f"demo data (演示数据): {demo_dir}  seed={dataset.seed} days={dataset.days}")
    click.echo(
        f"indexed (入库): read {report.read}, newly stored {report.stored}, dead-lettered {report.rejected}"
    )
    click.echo("\nper source (按来源)                  spooled  rejected   in store")
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
@click.option("--interval", type=click.FloatRange(0.05, 3600), default=1.0, show_default=True)
def run(config: Path | None, data_dir: Path | None, once: bool, interval: float) -> None:
    """Start the platform (启动平台): network inputs of `[collect]`, indexing, access trace,
    detection, checkpoints and retention, in one process that owns the spool, until SIGINT/SIGTERM.

    Detection is the Flink job by default (`[detection] engine`), started first and resumed from its
    last retained checkpoint, cancelled on shutdown. Prints one JSON line `{"ready": {...}}` with the
    bound addresses once the job is started and the inputs listen.
    """
    import json
    import threading
    import time

    from datasoc.logging import get_logger
    from soc_api.platform import Platform
    from soc_api.service import Background, loop
    from soc_api.webapi.server import serve_platform

    settings = _settings(config, data_dir)
    log = get_logger("run")
    try:
        platform = Platform.open(settings, now=_now())
    except DatasocError as exc:
        raise click.ClickException(str(exc)) from None
    background = Background(platform, new_id=new_id)
    try:
        # Resumes from the job's last retained checkpoint: open correlation windows survive a restart.
        _start_detection(background)
    except BaseException:
        platform.close()
        raise
    if once:
        try:
            background.run_pass(_now())
            background.catch_up(_now, time.sleep)  # the job's alerts for what the pass read
        except DatasocError as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            try:
                background.stop_detection()
            finally:
                platform.close()
        return
    stop = threading.Event()
    worker = threading.Thread(target=loop, args=(background, stop, _now, interval), daemon=True)
    worker.start()
    log.info("running", data_dir=str(settings.data_dir), mode=settings.mode)

    def security_event(record: dict[str, Any]) -> None:
        log.warning("security_event", kind=record.get("kind"), actor=record.get("actor"))
        background.ledger_security_event(record, _now())

    try:
        # The API for people (api.port) and the collector's inputs ([collect]) on one event loop.
        serve_platform(
            platform,
            clock=_now,
            new_id=new_id,
            on_ready=lambda addresses: click.echo(json.dumps({"ready": addresses})),
            on_security_event=security_event,
        )
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        worker.join()
        try:
            background.stop_detection()
        finally:
            platform.close()
        log.info("stopped")
