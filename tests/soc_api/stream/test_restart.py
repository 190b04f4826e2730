"""Supervision: a job that was cancelled, or that failed past its restart strategy, comes back from its
last retained checkpoint through `StreamRunner.restart`, and every alert is committed exactly once.

Slow: one job start and two restarts.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from datasoc.transport import ALERTS, EVENTS, Spool
from detection.alerts import alert_id
from detection.stream.config import StreamConfig
from soc_api.stream.runner import StreamRunner, StreamStatus
from tests.detection.stream.conftest import NOW, RULES_DIR, make_event

CORE_DOWNLOAD = "5a0c1b9e-0d7e-4f43-9a11-000000000001"
FAILED_LOGINS = "5a0c1b9e-0d7e-4f43-9a11-000000000003"


def _round(n: int) -> tuple[list[bytes], set[str]]:
    """A core download (one alert) and three failed logins in 3 s (one correlation alert) per user."""
    events, expected = [], set()
    for u in range(5):
        user, start = f"r{n}-{u}", NOW + timedelta(minutes=10 * n, seconds=20 * u)
        events.append(make_event(f"{user}-dl", start, "dataset.download", user=user, classification="core"))
        expected.add(alert_id(CORE_DOWNLOAD, [f"{user}-dl"]))
        fails = [f"{user}-f{i}" for i in range(3)]
        for i, event_id in enumerate(fails):
            at = start + timedelta(seconds=1 + i)
            events.append(make_event(event_id, at, "user.login", user=user, outcome="failure"))
        expected.add(alert_id(FAILED_LOGINS, fails))
    return [json.dumps(e).encode() for e in events], expected


def _until(
    runner: StreamRunner, what: str, done: Callable[[StreamStatus], bool], timeout: float = 120
) -> None:
    """Tick the runner (as `datasoc run` does) until `done(status)`; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runner.tick(now=datetime.now(UTC))
        if done(runner.status()):
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {runner.status()}")


def supervise(runner: StreamRunner, now: datetime) -> bool:
    """One supervisor step (what the service's supervisor does): restart a stopped job."""
    if runner.status().stopped:
        runner.restart(now=now)
        return True
    return False


@pytest.mark.slow
def test_a_stopped_job_comes_back_and_alerts_stay_exactly_once(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path / "spool")
    config = StreamConfig.under(
        tmp_path / "job", checkpoint_interval_ms=300, allowed_lateness_ms=2_000, restart_attempts=0
    )
    rules = [RULES_DIR / "core_download.yml", RULES_DIR / "failed_login.yml"]
    runner = StreamRunner(spool, config, rules, idle_heartbeat=None)
    expected: set[str] = set()

    def feed(n: int) -> None:
        payloads, wanted = _round(n)
        spool.append(EVENTS, payloads, now=NOW)
        expected.update(wanted)

    def caught_up(status: StreamStatus) -> bool:
        return status.state == "RUNNING" and status.lag == 0

    try:
        assert runner.status().state == "NOT_STARTED"
        runner.start(resume=False)
        feed(0)
        _until(runner, "the first round", caught_up)
        assert not supervise(runner, datetime.now(UTC))  # running: nothing to do

        # Cancelled from outside (an operator, or the REST call of the issue before it was closed).
        feed(1)
        runner.tick(now=datetime.now(UTC))  # exported, possibly half evaluated
        runner.job_client.cancel().result()
        _until(runner, "the job to be cancelled", lambda s: s.state == "CANCELED", timeout=30)
        feed(2)  # arrives while the job is down
        assert supervise(runner, datetime.now(UTC))
        _until(runner, "the rounds after the cancel", caught_up)

        # A failure its restart strategy gives up on: the alert sink's directory is gone.
        alerts_dir = Path(config.alerts_dir)
        shutil.rmtree(alerts_dir)
        alerts_dir.write_text("not a directory")
        feed(3)
        _until(runner, "the job to fail", lambda s: s.state == "FAILED", timeout=90)
        failed = runner.status()
        assert failed.last_error
        assert failed.lag > 0  # round 3 is not committed
        alerts_dir.unlink()
        alerts_dir.mkdir(mode=0o700)
        assert supervise(runner, datetime.now(UTC))
        feed(4)
        _until(runner, "the rounds after the failure", caught_up)
        time.sleep(1.5)  # a few more checkpoints: anything duplicated would arrive now
        runner.tick(now=datetime.now(UTC))
        ids = [json.loads(r.payload)["alert.id"] for r in spool.read(ALERTS, 0, 10_000)]
        final = runner.status()
    finally:
        runner.stop()
        spool.close()
    assert len(ids) == len(set(ids))  # exactly once: nothing appended twice
    assert set(ids) == expected  # nothing lost
    assert runner.committer.total.invalid == 0
    assert (final.restarts, final.progress, final.lag) == (2, spool.range(EVENTS).end, 0)
