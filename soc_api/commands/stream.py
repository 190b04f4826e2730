"""`datasoc stream` (the detection job next to the spool) and `datasoc bench stream`.

Command objects for the registry: `stream` (add to COMMANDS) and `bench_stream` (add to BENCHES).
"""

from __future__ import annotations

import json
import signal
from datetime import timedelta
from pathlib import Path
from types import FrameType

import click

from datasoc.errors import DatasocError
from soc_api.commands.edge import flink_logs_in
from soc_api.commands.edge import now as _now

_REPO = Path(__file__).resolve().parents[2]
_SHARED = _REPO.parent / "shared" / "data"
_TEST_PACK = _REPO / "tests" / "detection" / "stream" / "rules"


@click.command("stream")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), help="TOML settings file.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Overrides data_dir.")
@click.option(
    "--rules",
    "rule_dirs",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Rule files or directories (the rule store); changes are applied live.",
)
@click.option("--parallelism", type=click.IntRange(1, 64), default=1, show_default=True)
@click.option(
    "--execution-mode", type=click.Choice(["thread", "process"]), default="thread", show_default=True
)
@click.option(
    "--jobmanager", default=None, help="host:port of a Flink cluster (default: embedded MiniCluster)."
)
@click.option("--out-of-orderness-ms", type=click.IntRange(0), default=5_000, show_default=True)
@click.option("--checkpoint-ms", type=click.IntRange(50), default=500, show_default=True)
@click.option("--no-resume", is_flag=True, help="Do not resume from the last retained checkpoint.")
@click.option("--interval", type=click.FloatRange(0.05, 60), default=0.4, show_default=True)
def stream(
    config: Path | None,
    data_dir: Path | None,
    rule_dirs: tuple[Path, ...],
    parallelism: int,
    execution_mode: str,
    jobmanager: str | None,
    out_of_orderness_ms: int,
    checkpoint_ms: int,
    no_resume: bool,
    interval: float,
) -> None:
    """Run the detection job (流式检测): spool events -> Flink job -> committed alerts in the spool.

    Holds the spool (one process per spool), exports events to the job, feeds rule changes from
    --rules, and moves checkpoint-committed alerts into the `alerts` topic, until stopped.
    """
    import threading

    from datasoc.logging import get_logger
    from detection.stream.config import StreamConfig
    from detection.stream.runner import StreamRunner
    from soc_api.commands.platform import _settings
    from soc_api.platform import Platform

    settings = _settings(config, data_dir)
    flink_logs_in(settings.data_dir / "stream" / "log")
    log = get_logger("stream")
    try:
        platform = Platform.open(settings, now=_now())
    except DatasocError as exc:
        raise click.ClickException(str(exc)) from None
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    job_config = StreamConfig.under(
        settings.data_dir / "stream",
        parallelism=parallelism,
        execution_mode=execution_mode,
        jobmanager=jobmanager,
        out_of_orderness_ms=out_of_orderness_ms,
        checkpoint_interval_ms=checkpoint_ms,
    )
    try:
        runner = StreamRunner(platform.spool, job_config, rule_dirs)
        started = runner.start(resume=not no_resume)
        if runner.skipped_checkpoint is not None:
            log.warning("stream_state_layout_changed", skipped_checkpoint=str(runner.skipped_checkpoint))
        log.info("stream_started", restored_from=started.restore_from, jobmanager=jobmanager)
        try:
            while not stop.wait(interval):
                report = runner.tick(now=_now())
                if report.appended or report.invalid:
                    log.info("alerts_committed", appended=report.appended, duplicates=report.duplicates)
        finally:
            runner.stop()
    except DatasocError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        platform.close()


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
    as_json: bool,
) -> None:
    """Events/s through the Flink job vs the in-process engine; alert latency p50/p95 (流式检测基准)."""
    from detection.bench import SIGMA_RULE_DIRS, read_events, replicate
    from detection.stream.bench import continued, engine_rate, run_job, synthetic_events, with_envelope
    from detection.stream.runner import rule_texts
    from soc_api.commands.detect import _demo_events

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

    for label, texts, lines in workloads:
        rate, expected = engine_rate(texts, "default", lines, allowed_lateness=timedelta(seconds=5))
        click.echo(f"{label}: {len(texts)} rule files, {len(lines)} events, in-process {rate:,.0f} ev/s")
        for mode in modes:
            for parallelism in parallelisms:
                figures = run_job(
                    label,
                    texts,
                    lines,
                    expected,
                    parallelism=parallelism,
                    mode=mode,  # type: ignore[arg-type]
                    latency_rate=latency_rate if label == "pack-synth" else 0,
                    latency_seconds=latency_seconds,
                    in_process_rate=rate,
                )
                click.echo("  " + figures.line())
                if as_json:
                    click.echo(json.dumps({**figures.__dict__, "rate": figures.rate, "ratio": figures.ratio}))
