"""The spool benchmark function and its `datasoc bench spool` command (figures, not speed)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from benchmarks.commands import bench_spool as bench_spool_command
from benchmarks.spool import bench_spool


def test_bench_spool_reports_consistent_figures_and_cleans_up(tmp_path: Path) -> None:
    figures = bench_spool(tmp_path, records=1050, record_size=64, batch_size=100, threads=3)
    assert figures["batches"] == 11
    assert figures["payload_bytes"] == 1050 * 64
    assert figures["spool_bytes_on_disk"] > figures["payload_bytes"]
    assert figures["plain_fsyncs"] == 11
    assert 1 <= figures["spool_fsyncs"] <= 11
    assert figures["spool_records_per_s"] > 0
    assert figures["ratio_spool_to_plain"] == figures["spool_records_per_s"] / figures["plain_records_per_s"]
    assert list(tmp_path.iterdir()) == []


def test_bench_spool_command_prints_table_and_json(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["--dir", str(tmp_path), "--records", "300", "--record-size", "50", "--batch-size", "30"]
    table = runner.invoke(bench_spool_command, [*args, "--threads", "2"])
    assert table.exit_code == 0, table.output
    assert "spool, group commit" in table.output
    assert "plain file, fsync per batch" in table.output
    assert "ratio spool / plain:" in table.output
    as_json = runner.invoke(bench_spool_command, [*args, "--repeat", "3", "--json"])
    assert as_json.exit_code == 0, as_json.output
    figures = json.loads(as_json.output)
    assert figures["records"] == 300
    assert figures["repeat"] == 3
    assert figures["plain_fsyncs"] == 10


def test_bench_spool_command_rejects_zero_records() -> None:
    result = CliRunner().invoke(bench_spool_command, ["--records", "0"])
    assert result.exit_code == 2
    assert "--records" in result.output
