"""`datasoc bench transport` runs spool and Kafka side by side (a smoke test: no timing is asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from services import Server
from soc_api.cli import cli


def test_bench_transport_spool_beside_kafka(
    kafka_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    args = ["bench", "transport", "--records", "2000", "--batch-size", "100", "--threads", "2"]
    result = CliRunner().invoke(cli, [*args, "--url", kafka_server.address, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert set(figures) == {"spool", "kafka"}
    for side in figures.values():
        assert side["records"] == side["read_back"] == 2000
        assert side["append_records_per_s"] > 0
    assert not list(tmp_path.iterdir())  # the scratch spool is removed
