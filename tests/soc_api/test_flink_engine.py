"""The Flink engine (the default) behind `datasoc demo` and `datasoc run`: three job start-ups in all.

`datasoc demo` runs once for the module (in this process, so a gateway JVM already started by the
stream tests is reused); its alerts are checked against the ground truth and against the in-process
engine over the same events (one source of truth for alerts: the same detections carry the same ids).
`datasoc run` runs as a process twice over one data directory: the second start resumes the job from
the checkpoint the first one retained.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from collectors.inputs.tokens import hash_token, new_token
from datasoc.alert import Alert
from datasoc.event import Event
from datasoc.settings import load_settings
from datasoc.transport import ALERTS, EVENTS, Spool
from soc_api.cli import cli
from soc_api.detector import decode_alert
from soc_api.platform import load_detector
from tests.soc_api.datasoc_run import spawn_run

WAIT_SECONDS = 120.0

pytestmark = pytest.mark.slow


def read_all(spool: Spool, topic: str) -> list[bytes]:
    payloads: list[bytes] = []
    offset = spool.range(topic).start
    while records := spool.read(topic, offset, 1000):
        payloads += [r.payload for r in records]
        offset = records[-1].offset + 1
    return payloads


@dataclass(frozen=True)
class DemoRun:
    """What `datasoc demo` left behind with the Flink engine."""

    output: str
    data_dir: Path
    alerts: dict[str, Alert]  # committed alerts by id
    events: list[tuple[int, Event]]  # the spool's events with their offsets

    def truth(self) -> dict[str, Any]:
        path = self.data_dir / "demo" / "seed-7" / "ground_truth.json"
        return dict(json.loads(path.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    data_dir = tmp_path_factory.mktemp("flink-demo")
    result = CliRunner().invoke(
        cli,
        ["demo", "--data-dir", str(data_dir), "--start", "2026-03-02", "--seed", "7"],
        catch_exceptions=False,
        # The default engine; FLINK_LOG_DIR as the demo sets it is put back afterwards.
        env={
            "DATASOC_DETECTION__ENGINE": None,
            "FLINK_LOG_DIR": None,
            "DATASOC_STORE__RETENTION_DAYS": "3650",
            "DATASOC_COLLECT__HTTP_PORT": "0",
            "DATASOC_API__PORT": "0",
        },
    )
    assert result.exit_code == 0, result.output
    with Spool.open(data_dir / "spool") as spool:
        alerts = {a.alert_id: a for a in map(decode_alert, read_all(spool, ALERTS))}
        offset = spool.range(EVENTS).start
        events: list[tuple[int, Event]] = []
        while records := spool.read(EVENTS, offset, 1000):
            events += [(r.offset, Event.from_dict(json.loads(r.payload))) for r in records]
            offset = records[-1].offset + 1
    return DemoRun(result.output, data_dir, alerts, events)


def in_process_alerts(run: DemoRun) -> dict[str, Alert]:
    """The in-process engine (same settings, same rule pack) over the events the job saw, then flushed."""
    detector = load_detector(load_settings(None, {"DATASOC_DATA_DIR": str(run.data_dir)}))
    alerts: dict[str, Alert] = {}
    for offset, event in run.events:
        alerts.update((a.alert_id, a) for a in detector.alerts_for(offset, event.to_dict()))
    alerts.update((a.alert_id, a) for a in detector.flush())
    return alerts


def catchers(run: DemoRun, alerts: dict[str, Alert]) -> dict[str, set[str]]:
    """Incident id -> ids of the rules whose alerts carry one of its evidence lines."""
    found: dict[str, set[str]] = {}
    for incident in run.truth()["incidents"]:
        lines: list[str] = []
        for evidence in incident["evidence"]:
            text = (run.data_dir / "demo" / "seed-7" / evidence["file"]).read_text(encoding="utf-8")
            lines += [text.splitlines()[n - 1] for n in evidence["lines"]]
        found[incident["id"]] = {
            alert.rule_id
            for alert in alerts.values()
            if any(str(e.get("log.original", "")).startswith(tuple(lines)) for e in alert.events)
        }
    return found


def test_demo_with_the_flink_job_finds_every_incident(demo_run: DemoRun) -> None:
    assert "detection (检测): Flink job (embedded MiniCluster), " in demo_run.output
    evaluated = re.search(r"Flink job \(embedded MiniCluster\), (\d+) events evaluated", demo_run.output)
    assert evaluated is not None
    assert int(evaluated.group(1)) == len(demo_run.events)  # the job evaluated every event
    caught = catchers(demo_run, demo_run.alerts)
    assert len(caught) == 8
    assert all(caught.values()), {k: v for k, v in caught.items() if not v}
    assert f"alerts (告警): {len(demo_run.alerts)} — 红 red" in demo_run.output


def test_in_process_engine_and_flink_job_give_the_same_alert_ids(demo_run: DemoRun) -> None:
    # Every rule of the pack runs in the job (a refused one would be named by the demo).
    assert "rule not running" not in demo_run.output
    in_process = in_process_alerts(demo_run)
    flink = demo_run.alerts
    # Same detections, same ids: one loop (detection.loop) and alert builder for both engines.
    assert set(flink) == set(in_process)
    for alert_id, alert in flink.items():
        other = in_process[alert_id]
        assert (alert.rule_id, alert.event_ids, alert.warning_level, alert.count) == (
            other.rule_id,
            other.event_ids,
            other.warning_level,
            other.count,
        )
    assert catchers(demo_run, flink) == catchers(demo_run, in_process)


# -- datasoc run as a process ------------------------------------------------------------------------


def audit_off(event_id: str) -> dict[str, object]:
    """An event the pack alerts on by itself (Auditing switched off, critical)."""
    return {
        "@timestamp": "2026-11-28T02:13:00Z",
        "event.id": event_id,
        "event.action": "audit.disable",
        "event.outcome": "success",
        "observer.collector": "gateway",
        "log.original": f"auditctl -e 0 ({event_id})",
        "user.name": "gaojun",
    }


def query(i: int) -> dict[str, object]:
    return {
        "@timestamp": "2026-11-28T02:14:00Z",
        "event.id": f"q-{i}",
        "event.action": "dataset.query",
        "event.outcome": "success",
        "observer.collector": "gateway",
        "log.original": f"GET /api/v1/datasets/ds-1 #{i}",
        "user.name": "lisi",
    }


@dataclass
class RunProcess:
    proc: subprocess.Popen[bytes]
    url: str
    token: str

    def ingest(self, events: list[dict[str, object]]) -> None:
        body = "\n".join(json.dumps(e) for e in events).encode()
        answer = httpx.post(
            self.url, content=body, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == len(events)

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        _out, err = self.proc.communicate(timeout=90)
        assert self.proc.returncode == 0, err.decode()[-3000:]
        return err.decode()


def start_run(data_dir: Path, token: str) -> RunProcess:
    extra = {
        "DATASOC_LOG__LEVEL": "info",
        "DATASOC_LOG__FORMAT": "json",
        "DATASOC_DETECTION__CHECKPOINT_INTERVAL_MS": "300",
        # Thread mode's embedded interpreter finds its standard library through PATH (a PATH without
        # the venv's base Python fails every Python operator with "No module named '_struct'").
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    proc, url = spawn_run(data_dir, extra, interval=0.2)
    return RunProcess(proc, url, token)


def wait_for_progress(data_dir: Path, offset: int) -> None:
    """Until the job has evaluated every event before `offset` and its alerts are committed."""
    path = data_dir / "stream" / "progress.json"
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if path.exists() and (json.loads(path.read_text()).get("position") or 0) >= offset:
            return
        time.sleep(0.2)
    raise AssertionError(f"the job did not reach offset {offset} within {WAIT_SECONDS} s")


def log_records(stderr: str, event: str) -> list[dict[str, Any]]:
    found = []
    for line in stderr.splitlines():
        if line.startswith("{") and f'"{event}"' in line:
            found.append(json.loads(line))
    return found


@pytest.fixture
def run_dir(tmp_path: Path) -> tuple[Path, str]:
    token = new_token()
    (tmp_path / "tokens.json").write_text(
        json.dumps({hash_token(token): {"source": "gateway", "parser": None}}), encoding="utf-8"
    )
    return tmp_path, token


def test_run_commits_job_alerts_and_resumes_from_the_checkpoint(run_dir: tuple[Path, str]) -> None:
    data_dir, token = run_dir
    run = start_run(data_dir, token)
    try:
        run.ingest([query(i) for i in range(10)] + [audit_off("off-1")])
        wait_for_progress(data_dir, 11)
    finally:
        first_log = run.stop()
    with Spool.open(data_dir / "spool") as spool:
        alerts = [decode_alert(p) for p in read_all(spool, ALERTS)]
    assert [(a.rule_title, a.event_ids) for a in alerts] == [
        ("管理员关闭审计 / Auditing switched off", ("off-1",))
    ]
    (started,) = log_records(first_log, "detection_job_started")
    assert started["restored_from"] is None
    assert started["jobmanager"] == "embedded"
    assert log_records(first_log, "detection_job_stopped")
    # The gateway JVM logged into the data directory, not into site-packages.
    assert list((data_dir / "stream" / "log").glob("flink-*.log"))

    run = start_run(data_dir, token)  # a restart: the job resumes from its retained checkpoint
    try:
        run.ingest([audit_off("off-2")])
        wait_for_progress(data_dir, 12)
    finally:
        second_log = run.stop()
    (resumed,) = log_records(second_log, "detection_job_started")
    assert re.search(r"chk-\d+$", str(resumed["restored_from"])), resumed
    with Spool.open(data_dir / "spool") as spool:
        ids = [a.event_ids for a in map(decode_alert, read_all(spool, ALERTS))]
    assert ids == [("off-1",), ("off-2",)]  # the first alert is not raised again after the restore
