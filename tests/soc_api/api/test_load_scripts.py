"""The load scripts in `load/` against a real collector process on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.ingest import SCRAPE_HEADERS, CollectorProcess, write_tokens

REPO = Path(__file__).resolve().parents[3]
TOKEN = "load-test-token-0123456789"


def _sources(port: int) -> dict[str, Any]:
    answer: list[dict[str, Any]] = httpx.get(
        f"http://127.0.0.1:{port}/api/v1/sources", headers=SCRAPE_HEADERS, timeout=10
    ).json()
    return {item["name"]: item for item in answer}


def _wait_accepted(port: int, source: str, at_least: int, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        item: dict[str, Any] = _sources(port).get(source, {"accepted_total": 0})
        if item["accepted_total"] >= at_least or time.monotonic() > deadline:
            return item
        time.sleep(0.1)


@pytest.mark.slow
def test_locust_scenario_runs_headless_against_a_collector(tmp_path: Path) -> None:
    locust = shutil.which("locust", path=str(Path(sys.executable).parent))
    if locust is None:
        pytest.skip("locust is not installed in this environment")
    tokens = write_tokens(tmp_path / "tokens.json", {TOKEN: {"source": "locust", "parser": None}})
    with CollectorProcess(tmp_path / "data", tokens, "--lag-consumer", "") as collector:
        collector.wait_ready()
        result = subprocess.run(
            [
                locust,
                "-f",
                str(REPO / "load" / "locustfile.py"),
                "--headless",
                "-u",
                "2",
                "-r",
                "2",
                "-t",
                "4s",
                "--host",
                f"http://127.0.0.1:{collector.http_port}",
                "--only-summary",
                "--stop-timeout",
                "5",
            ],
            env={**os.environ, "DATASOC_INGEST_TOKEN": TOKEN, "DATASOC_INGEST_BATCH": "200"},
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode()[-2000:]
        item = _wait_accepted(collector.http_port, "locust", 200)
    assert item["accepted_total"] >= 200
    assert item["rejected_total"] == 0


@pytest.mark.slow
def test_syslog_load_generator_over_tcp_and_udp(tmp_path: Path) -> None:
    tokens = write_tokens(tmp_path / "tokens.json", {})
    args = ("--syslog-tcp-port", "0", "--syslog-udp-port", "0", "--lag-consumer", "")
    with CollectorProcess(tmp_path / "data", tokens, *args) as collector:
        collector.wait_ready()
        script = str(REPO / "load" / "syslog_load.py")
        for proto, port, count in (
            ("tcp", collector.addresses["tcp"][1], 3000),
            ("udp", collector.addresses["udp"][1], 300),
        ):
            out = subprocess.run(
                [
                    sys.executable,
                    script,
                    "--proto",
                    proto,
                    "--port",
                    str(port),
                    "--count",
                    str(count),
                    "--rate",
                    "0" if proto == "tcp" else "3000",
                ],
                capture_output=True,
                timeout=60,
                check=True,
            )
            assert json.loads(out.stdout)["sent"] == count
        item = _wait_accepted(collector.http_port, "syslog", 3000 + 250)
        metrics = httpx.get(
            f"http://127.0.0.1:{collector.http_port}/metrics", headers=SCRAPE_HEADERS, timeout=10
        ).text
    assert item["rejected_total"] == 0
    assert 3250 <= item["accepted_total"] <= 3300
    assert 'datasoc_syslog_udp_dropped_total{cause="overload"}' in metrics


def test_syslog_load_generator_refuses_non_loopback_targets() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "load" / "syslog_load.py"), "--host", "192.0.2.1", "--port", "514"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert b"loopback" in result.stderr
