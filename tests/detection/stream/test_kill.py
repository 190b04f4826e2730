"""Fault tolerance: kill the job's process mid-stream, resume from the last retained checkpoint.

Every alert the input warrants (single-event and correlation) must reach the spool's `alerts` topic
exactly once: the committer counts any alert id it sees twice, and that count must be zero.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from datasoc.transport import ALERTS, EVENTS
from detection.alerts import alert_id
from detection.stream.config import StreamConfig
from soc_api.stream.runner import latest_checkpoint
from tests.detection.stream.conftest import NOW, make_event, open_platform, rule_texts

CORE_DOWNLOAD = "5a0c1b9e-0d7e-4f43-9a11-000000000001"
FAILED_LOGINS = "5a0c1b9e-0d7e-4f43-9a11-000000000003"
BATCHES = 24
USERS_PER_BATCH = 20


def _batch(b: int) -> tuple[list[dict[str, object]], set[str]]:
    """Per user: a core download (one alert) and three failed logins in 3 s (one correlation alert)."""
    events: list[dict[str, object]] = []
    expected: set[str] = set()
    for u in range(USERS_PER_BATCH):
        user = f"u{b:02d}-{u:02d}"
        start = NOW + timedelta(minutes=10 * b, seconds=20 * u)
        download = f"{user}-dl"
        events.append(make_event(download, start, "dataset.download", user=user, classification="core"))
        expected.add(alert_id(CORE_DOWNLOAD, [download]))
        fails = [f"{user}-f{i}" for i in range(3)]
        for i, event_id in enumerate(fails):
            at = start + timedelta(seconds=1 + i)
            events.append(make_event(event_id, at, "user.login", user=user, outcome="failure"))
        expected.add(alert_id(FAILED_LOGINS, fails))
        events.append(make_event(f"{user}-q", start + timedelta(seconds=5), "dataset.query", user=user))
    return events, expected


def _start(config: StreamConfig, log: Path) -> subprocess.Popen[bytes]:
    repo = Path(__file__).resolve().parents[3]
    env = {**os.environ, "FLINK_LOG_DIR": str(log.parent / "flink-log")}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "detection.stream.job", config.to_json()],
            cwd=repo,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the JVM dies with it
        )


@pytest.mark.slow
def test_kill_and_restore_gives_every_alert_exactly_once(tmp_path: Path) -> None:
    platform = open_platform(tmp_path, checkpoint_interval_ms=400, allowed_lateness_ms=2_000)
    spool, config = platform.spool, platform.config
    platform.rules.write(put=rule_texts("core_download.yml", "failed_login.yml"))
    expected: set[str] = set()
    batches = [_batch(b) for b in range(BATCHES)]
    log = tmp_path / "job.log"
    job = _start(config, log)
    try:
        for events, wanted in batches[:6]:
            platform.feed(events)  # one file each, several per directory scan: read in no fixed order
            expected |= wanted
        platform.wait_for("the first alerts", lambda: len(platform.alerts()) >= 2 * USERS_PER_BATCH)
        for events, wanted in batches[6 : BATCHES // 2]:
            platform.feed(events)  # no pause: these are in flight when the process dies
            expected |= wanted
        os.killpg(job.pid, signal.SIGKILL)  # batches still in flight
        job.wait()
        committed_before = len(platform.alerts())
        assert 0 < committed_before < len(expected)  # the kill came mid-stream
        # The backlog that piles up while the job is down: many files, all found by the first scan.
        for events, wanted in batches[BATCHES // 2 :]:
            platform.feed(events)
            expected |= wanted
        restored = StreamConfig.from_json(
            json.dumps(
                {
                    **json.loads(config.to_json()),
                    "restore_from": str(latest_checkpoint(Path(config.checkpoint_dir))),
                }
            )
        )
        job = _start(restored, log)
        platform.wait_for(
            f"all {len(expected)} alerts", lambda: len(platform.alerts()) >= len(expected), timeout=120
        )
        time.sleep(2.0)  # a few more checkpoints: anything duplicated would arrive now
        ids = [json.loads(r.payload)["alert.id"] for r in spool.read(ALERTS, 0, 1_000_000)]
        spool_end = spool.range(EVENTS).end
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait()
        spool.close()
    assert platform.committer.total.duplicates == 0
    assert platform.committer.total.invalid == 0
    assert len(ids) == len(set(ids))
    assert set(ids) == expected
    # Every batch marker came through too: the job evaluated the whole events topic, in chain order.
    assert platform.committer.progress.position == spool_end
