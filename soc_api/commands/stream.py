"""`datasoc stream`: the detection job alone next to the spool (the composition root's stream roles)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("stream")
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), help="TOML settings file.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), help="Overrides data_dir.")
@click.option(
    "--rules",
    "rule_dirs",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Rule files or directories (the rule store); changes are applied live (detection.rules).",
)
@click.option("--parallelism", type=click.IntRange(1, 64), default=None, help="detection.parallelism")
@click.option("--execution-mode", type=click.Choice(["thread", "process"]), default=None)
@click.option("--jobmanager", default=None, help="host:port of a Flink cluster (detection.jobmanager).")
@click.option(
    "--allowed-lateness",
    type=click.FloatRange(0, 86_400),
    default=None,
    metavar="SECONDS",
    help="Correlation lateness (detection.allowed_lateness_seconds).",
)
@click.option(
    "--checkpoint-ms", type=click.IntRange(50), default=None, help="detection.checkpoint_interval_ms"
)
@click.option(
    "--interval", type=click.FloatRange(0.05, 60), default=None, help="platform.step_interval_seconds"
)
def stream(
    config: Path | None,
    data_dir: Path | None,
    rule_dirs: tuple[Path, ...],
    parallelism: int | None,
    execution_mode: str | None,
    jobmanager: str | None,
    allowed_lateness: float | None,
    checkpoint_ms: int | None,
    interval: float | None,
) -> None:
    """Run the detection job alone (流式检测): spool events -> Flink job -> committed alerts.

    The composition root of `datasoc run` with only the detection step (its options override
    `[detection]`): it holds the spool, exports events to the job, feeds rule changes, moves
    checkpoint-committed alerts into the `alerts` topic, and restarts a job that stopped from its
    last checkpoint, until SIGINT/SIGTERM.
    """
    import asyncio
    import json

    from datasoc.gcpolicy import restore as restore_gc
    from datasoc.settings import DetectionSettings
    from soc_api.commands.platform import StartupRefused, _open_daemon, _settings, _start, _stop_on_signals
    from soc_api.daemon import Roles
    from soc_api.errors import FLOOR_ERRORS

    settings = _settings(config, data_dir)
    wanted = {
        "engine": "flink",
        "rules": tuple(rule_dirs) or None,
        "parallelism": parallelism,
        "execution_mode": execution_mode,
        "jobmanager": jobmanager,
        "allowed_lateness_seconds": allowed_lateness,
        "checkpoint_interval_ms": checkpoint_ms,
    }
    merged = {**settings.detection.model_dump(), **{k: v for k, v in wanted.items() if v is not None}}
    try:
        detection = DetectionSettings(**merged)  # validated (e.g. process mode needs a jobmanager)
    except ValueError as exc:
        raise StartupRefused(f"invalid option: {exc}") from None
    platform_settings = settings.platform
    if interval is not None:
        platform_settings = platform_settings.model_copy(update={"step_interval_seconds": interval})
    settings = settings.model_copy(update={"detection": detection, "platform": platform_settings})
    daemon = _open_daemon(settings, Roles.stream())
    try:
        _start(daemon)

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
