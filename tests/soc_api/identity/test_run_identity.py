"""`datasoc run` serves the API beside the collector; a token revoked from the CLI while it runs
is refused by the running collector within seconds (the CLI's entry reaches the ledger through
the outbox the running platform drains)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from soc_api.cli import cli
from tests.soc_api.datasoc_run import spawn_run_listening

pytestmark = pytest.mark.slow
EVENT = (
    b'{"@timestamp":"2026-12-01T10:00:00Z","event.action":"dataset.query",'
    b'"event.outcome":"success","log.original":"x"}\n'
)


def test_revocation_reaches_a_running_collector_and_the_api_is_served(tmp_path: Path) -> None:
    (tmp_path / "tokens.json").write_text("{}")
    made = CliRunner().invoke(
        cli, ["tokens", "add", "--data-dir", str(tmp_path), "--ingest", "--source", "gw-1"]
    )
    assert made.exit_code == 0, made.stderr
    token = made.stdout.strip()
    proc, ready = spawn_run_listening(tmp_path, {"DATASOC_DETECTION__ENGINE": "inprocess"}, interval=0.2)
    try:
        host, port = ready["http"]
        api_host, api_port = ready["api"]
        ingest = f"http://{host}:{port}/api/v1/ingest"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
        assert httpx.post(ingest, content=EVENT, headers=headers, timeout=10).status_code == 200
        # The collector port serves ingest only; source health is behind a permission on the API.
        assert httpx.get(f"http://{host}:{port}/api/v1/sources", timeout=10).status_code == 404
        answer = httpx.get(f"http://{api_host}:{api_port}/api/v1/sources", timeout=10)
        assert answer.status_code == 401
        assert answer.headers["content-type"] == "application/problem+json"
        listed = CliRunner().invoke(cli, ["tokens", "list", "--data-dir", str(tmp_path)])
        token_id = listed.stdout.split('"id": "')[1].split('"')[0]
        revoked = CliRunner().invoke(cli, ["tokens", "revoke", "--data-dir", str(tmp_path), token_id])
        assert revoked.exit_code == 0, revoked.stderr
        assert "ledgered by the running platform" in revoked.stderr
        started = time.monotonic()
        while httpx.post(ingest, content=EVENT, headers=headers, timeout=10).status_code == 200:
            assert time.monotonic() - started < 5, "the revoked token was still accepted after 5 s"
            time.sleep(0.1)
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-2000:]
