"""`datasoc bench store` runs the store benchmark and prints its figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from soc_api.cli import cli


def test_bench_store_prints_figures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["bench", "store", "--events", "2000", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["events"] == 2000
    assert figures["insert_events_per_s"] > 0
    assert not list(tmp_path.iterdir())  # the scratch store is removed
