"""`datasoc run` on Kafka with the detection job on the standalone Flink cluster, killed in turn.

The platform submits the Kafka job itself (`detection.jobmanager` with `transport.backend =
"kafka"`) and watches it. Under HTTP ingest: the Flink cluster is SIGKILLed (JobManager and both
TaskManagers) and started again, and `/readyz` says so until the platform has resubmitted the job
from its last checkpoint; then the broker is SIGKILLed and started again; then the platform, whose
successor adopts the running job instead of submitting a second one (and leaves it running when it
stops, as it did not submit it). Afterwards every acknowledged event is in the store once and
every alert of the marker rule (one per event whose id ends in 0) is on the alerts topic once.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from benchmarks.ingest import make_event, write_tokens
from datasoc.transport import ALERTS, EVENTS, KafkaConfig, KafkaTransport
from services import Server
from services.flink import Flink
from soc_api.stream.cluster_job import GROUP, STATE_FILE
from soc_api.stream.kafka_cluster import ClusterJobError, cancel_job, job_state
from tests.soc_api.api.test_durability import TOKEN
from tests.soc_api.datasoc_run import spawn_run
from tests.soc_api.test_platform_kafka import kafka_env
from tests.soc_api.test_platform_kafka_faults import _indexed, _stored, _topic_ids, _wait

MARKER_RULE = """\
title: Marker / 标记
id: 0f6c2b9e-5d0e-4c1b-9a52-6f1d2b7c8e01
status: test
logsource:
    product: datasoc
detection:
    selection:
        event.id|endswith: '0'
    condition: selection
level: low
"""
MARKER_ID = "0f6c2b9e-5d0e-4c1b-9a52-6f1d2b7c8e01"


class PacedLoad:
    """Clients posting fresh events at a steady pace to whatever port is current, never resending
    (the unpaced `Load` outruns the consumers on a shared 2-core machine by hundreds of thousands)."""

    def __init__(self, clients: int = 2, per_request: int = 50, pause: float = 0.25, name: str = "c") -> None:
        self.port = 0
        self.name = name
        self.acked: set[str] = set()
        self.sent: set[str] = set()
        self.errors = 0
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self._per_request = per_request
        self._pause = pause
        self.threads = [threading.Thread(target=self._work, args=(i,)) for i in range(clients)]

    def _work(self, client: int) -> None:
        with httpx.Client(timeout=10) as http:
            for sequence in itertools.count(0, self._per_request):
                if self.stop.is_set():
                    return
                ids = [f"{self.name}{client}-{sequence + i:07d}" for i in range(self._per_request)]
                body = b"\n".join(
                    make_event(0, 400, prefix="x").replace(b"x-000000000000", i.encode()) for i in ids
                )
                with self.lock:
                    self.sent.update(ids)
                try:
                    answer = http.post(
                        f"http://127.0.0.1:{self.port}/api/v1/ingest",
                        content=body,
                        headers={"Authorization": f"Bearer {TOKEN}"},
                    )
                except httpx.HTTPError:
                    with self.lock:
                        self.errors += 1
                    time.sleep(0.05)
                    continue
                if answer.status_code == 200 and answer.json()["accepted"] == len(ids):
                    with self.lock:
                        self.acked.update(ids)
                time.sleep(self._pause)

    def acked_count(self) -> int:
        with self.lock:
            return len(self.acked)


def _ready(url: str) -> dict[str, Any] | None:
    """The body of `/readyz`, None when the process does not answer."""
    try:
        return dict(httpx.get(url, timeout=5).json())
    except (httpx.HTTPError, ValueError):
        return None


def _detection_running(url: str) -> bool:
    """The detection step's last round succeeded: the job RUNNING and checkpointing (its lag is
    not asked: the consumers may trail the load)."""
    body = _ready(url)
    steps = {step["name"]: step for step in body["steps"]} if body is not None else {}
    return "detection" in steps and steps["detection"]["state"] == "running"


def _saved(data: Path) -> tuple[str, str | None]:
    """The job id and newest checkpoint the platform keeps in `data_dir/stream`."""
    found = json.loads((data / "stream" / STATE_FILE).read_text(encoding="utf-8"))
    return str(found["job_id"]), found["latest_checkpoint"]


def _detection_problem(url: str) -> bool:
    body = _ready(url)
    return body is not None and any(p.startswith("detection:") for p in body["problems"])


def _alerts(kafka: Server, prefix: str) -> list[dict[str, Any]]:
    config = KafkaConfig(bootstrap=kafka.address, topic_prefix=prefix, group_prefix=prefix)
    with KafkaTransport(config) as transport:
        end, found, at = transport.range(ALERTS).end, [], transport.range(ALERTS).start
        while at < end:
            records = transport.read(ALERTS, at, 5000)
            if not records:
                break
            found.extend(orjson.loads(r.payload) for r in records)
            at = records[-1].offset + 1
        return found


def _detected(kafka: Server, prefix: str) -> bool:
    config = KafkaConfig(bootstrap=kafka.address, topic_prefix=prefix, group_prefix=prefix)
    with KafkaTransport(config) as transport:
        return transport.consumer_offsets(EVENTS).get(GROUP) == transport.range(EVENTS).end


def cluster_platform_env(
    tmp_path: Path, data: Path, kafka: Server, flink: Server, **extra: str
) -> dict[str, str]:
    """Fresh TaskManagers, the marker rule, an ingest token under `data`, and the environment of a
    `datasoc run` on Kafka with the detection job on the cluster at parallelism 2."""
    assert isinstance(flink, Flink)
    # PyFlink's thread mode runs one Python job per TaskManager JVM: fresh TaskManagers for ours.
    flink.stop()
    flink.start()
    flink.wait_ready()
    data.mkdir()
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "marker.yml").write_text(MARKER_RULE, encoding="utf-8")
    config = tmp_path / "datasoc.toml"
    config.write_text(f"[detection]\nrules = [{json.dumps(str(tmp_path / 'rules'))}]\n", encoding="utf-8")
    write_tokens(data / "tokens.json", {TOKEN: {"source": "load", "parser": None}})
    return kafka_env(
        data,
        kafka,
        DATASOC_CONFIG=str(config),
        DATASOC_DETECTION__ENGINE="flink",
        DATASOC_DETECTION__JOBMANAGER=flink.address,
        DATASOC_DETECTION__PARALLELISM="2",
        DATASOC_DETECTION__CHECKPOINT_INTERVAL_MS="1000",
        DATASOC_ALERTING__ENABLED="false",
        DATASOC_LOG__LEVEL="warning",
        PATH="/usr/bin:/bin",
        **flink.client_environment(),
        **extra,
    )


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_cluster_broker_and_platform_killed_in_turn_lose_and_duplicate_nothing(
    own_kafka: Server, flink_server: Server, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = cluster_platform_env(
        tmp_path,
        data,
        own_kafka,
        flink_server,
        DATASOC_TRANSPORT__DELIVERY_TIMEOUT_SECONDS="3",
        DATASOC_TRANSPORT__REQUEST_TIMEOUT_SECONDS="3",
    )
    prefix = env["DATASOC_TRANSPORT__TOPIC_PREFIX"]
    load = PacedLoad()
    job_ids: list[str] = []
    log = tmp_path / "run.log"
    first, url = spawn_run(data, env, interval=0.2, log=log)
    second = None
    try:
        readyz = url.replace("/api/v1/ingest", "/readyz")
        job_ids.append(_saved(data)[0])
        load.port = int(url.split(":")[2].split("/")[0])
        for thread in load.threads:
            thread.start()
        _wait(lambda: _detection_running(readyz), "ready with the job running and checkpointing", 400)
        _wait(lambda: load.acked_count() >= 2000, "2000 events acknowledged")
        _wait(lambda: _saved(data)[1] is not None, "a checkpoint completed and known to the platform", 300)

        # 1. The whole cluster SIGKILLed: the platform reports it, then resubmits from the checkpoint.
        flink_server.kill()
        _wait(lambda: _detection_problem(readyz), "/readyz names the detection job", 60)
        flink_server.start()
        flink_server.wait_ready()
        _wait(lambda: _detection_running(readyz), "ready again with the resubmitted job", 600)
        resubmitted, _ = _saved(data)
        job_ids.append(resubmitted)
        # Restored from the killed job's checkpoint (not started over without state).
        restored = httpx.get(f"http://{flink_server.address}/jobs/{resubmitted}/checkpoints").json()
        assert f"/{job_ids[0]}/chk-" in restored["latest"]["restored"]["external_path"]
        assert resubmitted != job_ids[0]
        assert job_state(flink_server.address, resubmitted) == "RUNNING"

        # 2. The broker SIGKILLed and back.
        acked = load.acked_count()
        own_kafka.kill()
        time.sleep(10)
        own_kafka.start()
        own_kafka.wait_ready()
        _wait(lambda: load.acked_count() >= acked + 2000, "2000 more after the broker returned", 300)

        # 3. The platform SIGKILLed; the next one adopts the running job.
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        acked = load.acked_count()
        second, url = spawn_run(data, env, interval=0.2, log=log)
        readyz = url.replace("/api/v1/ingest", "/readyz")
        load.port = int(url.split(":")[2].split("/")[0])
        assert _saved(data)[0] == resubmitted
        _wait(lambda: load.acked_count() >= acked + 2000, "2000 more after the platform restarted", 300)
        _wait(lambda: _detection_running(readyz), "ready with the adopted job", 300)
        load.stop.set()
        for thread in load.threads:
            thread.join(timeout=30)
        _wait(lambda: _indexed(own_kafka, prefix), "the indexer caught up", 300)
        _wait(lambda: _detected(own_kafka, prefix), "the job caught up", 300)
        time.sleep(5)  # a few more checkpoints: nothing more (no duplicate) may come
        second.send_signal(signal.SIGTERM)
        second.communicate(timeout=120)
        assert second.returncode == 0, log.read_text(errors="replace")[-3000:]
        # Adopted, not submitted by this process: left running.
        assert job_state(flink_server.address, resubmitted) == "RUNNING"
    finally:
        print(log.read_text(errors="replace")[-6000:])  # shown when the test fails
        load.stop.set()
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate(timeout=30)
        for job in job_ids:
            with contextlib.suppress(ClusterJobError):  # the cluster down already: the fixture stops it
                cancel_job(flink_server.address, job)
    assert load.errors >= 1, "the kills should have cut at least one request"
    ids = _topic_ids(own_kafka, prefix)
    present = set(ids)
    assert len(ids) == len(present), f"{len(ids) - len(present)} events are on the broker twice"
    assert load.acked <= present, f"{len(load.acked - present)} acknowledged events are not on the broker"
    count, missing = _stored(data / "events.sqlite3", present)
    assert not missing, f"{len(missing)} events on the broker are not in the store"
    assert count == len(present)
    alerts = [a for a in _alerts(own_kafka, prefix) if a["rule.id"] == MARKER_ID]
    alert_ids = [a["alert.id"] for a in alerts]
    assert len(alert_ids) == len(set(alert_ids)), f"{len(alert_ids) - len(set(alert_ids))} alerts twice"
    alerted = [e for a in alerts for e in a["event_ids"]]
    expected = {i for i in present if i.endswith("0")}
    assert len(alerted) == len(set(alerted)), "an event alerted twice"
    assert set(alerted) == expected, (
        f"{len(expected - set(alerted))} events without their alert, {len(set(alerted) - expected)} extra"
    )
