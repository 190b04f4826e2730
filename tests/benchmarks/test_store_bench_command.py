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
    figures = json.loads(result.output)["sqlite"]
    assert figures["events"] == 2000
    assert figures["insert_events_per_s"] > 0
    assert not list(tmp_path.iterdir())  # the scratch store is removed


@pytest.mark.parametrize(
    "kind", [pytest.param(k, marks=pytest.mark.services(k)) for k in ("opensearch", "elasticsearch")]
)
def test_bench_store_on_a_search_engine_side_by_side(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    address = request.getfixturevalue(f"{kind}_server").address
    args = ["bench", "store", "--events", "2000", "--backend", "sqlite", "--backend", kind]
    result = CliRunner().invoke(cli, [*args, "--url", f"{kind}={address}", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert set(figures) == {"sqlite", kind}
    for side in figures.values():
        assert side["events"] == 2000
        assert side["purged"] == 2000 // 7 + 1  # the first of the seven days, on both
    assert figures[kind]["insert_events_per_s"] > 0
