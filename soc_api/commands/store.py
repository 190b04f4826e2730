"""`datasoc bench store`: bulk insert, search, aggregation and purge of the SQLite event store."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click


@click.command("store")
@click.option("--events", type=click.IntRange(min=1000), default=100_000, show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as one JSON object.")
def bench_store(events: int, batch: int, as_json: bool) -> None:
    """Event store figures on a fresh SQLite file (事件库基准): insert rate, query latencies."""
    from datasoc.store.bench import bench_store as run

    # Under the current directory: /tmp is often a tmpfs, where fsync costs nothing.
    with tempfile.TemporaryDirectory(prefix=".datasoc-bench-", dir=Path.cwd()) as directory:
        figures = run(Path(directory) / "events.sqlite3", events, batch=batch)
    if as_json:
        click.echo(json.dumps(figures, ensure_ascii=False, sort_keys=True))
        return
    width = max(len(key) for key in figures)
    for key, value in figures.items():
        click.echo(f"{key:<{width}}  {value}")
