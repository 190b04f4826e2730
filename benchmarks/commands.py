"""`datasoc bench ...`: the benchmark commands (in a source checkout; not shipped in the wheel).

Each prints its figures and compares, in the same run, with what a user would pick instead.
Heavy imports happen inside each command so `datasoc --help` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from soc_api.commands.edge import now as _now

_REPO = Path(__file__).resolve().parents[1]
_SHARED = _REPO.parent / "shared" / "data"
_TEST_PACK = _REPO / "tests" / "detection" / "stream" / "rules"


def format_spool_report(figures: dict[str, float | int], directory: Path) -> str:
    """The plain-text table the command prints."""
    f = figures
    rows = [
        ("spool, group commit", f["spool_records_per_s"], f["spool_mb_per_s"], f["spool_fsyncs"]),
        ("plain file, fsync per batch", f["plain_records_per_s"], f["plain_mb_per_s"], f["plain_fsyncs"]),
    ]
    lines = [
        f"spool bench: {f['records']} records x {f['record_size']} B, batch {f['batch_size']}, "
        f"{f['threads']} thread(s), median of {f['repeat']} run(s), in {directory}",
        f"{'writer':<30}{'records/s':>12}{'MB/s':>10}{'fsyncs':>9}{'records/fsync':>15}",
    ]
    for name, rate, mbps, fsyncs in rows:
        per = f["records"] / max(int(fsyncs), 1)
        lines.append(f"{name:<30}{rate:>12,.0f}{mbps:>10.1f}{int(fsyncs):>9}{per:>15.1f}")
    lines.append(f"ratio spool / plain: {f['ratio_spool_to_plain']:.2f}")
    return "\n".join(lines)


@click.command("spool")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write (default: a temporary directory under the current one, removed after).",
)
@click.option("--records", type=click.IntRange(min=1), default=200_000, show_default=True)
@click.option("--record-size", type=click.IntRange(min=1), default=500, show_default=True, help="Bytes.")
@click.option("--batch-size", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=4, show_default=True)
@click.option(
    "--repeat", type=click.IntRange(min=1), default=1, show_default=True, help="Runs; medians are reported."
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
def bench_spool(
    directory: Path | None,
    records: int,
    record_size: int,
    batch_size: int,
    threads: int,
    repeat: int,
    as_json: bool,
) -> None:
    """Durable appends per second with fsync group commit, and the same bytes through a plain
    buffered file writer with one fsync per batch, in the same run (数据落盘基准)."""
    from benchmarks.spool import bench_spool as run

    # /tmp is often a tmpfs where fsync costs nothing; the current directory is a real disk more often.
    owned = directory is None
    where = (
        Path(tempfile.mkdtemp(prefix=".datasoc-bench-", dir=Path.cwd())) if directory is None else directory
    )
    try:
        figures = run(where, records, record_size, batch_size, threads, repeat=repeat)
    finally:
        if owned:
            shutil.rmtree(where, ignore_errors=True)
    if as_json:
        click.echo(json.dumps(figures, sort_keys=True))
    else:
        click.echo(format_spool_report(figures, where))


@click.command("store")
@click.option("--events", type=click.IntRange(min=1000), default=100_000, show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option(
    "--backend",
    "backends",
    multiple=True,
    type=click.Choice(["sqlite", "opensearch", "elasticsearch"]),
    default=("sqlite",),
    show_default=True,
    help="Repeat to compare side by side in one run.",
)
@click.option(
    "--url",
    "urls",
    multiple=True,
    metavar="BACKEND=URL",
    help="A running cluster, e.g. opensearch=http://127.0.0.1:9200; otherwise a server is started "
    "for the run (services/, needs Java and Maven).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object per backend.")
def bench_store(
    events: int, batch: int, backends: tuple[str, ...], urls: tuple[str, ...], as_json: bool
) -> None:
    """Event store figures (事件库基准): insert rate, query latencies, purge, per backend side by side."""
    from benchmarks.store import bench_search_store
    from benchmarks.store import bench_store as run

    given = dict(item.split("=", 1) for item in urls if "=" in item)
    figures: dict[str, dict[str, Any]] = {}
    for backend in dict.fromkeys(backends):
        if backend == "sqlite":
            # Under the current directory: /tmp is often a tmpfs, where fsync costs nothing.
            with tempfile.TemporaryDirectory(prefix=".datasoc-bench-", dir=Path.cwd()) as directory:
                figures[backend] = run(Path(directory) / "events.sqlite3", events, batch=batch)
            continue
        with _server_for_run(backend, given.get(backend)) as (url, started_s):
            figures[backend] = bench_search_store(backend, url, events, batch=batch)
            if started_s is not None:
                figures[backend]["server_start_s"] = started_s
    if as_json:
        click.echo(json.dumps(figures, ensure_ascii=False, sort_keys=True))
        return
    _table(figures)


def _row_order(figures: dict[str, dict[str, Any]]) -> Callable[[str], int]:
    order = {key: i for values in reversed(figures.values()) for i, key in enumerate(values)}
    return lambda key: order.get(key, len(order))


@contextlib.contextmanager
def _server_for_run(kind: str, url: str | None) -> Iterator[tuple[str, float | None]]:
    """The address of a server to benchmark: the one given, or a temporary one started for the run."""
    if url is not None:
        yield url, None
        return
    try:
        from services import ServiceError, create
    except ImportError:
        raise click.ClickException(f"give --url {kind}=URL (services/ exists only in a checkout)") from None
    try:
        server = create(kind)
        server.start()
        started_s = round(server.wait_ready(), 1)
    except ServiceError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield server.address, started_s
    finally:
        server.close()


@click.command("transport")
@click.option("--records", type=click.IntRange(min=100), default=100_000, show_default=True)
@click.option("--record-size", type=click.IntRange(min=1), default=500, show_default=True, help="Bytes.")
@click.option("--batch-size", type=click.IntRange(min=1), default=500, show_default=True)
@click.option("--threads", type=click.IntRange(min=1), default=4, show_default=True)
@click.option(
    "--backend",
    "backends",
    multiple=True,
    type=click.Choice(["spool", "kafka"]),
    default=("spool", "kafka"),
    show_default=True,
)
@click.option(
    "--url", "url", default=None, help="Kafka bootstrap host:port (default: a broker started for the run)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object per backend.")
def bench_transport(
    records: int,
    record_size: int,
    batch_size: int,
    threads: int,
    backends: tuple[str, ...],
    url: str | None,
    as_json: bool,
) -> None:
    """Acknowledged appends and reads per second, spool beside Kafka in one run (传输基准)."""
    from benchmarks.transport import bench_kafka_side, bench_spool_side

    shape = {"records": records, "record_size": record_size, "batch_size": batch_size, "threads": threads}
    figures: dict[str, dict[str, Any]] = {}
    for backend in dict.fromkeys(backends):
        if backend == "spool":
            with tempfile.TemporaryDirectory(prefix=".datasoc-bench-", dir=Path.cwd()) as directory:
                figures[backend] = bench_spool_side(Path(directory), **shape)
            continue
        with _server_for_run("kafka", url) as (address, started_s):
            figures[backend] = bench_kafka_side(address, **shape)
            if started_s is not None:
                figures[backend]["server_start_s"] = started_s
    if as_json:
        click.echo(json.dumps(figures, sort_keys=True))
        return
    _table(figures)


def _table(figures: dict[str, dict[str, Any]]) -> None:
    names = list(figures)
    rows = sorted({key for values in figures.values() for key in values}, key=_row_order(figures))
    width = max(len(key) for key in rows)
    click.echo(f"{'':<{width}}  " + "  ".join(f"{name:>14}" for name in names))
    for key in rows:
        cells = "  ".join(f"{figures[name].get(key, '-')!s:>14}" for name in names)
        click.echo(f"{key:<{width}}  {cells}")


@click.command("ledger")
@click.option("--entries", default=1_000_000, show_default=True, type=click.IntRange(1000))
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(1))
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to put the bench ledger (default: a temporary directory, removed after).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
def bench_ledger(entries: int, batch: int, workdir: Path | None, as_json: bool) -> None:
    """Durable appends/s vs raw SM3 leaf hashing, proof generation, export + verification time."""
    from benchmarks.ledger import run_ledger_bench

    base = Path(tempfile.mkdtemp(prefix="datasoc-ledger-bench-", dir=workdir))
    try:
        figures = run_ledger_bench(
            base, entries=entries, batch=batch, now=_now(), progress=lambda m: click.echo(m, err=True)
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    if as_json:
        click.echo(json.dumps(figures, sort_keys=True))
        return
    f = figures
    click.echo(f"entries: {f['entries']} (mean {f['mean_entry_bytes']:.0f} bytes), batch {f['batch']}")
    click.echo(f"raw SM3 leaf hashing:        {f['raw_sm3_leaf_hashes_per_s']:>12,.0f} /s  (ceiling)")
    click.echo(f"durable appends (batched):   {f['durable_appends_per_s']:>12,.0f} /s  (target >= 50,000)")
    click.echo(
        f"durable appends (8 threads): {f['group_commit_appends_per_s']:>12,.0f} /s  "
        f"({f['group_commit_appender_calls']} calls shared {f['group_commit_fsyncs']} fsyncs)"
    )
    click.echo(f"entry drafts built:          {f['drafts_per_s']:>12,.0f} /s")
    click.echo(f"inclusion proof generation:  {f['inclusion_proof_us']:>12.1f} us")
    click.echo(f"checkpoint signing (SM2):    {f['checkpoint_sign_ms']:>12.1f} ms")
    click.echo(f"export of all entries:       {f['export_s']:>12.1f} s  ({f['export_mb']:.1f} MB)")
    click.echo(f"verify export (every proof): {f['verify_export_s']:>12.1f} s  (target <= 30 s at 1M)")
    click.echo(
        f"export by one actor (index): {f['export_actor_s']:>12.1f} s  "
        f"(verified complete: {f['verify_actor_complete']}, {f['verify_actor_entries']} entries, "
        f"{f['verify_actor_s']:.1f} s)"
    )
    click.echo(f"reopen (index rebuilt):      {f['reopen_s']:>12.1f} s")
    click.echo(f"verification: {f['verify_summary']}")


@click.command("ingest")
@click.option("--events", type=click.IntRange(min=1000), default=200_000, show_default=True)
@click.option(
    "--batch", type=click.IntRange(min=1), default=1000, show_default=True, help="Events per request."
)
@click.option("--clients", type=click.IntRange(min=1), default=4, show_default=True, help="Connections.")
@click.option("--event-size", type=click.IntRange(min=300), default=500, show_default=True, help="Bytes.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the spools go (default: a temporary directory under the current one, removed after).",
)
@click.option("--gzip", "use_gzip", is_flag=True, help="Send gzip-compressed bodies.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
def bench_ingest(
    events: int,
    batch: int,
    clients: int,
    event_size: int,
    directory: Path | None,
    use_gzip: bool,
    as_json: bool,
) -> None:
    """HTTP bulk ingest with durable acknowledgement vs the spool's own append rate (接入基准)."""
    from benchmarks.ingest import bench_ingest as run
    from benchmarks.ingest import format_report

    # /tmp is often a tmpfs where fsync costs nothing; the current directory is a real disk more often.
    owned = directory is None
    where = (
        Path(tempfile.mkdtemp(prefix=".datasoc-bench-", dir=Path.cwd())) if directory is None else directory
    )
    try:
        figures = run(
            where, events=events, batch=batch, clients=clients, event_size=event_size, gzip=use_gzip
        )
    finally:
        if owned:
            shutil.rmtree(where, ignore_errors=True)
    click.echo(json.dumps(figures, sort_keys=True) if as_json else format_report(figures))


@click.command("detect")
@click.option("--sigma", "sigma_dir", type=click.Path(path_type=Path), default=None, help="SigmaHQ checkout.")
@click.option("--events", "events_path", type=click.Path(path_type=Path), default=None, help="dev.jsonl")
@click.option("--target", default=100_000, show_default=True, help="Engine events (replicated).")
@click.option("--pipeline", "pipeline_name", default="default", show_default=True, help="Both sides.")
@click.option("--no-baseline", is_flag=True, help="Skip the pySigma SQLite baseline.")
@click.option(
    "--pack", "pack_dir", type=click.Path(path_type=Path), default=None, help="Also time this rule pack."
)
@click.option(
    "--pack-events",
    type=click.Path(path_type=Path),
    default=None,
    help="Events for --pack (default: the demo's parsed events, seed 7, scale 10).",
)
@click.option("--peer", is_flag=True, help="Headline: datasoc detect against Zircolite, end to end.")
@click.option(
    "--replicas",
    multiple=True,
    type=click.IntRange(min=1),
    default=(1, 10),
    show_default=True,
    help="With --peer: inputs of the events repeated this many times.",
)
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True, help="Runs per tool.")
@click.option(
    "--peer-dir", type=click.Path(path_type=Path), default=None, help="Zircolite (../shared/peers/zircolite)."
)
@click.option(
    "--peer-cache",
    type=click.Path(path_type=Path),
    default=None,
    help="Where Zircolite's virtual environment is built and kept [default: ~/.cache/datasoc/peers].",
)
def bench_detect(
    sigma_dir: Path | None,
    events_path: Path | None,
    target: int,
    pipeline_name: str,
    no_baseline: bool,
    pack_dir: Path | None,
    pack_events: Path | None,
    peer: bool,
    replicas: tuple[int, ...],
    repeat: int,
    peer_dir: Path | None,
    peer_cache: Path | None,
) -> None:
    """datasoc detect vs Zircolite end to end (--peer), and the engine vs pySigma SQLite in memory:
    events/s, ratio, compile time, peak memory (检测基准)."""
    from benchmarks.detect import SIGMA_RULE_DIRS, run
    from detection.errors import DetectionError

    # The shared data sits next to the repository (`<repo>/../shared/data`), as in the tests.
    shared = _SHARED
    sigma_dir = sigma_dir or shared / "sigma"
    events_path = events_path or shared / "evtx-attack" / "dev.jsonl"
    if not sigma_dir.is_dir() or not events_path.is_file():
        raise click.ClickException(
            f"need {sigma_dir} (git clone https://github.com/SigmaHQ/sigma) and {events_path} "
            "(EVTX-ATTACK-SAMPLES converted to evtx_dump JSON lines); pass --sigma and --events"
        )
    rule_dirs = [sigma_dir / name for name in SIGMA_RULE_DIRS if (sigma_dir / name).is_dir()]
    if peer:
        _peer_report(rule_dirs, events_path, replicas, repeat, peer_dir, peer_cache)
        click.echo("")
        click.echo("engine in process, against pySigma's SQLite backend (Zircolite's method) per event:")
    try:
        result = run(
            rule_dirs, events_path, target=target, pipeline_name=pipeline_name, with_baseline=not no_baseline
        )
        for line in result.lines():
            click.echo(line)
        if pack_dir is not None:
            pack = run(
                [pack_dir],
                pack_events or _demo_events(),
                target=target,
                pipeline_name="default",
                with_baseline=False,
            )
            click.echo(f"own rule pack ({pack.rules} rules): {pack.engine_rate:,.0f} events/s")
    except DetectionError as exc:
        raise click.ClickException(str(exc)) from exc


def _peer_report(
    rule_dirs: list[Path],
    events_path: Path,
    replicas: tuple[int, ...],
    repeat: int,
    peer_dir: Path | None,
    peer_cache: Path | None,
) -> None:
    """`--peer`: build Zircolite's environment if needed, then both tools side by side."""
    import importlib.metadata
    import os
    import platform
    import sys

    from benchmarks.peer import Setup, cold_start, compare, peer_venv, replicate_file

    peer_dir = peer_dir or _REPO.parent / "shared" / "peers" / "zircolite"
    if not (peer_dir / "zircolite.py").is_file():
        raise click.ClickException(f"Zircolite not found at {peer_dir}: pass --peer-dir")
    cache_root = peer_cache or Path.home() / ".cache" / "datasoc" / "peers"
    click.echo(f"Zircolite environment under {cache_root} (built on first use)...", err=True)
    try:
        python = peer_venv(peer_dir, cache_root)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise click.ClickException(f"cannot build Zircolite's environment: {exc}") from exc
    datasoc = shutil.which("datasoc") or str(Path(sys.executable).with_name("datasoc"))
    rules = _count_rules(rule_dirs)
    with tempfile.TemporaryDirectory(prefix="datasoc-bench-peer-") as scratch_name:
        scratch = Path(scratch_name)
        setup = Setup(peer_dir, python, (datasoc,), tuple(rule_dirs), rules, scratch / "rule-cache", scratch)
        inputs = []
        for copies in replicas:
            target = scratch / f"events-x{copies}.jsonl"
            inputs.append((copies, target, replicate_file(events_path, copies, target)))
        cold = cold_start(setup, inputs[0][1])
        load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
        version = importlib.metadata.version("datasoc")
        click.echo(
            f"datasoc {version} detect vs Zircolite 3.7 ({peer_dir}), {repeat} alternating runs each; "
            f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load[0]:.2f} at start"
        )
        click.echo(
            f"datasoc: {rules} SigmaHQ rules (compiled-rule cache filled by one untimed cold run: "
            f"{cold.seconds:.1f} s, {cold.peak_tree_mib:.0f} MiB); Zircolite: its pre-converted generic "
            "Windows rules. Wall time from start to exit (last match written); peak RSS of the process tree"
        )
        rows = []
        for copies, path, count in inputs:
            label = f"{events_path.name} x{copies}"
            comparison = compare(setup, label, path, count, repeat=repeat)
            for line in comparison.lines():
                click.echo(line)
            rows.append(comparison)
        load_end = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
        click.echo(f"load average {load_end[0]:.2f} at end. README rows:")
        for c in rows:
            click.echo(
                f"| {c.label} ({c.events:,} events) | datasoc {c.ours.median_seconds:.2f} s, "
                f"{c.ours.peak_mib:.0f} MiB | Zircolite {c.peer.median_seconds:.2f} s, "
                f"{c.peer.peak_mib:.0f} MiB | **{c.ratio:.1f}x** | `datasoc bench detect --peer` |"
            )


def _count_rules(rule_dirs: list[Path]) -> int:
    from detection.engine import RuleSet

    return len(RuleSet.load(rule_dirs, pipeline="default").rules)


def _demo_events() -> Path:
    """The demo's parsed events (seed 7, 2 days, scale 10) as JSON lines in a scratch file."""
    import tempfile
    from datetime import UTC, datetime

    from datasoc.event import Event
    from soc_api.commands.edge import new_id
    from soc_api.demo import generate, write_demo
    from soc_api.demo.replay import replay

    scratch = Path(tempfile.mkdtemp(prefix="datasoc-bench-demo-"))
    write_demo(generate(seed=7, start=datetime(2026, 3, 2, tzinfo=UTC), scale=10.0), scratch)
    now = datetime(2026, 3, 5, tzinfo=UTC)
    out = scratch / "events.jsonl"
    with out.open("w", encoding="utf-8") as handle:
        for item in replay(scratch, now=now, new_id=new_id):
            if isinstance(item.result, Event):
                handle.write(json.dumps(item.result.to_dict(), ensure_ascii=False) + "\n")
    return out


@click.command("stream")
@click.option("--events", "n_events", type=click.IntRange(1000), default=100_000, show_default=True)
@click.option(
    "--pack", "pack_dir", type=click.Path(path_type=Path), default=None, help="Rule pack directory."
)
@click.option(
    "--sigma", "sigma_dir", type=click.Path(path_type=Path), default=None, help="SigmaHQ rules dir."
)
@click.option("--sigma-events", type=click.Path(path_type=Path), default=None, help="evtx_dump JSON lines.")
@click.option("--parallelism", "parallelisms", multiple=True, type=int, default=(1, 2), show_default=True)
@click.option(
    "--modes", multiple=True, type=click.Choice(["thread", "process"]), default=("thread", "process")
)
@click.option("--latency-rate", type=click.IntRange(0), default=1_000, show_default=True, help="Events/s.")
@click.option("--latency-seconds", type=click.FloatRange(1), default=10.0, show_default=True)
@click.option(
    "--allowed-lateness",
    type=click.FloatRange(0),
    default=None,
    metavar="SECONDS",
    help="Correlation lateness of both engines (default: detection.allowed_lateness_seconds).",
)
@click.option(
    "--cluster",
    is_flag=True,
    help="Also run the Kafka job on a standalone Flink cluster (started from services/, with a broker).",
)
@click.option("--json", "as_json", is_flag=True, help="Also print every figure as JSON lines.")
def bench_stream(
    n_events: int,
    pack_dir: Path | None,
    sigma_dir: Path | None,
    sigma_events: Path | None,
    parallelisms: tuple[int, ...],
    modes: tuple[str, ...],
    latency_rate: int,
    latency_seconds: float,
    allowed_lateness: float | None,
    cluster: bool,
    as_json: bool,
) -> None:
    """Events/s through the Flink job vs the in-process engine; alert latency p50/p95 (流式检测基准)."""
    from benchmarks.detect import SIGMA_RULE_DIRS, read_events, replicate
    from benchmarks.stream import continued, engine_rate, synthetic_events, with_envelope
    from datasoc.settings import DetectionSettings
    from soc_api.stream.rules import rule_texts

    pack = pack_dir or (_REPO / "rules" if any((_REPO / "rules").glob("**/*.yml")) else _TEST_PACK)
    pack_texts = rule_texts([pack])
    workloads: list[tuple[str, dict[str, str], list[bytes]]] = []
    synthetic = with_envelope(synthetic_events(n_events))
    workloads.append(("pack-synth", pack_texts, [json.dumps(e).encode() for e in synthetic]))
    demo = [json.loads(line) for line in _demo_events().read_text(encoding="utf-8").splitlines()]
    events = with_envelope(continued(demo, n_events))
    workloads.append(("pack-demo", pack_texts, [json.dumps(e, ensure_ascii=False).encode() for e in events]))
    sigma_dir = sigma_dir or _SHARED / "sigma"
    sigma_events = sigma_events or _SHARED / "evtx-attack" / "dev.jsonl"
    if sigma_dir.is_dir() and sigma_events.is_file():
        texts: dict[str, str] = {}
        for name in SIGMA_RULE_DIRS:
            root = sigma_dir / name
            if root.is_dir():
                texts.update({f"{name}/{key}": text for key, text in rule_texts([root]).items()})
        windows = with_envelope(replicate(read_events(sigma_events), n_events // 2))
        workloads.append(("sigmahq", texts, [json.dumps(e).encode() for e in windows]))
    else:
        click.echo(f"SigmaHQ run skipped: {sigma_dir} or {sigma_events} is absent")

    lateness = timedelta(
        seconds=DetectionSettings().allowed_lateness_seconds if allowed_lateness is None else allowed_lateness
    )
    with contextlib.ExitStack() as stack:
        servers = _cluster_servers(stack) if cluster else None
        for label, texts, lines in workloads:
            rate, expected = engine_rate(texts, "default", lines, allowed_lateness=lateness)
            click.echo(f"{label}: {len(texts)} rule files, {len(lines)} events, in-process {rate:,.0f} ev/s")
            _stream_runs(
                label,
                texts,
                lines,
                expected,
                rate,
                modes,
                parallelisms,
                lateness,
                servers,
                as_json,
                latency_rate if label == "pack-synth" else 0,
                latency_seconds,
            )


def _cluster_servers(stack: contextlib.ExitStack) -> tuple[Any, Any]:
    """A broker and a standalone Flink cluster from services/, stopped when `stack` closes."""
    from services import create

    kafka, flink = create("kafka"), create("flink")
    for server in (kafka, flink):
        stack.callback(server.close)
        server.start()
    for server in (kafka, flink):
        click.echo(f"{server.name} ready after {server.wait_ready():.1f} s at {server.address}")
    return kafka, flink


def _stream_runs(
    label: str,
    texts: dict[str, str],
    lines: list[bytes],
    expected: int,
    rate: float,
    modes: tuple[str, ...],
    parallelisms: tuple[int, ...],
    lateness: timedelta,
    servers: tuple[Any, Any] | None,
    as_json: bool,
    latency_rate: int,
    latency_seconds: float,
) -> None:
    """The MiniCluster runs of one workload, then the cluster's (at each parallelism)."""
    from benchmarks.stream import run_job
    from benchmarks.stream_cluster import run_cluster_job

    runs: list[Any] = []
    for mode in modes:
        for parallelism in parallelisms:
            runs.append(
                lambda mode=mode, parallelism=parallelism: run_job(
                    label,
                    texts,
                    lines,
                    expected,
                    parallelism=parallelism,
                    mode=mode,
                    allowed_lateness=lateness,
                    latency_rate=latency_rate,
                    latency_seconds=latency_seconds,
                    in_process_rate=rate,
                )
            )
    if servers is not None:
        kafka, flink = servers

        def fresh_cluster() -> bool:
            # PyFlink's thread mode loads its native library once per TaskManager JVM: a second
            # Python job on the same TaskManagers fails (`NoSuchFieldException:
            # loadedLibraryNames`, measured on Java 17). Each run gets restarted TaskManagers.
            flink.stop()
            flink.start()
            flink.wait_ready()
            return False

        for parallelism in parallelisms:
            runs.append(
                lambda parallelism=parallelism: (
                    fresh_cluster()
                    or run_cluster_job(
                        label,
                        texts,
                        lines,
                        expected,
                        bootstrap=kafka.address,
                        jobmanager=flink.address,
                        client_environment=flink.client_environment(),
                        parallelism=parallelism,
                        allowed_lateness=lateness,
                        in_process_rate=rate,
                    )
                )
            )
    for run in runs:
        figures = run()
        click.echo("  " + figures.line())
        if as_json:
            click.echo(json.dumps({**figures.__dict__, "rate": figures.rate, "ratio": figures.ratio}))


@click.command("signin")
@click.option("--concurrency", type=click.IntRange(1, 200), default=20, show_default=True)
@click.option("--rounds", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
def bench_signin(concurrency: int, rounds: int, as_json: bool) -> None:
    """Sign-in p50/p99 under concurrent load with the production argon2id parameters, next to the
    raw argon2id verify time (登录延迟)."""
    from benchmarks.signin import format_signin_report, run_signin_bench
    from soc_api.identity.passwords import Argon2Params

    with tempfile.TemporaryDirectory(dir=".") as tmp:
        figures = run_signin_bench(Path(tmp), concurrency=concurrency, rounds=rounds, params=Argon2Params())
    click.echo(json.dumps(figures) if as_json else format_signin_report(figures))


@click.command("platform")
@click.option(
    "--rates",
    default="10000,15000,20000,25000",
    show_default=True,
    help="Comma-separated events/s, tried in turn on one running platform.",
)
@click.option("--seconds", type=click.FloatRange(10), default=60.0, show_default=True, help="Per rate.")
@click.option("--batch", type=click.IntRange(10), default=1000, show_default=True, help="Events per request.")
@click.option("--clients", type=click.IntRange(1), default=2, show_default=True, help="Connections.")
@click.option("--lag-seconds", type=click.FloatRange(0.5), default=5.0, show_default=True)
@click.option("--engine", type=click.Choice(["flink", "inprocess"]), default="flink", show_default=True)
@click.option(
    "--transport",
    "transports",
    multiple=True,
    type=click.Choice(["spool", "kafka"]),
    default=("spool",),
    show_default=True,
    help="Repeat to run each side by side.",
)
@click.option(
    "--bootstrap", default=None, help="Kafka host:port (default: start a test broker from services/)."
)
@click.option("--json", "as_json", is_flag=True, help="Also print every figure as JSON lines.")
def bench_platform(
    rates: str,
    seconds: float,
    batch: int,
    clients: int,
    lag_seconds: float,
    engine: str,
    transports: tuple[str, ...],
    bootstrap: str | None,
    as_json: bool,
) -> None:
    """The whole `datasoc run` process at constant rates: highest sustained rate, and p50/p95/p99 from
    acknowledgement to searchable, ledgered and alerted, on the spool and/or Kafka (平台整体基准)."""
    import dataclasses

    from benchmarks.platform import format_results, run_rates

    wanted = [int(r) for r in rates.split(",") if r.strip()]
    with contextlib.ExitStack() as stack:
        if "kafka" in transports and bootstrap is None:
            from services import create

            broker = create("kafka")
            stack.callback(broker.close)
            broker.start()
            broker.wait_ready()
            bootstrap = broker.address
        for transport in transports:
            with tempfile.TemporaryDirectory(prefix=".datasoc-bench-", dir=Path.cwd()) as directory:
                results = run_rates(
                    Path(directory),
                    wanted,
                    seconds=seconds,
                    batch=batch,
                    lag_seconds=lag_seconds,
                    engine=engine,
                    clients=clients,
                    kafka=bootstrap if transport == "kafka" else None,
                )
            click.echo(format_results(results, engine, transport))
            if as_json:
                for result in results:
                    click.echo(json.dumps({"transport": transport, **dataclasses.asdict(result)}))


@click.command("discovery")
@click.option(
    "--count", type=click.IntRange(min=10), default=2000, show_default=True, help="Valid values per kind."
)
@click.option("--seed", type=int, default=20260301, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Also print each score as a JSON line.")
def bench_discovery(count: int, seed: int, as_json: bool) -> None:
    """Sensitive-data discovery: precision and recall per kind on generated values with valid and
    invalid check digits, beside the format-only regular expression a user would write instead."""
    import dataclasses

    from benchmarks.discovery import corpus, format_scores, score

    values = corpus(count, seed)
    scores = score(values)
    click.echo(format_scores(scores, count, len(values)))
    if as_json:
        for item in scores:
            click.echo(
                json.dumps({**dataclasses.asdict(item), "precision": item.precision, "recall": item.recall})
            )


@click.command("alerts")
@click.option(
    "--alerts", "count", type=click.IntRange(1000), default=20_000, show_default=True, help="Intake part."
)
@click.option(
    "--rate", type=click.IntRange(10), default=2_000, show_default=True, help="Alerts/s, paced part."
)
@click.option(
    "--seconds",
    type=click.FloatRange(1),
    default=60.0,
    show_default=True,
    help="Paced part (sustained: the store and the ledger grow as it runs).",
)
@click.option(
    "--channel-batch",
    type=click.IntRange(1, 500),
    default=100,
    show_default=True,
    help="Notifications per webhook request (1: one request each, bounded by the plain-webhook row).",
)
@click.option("--json", "as_json", is_flag=True, help="Also print the figures as JSON lines.")
def bench_alerts(count: int, rate: int, seconds: float, channel_batch: int, as_json: bool) -> None:
    """Alert intake and notification throughput with the outbox durable, next to raw SQLite inserts and a
    plain webhook (预警入库与通知吞吐).

    Target: 2,000 alerts/s into the store, no notification later than 5 s after its alert."""
    from benchmarks.alerts import format_report, run_intake, run_paced

    with tempfile.TemporaryDirectory(prefix=".datasoc-bench-", dir=Path.cwd()) as directory:
        intake = run_intake(Path(directory), alerts=count)
        paced = run_paced(Path(directory), rate=rate, seconds=seconds, channel_batch=channel_batch)
    click.echo(format_report(intake, paced))
    if as_json:
        click.echo(json.dumps(intake))
        click.echo(json.dumps(paced))


BENCHES: list[click.Command] = [
    bench_spool,
    bench_store,
    bench_transport,
    bench_ledger,
    bench_ingest,
    bench_detect,
    bench_stream,
    bench_signin,
    bench_platform,
    bench_discovery,
    bench_alerts,
]
