"""`datasoc bench ingest` and `ingest-token` (soc_api/commands/collect.py), run through click."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.commands import bench_ingest
from benchmarks.ingest import format_report, make_event


def test_bench_events_have_the_requested_size() -> None:
    assert len(make_event(7, 500)) == 500
    assert len(make_event(7, 900)) == 900


@pytest.mark.slow
def test_bench_ingest_reports_http_and_spool_rates(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        bench_ingest,
        ["--events", "3000", "--batch", "500", "--clients", "2", "--dir", str(tmp_path), "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert (figures["http_accepted"], figures["http_failed_requests"]) == (3000, 0)
    assert figures["http_events_per_s"] > 0
    assert figures["spool_events_per_s"] > 0
    report = format_report(figures)
    assert "HTTP bulk ingest, durable 200" in report
    assert "ratio HTTP / spool" in report


def test_ingest_token_prints_the_token_once_and_only_its_digest_on_stdout() -> None:
    from collectors.inputs.tokens import TokenStore
    from soc_api.commands.collect import ingest_token

    result = CliRunner().invoke(ingest_token, ["--source", "gw-1", "--parser", "apigw_json"])
    assert result.exit_code == 0, result.output
    token = result.stderr.rsplit(": ", 1)[1].strip()
    entry = json.loads(result.stdout)
    assert token not in result.stdout
    assert TokenStore.from_dict(entry).authenticate(f"Bearer {token}").parser == "apigw_json"
    bad = CliRunner().invoke(ingest_token, ["--source", "x", "--parser", "nope"])
    assert bad.exit_code != 0
