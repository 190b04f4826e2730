"""A multi-process topology on this machine: two `datasoc collect` processes (HTTP ingest only,
each with a data directory of its own) produce to one Kafka broker; one `datasoc run` indexes,
traces and runs detection as the Kafka job on the standalone cluster (JobManager and two
TaskManagers, parallelism 2). Every acknowledged event of either collector is in the store once,
every alert of the marker rule is on the alerts topic once, and the platform, having submitted the
job, cancels it when it stops."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.ingest import write_tokens
from services import Server
from soc_api.stream.cluster_job import STATE_FILE
from soc_api.stream.kafka_cluster import ClusterJobError, cancel_job, job_state
from tests.soc_api.api.test_durability import TOKEN
from tests.soc_api.datasoc_run import REPO, spawn_run
from tests.soc_api.test_platform_kafka_cluster import (
    MARKER_ID,
    PacedLoad,
    _alerts,
    _detected,
    _detection_running,
    cluster_platform_env,
)
from tests.soc_api.test_platform_kafka_faults import _indexed, _stored, _topic_ids, _wait

DATASOC = str(Path(sys.executable).with_name("datasoc"))


def _collector(data: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """`datasoc collect` over `data` (HTTP on a free port), once it says it is ready, and its port."""
    data.mkdir()
    tokens = write_tokens(data / "tokens.json", {TOKEN: {"source": "load", "parser": None}})
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("datasoc")),
            "collect",
            "--http-port",
            "0",
            "--tokens",
            str(tokens),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**env, "DATASOC_DATA_DIR": str(data)},
        cwd=REPO,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        _out, err = proc.communicate(timeout=30)
        raise AssertionError(f"datasoc collect exited before ready: {err.decode()[-3000:]}")
    return proc, int(json.loads(line)["ready"]["http"][1])


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_two_collectors_one_platform_and_the_cluster_job_store_and_alert_everything_once(
    kafka_server: Server, flink_server: Server, tmp_path: Path
) -> None:
    data = tmp_path / "platform"
    env = cluster_platform_env(tmp_path, data, kafka_server, flink_server)
    prefix = env["DATASOC_TRANSPORT__TOPIC_PREFIX"]
    loads = [PacedLoad(name="a"), PacedLoad(name="b")]
    collectors: list[subprocess.Popen[bytes]] = []
    log = tmp_path / "run.log"
    platform, url = spawn_run(data, env, interval=0.2, log=log)
    job = json.loads((data / "stream" / STATE_FILE).read_text())["job_id"]
    try:
        readyz = url.replace("/api/v1/ingest", "/readyz")
        for name, load in zip(("collector-a", "collector-b"), loads, strict=True):
            proc, load.port = _collector(tmp_path / name, env)
            collectors.append(proc)
            for thread in load.threads:
                thread.start()
        _wait(lambda: _detection_running(readyz), "the job running and checkpointing", 400)
        _wait(lambda: all(load.acked_count() >= 1500 for load in loads), "1500 events through each", 300)
        for load in loads:
            load.stop.set()
            for thread in load.threads:
                thread.join(timeout=30)
        _wait(lambda: _indexed(kafka_server, prefix), "the indexer caught up", 300)
        _wait(lambda: _detected(kafka_server, prefix), "the job caught up", 300)
        time.sleep(5)  # a few more checkpoints: nothing more (no duplicate) may come
        assert job_state(flink_server.address, job) == "RUNNING"
        platform.send_signal(signal.SIGTERM)
        platform.communicate(timeout=120)
        assert platform.returncode == 0, log.read_text(errors="replace")[-3000:]
        # The platform submitted the job: it cancelled it when it stopped, and waited for the end.
        assert job_state(flink_server.address, job) == "CANCELED"
    finally:
        print(log.read_text(errors="replace")[-6000:])  # shown when the test fails
        for load in loads:
            load.stop.set()
        for proc in (*collectors, platform):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.communicate(timeout=60)
        with contextlib.suppress(ClusterJobError):  # the cluster down already: the fixture stops it
            cancel_job(flink_server.address, job)
    acked = loads[0].acked | loads[1].acked
    ids = _topic_ids(kafka_server, prefix)
    present = set(ids)
    assert len(ids) == len(present), f"{len(ids) - len(present)} events are on the broker twice"
    assert acked <= present, f"{len(acked - present)} acknowledged events are not on the broker"
    assert {i[0] for i in acked} == {"a", "b"}  # both collectors delivered
    count, missing = _stored(data / "events.sqlite3", present)
    assert not missing, f"{len(missing)} events on the broker are not in the store"
    assert count == len(present)
    alerts = [a for a in _alerts(kafka_server, prefix) if a["rule.id"] == MARKER_ID]
    alerted = [e for a in alerts for e in a["event_ids"]]
    assert len(alerted) == len(set(alerted)), "an event alerted twice"
    assert set(alerted) == {i for i in present if i.endswith("0")}
