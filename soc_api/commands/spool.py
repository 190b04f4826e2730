"""`datasoc bench spool`: durable append throughput of the spool against a plain file writer."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import click


def format_report(figures: dict[str, float | int], directory: Path) -> str:
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
    from datasoc.transport.bench import bench_spool as run

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
        click.echo(format_report(figures, where))
