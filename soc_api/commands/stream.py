"""`datasoc stream` (the detection job next to the spool) and `datasoc bench stream`.

Command objects for the registry: `stream` (add to COMMANDS) and `bench_stream` (add to BENCHES).
"""

from __future__ import annotations

import signal
from pathlib import Path
from types import FrameType

import click

from datasoc.errors import DatasocError
from soc_api.commands.edge import flink_logs_in
from soc_api.commands.edge import now as _now


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
@click.option(
    "--allowed-lateness",
    type=click.FloatRange(0, 86_400),
    default=None,
    metavar="SECONDS",
    help="Correlation lateness (default: detection.allowed_lateness_seconds).",
)
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
    allowed_lateness: float | None,
    checkpoint_ms: int,
    no_resume: bool,
    interval: float,
) -> None:
    """Run the detection job (流式检测): spool events -> Flink job -> committed alerts in the spool.

    Holds the spool (one process per spool), exports events to the job, feeds rule changes from
    --rules, and moves checkpoint-committed alerts into the `alerts` topic, until stopped. A job
    that stopped (failed past its restart strategy, or cancelled) is started again from its last
    checkpoint.
    """
    import threading

    from datasoc.logging import get_logger
    from detection.stream.config import StreamConfig, StreamConfigError
    from soc_api.commands.platform import _settings
    from soc_api.platform import Platform
    from soc_api.stream.runner import StreamRunner

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
    if allowed_lateness is None:
        allowed_lateness = settings.detection.allowed_lateness_seconds
    try:
        job_config = StreamConfig.under(
            settings.data_dir / "stream",
            parallelism=parallelism,
            execution_mode=execution_mode,
            jobmanager=jobmanager,
            allowed_lateness_ms=round(1000 * allowed_lateness),
            pipeline=settings.detection.pipeline,
            checkpoint_interval_ms=checkpoint_ms,
        )
    except StreamConfigError as exc:
        platform.close()
        raise click.ClickException(str(exc)) from None
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
                status = runner.status()
                if status.stopped and not jobmanager:  # a cluster restarts its own jobs
                    log.error(
                        "stream_job_stopped", state=status.state, error=status.last_error, lag=status.lag
                    )
                    restarted = runner.restart(now=_now())
                    log.info(
                        "stream_restarted", restored_from=restarted.restore_from, restarts=runner.restarts
                    )
        finally:
            runner.stop()
    except DatasocError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        platform.close()
